"""What ``evolve bench`` prints and writes: a benchmark result (its runs, per problem and
seed), summarised per problem across seeds; as a table, JSON or Markdown; and two results
lined up problem by problem (``--compare``).

A result file is the JSON document ``document`` makes: ``{"evolve_bench": 1, "iterations",
"seeds", "models", "runs": [RunMeasure.to_dict(), ...]}``.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evolve.benchmark.measure import RunMeasure
from evolve.errors import UserError

FORMAT = 1


@dataclass(frozen=True)
class Summary:
    """One problem's runs, across seeds."""

    problem: str
    metric: str
    direction: str
    runs: int
    best: float | None
    """The best of the runs' bests."""
    mean_best: float | None
    best_known: float | None
    gap: float | None
    """The best run's gap to the best known (negative: short of it)."""
    mean_gap: float | None
    valid_rate: float | None
    """Valid proposals over all proposals, all runs together."""
    calls_to_best: float | None
    """Mean over runs."""
    cost_to_best: float
    """Mean over runs, USD."""
    seconds: float
    """Total wall time."""
    initial: float | None


def summarize(runs: Sequence[RunMeasure]) -> list[Summary]:
    """One summary per problem, in the order the problems first appear."""
    by_problem: dict[str, list[RunMeasure]] = {}
    for r in runs:
        by_problem.setdefault(r.problem, []).append(r)
    out = []
    for problem, group in by_problem.items():
        first = group[0]
        maximize = first.direction == "maximize"
        bests = [r.best for r in group if r.best is not None]
        gaps = [r.gap for r in group if r.gap is not None]
        proposals = sum(r.proposals for r in group)
        top = (max if maximize else min)(bests) if bests else None
        out.append(
            Summary(
                problem=problem,
                metric=first.metric,
                direction=first.direction,
                runs=len(group),
                best=top,
                mean_best=statistics.fmean(bests) if bests else None,
                best_known=first.best_known,
                gap=max(gaps) if gaps else None,
                mean_gap=statistics.fmean(gaps) if gaps else None,
                valid_rate=sum(r.valid for r in group) / proposals if proposals else None,
                calls_to_best=statistics.fmean(r.calls_to_best for r in group),
                cost_to_best=statistics.fmean(r.cost_to_best for r in group),
                seconds=round(sum(r.seconds for r in group), 1),
                initial=first.initial,
            )
        )
    return out


# --- result files ----------------------------------------------------------------------------
def document(
    runs: Sequence[RunMeasure], iterations: int, seeds: Sequence[int], models: Sequence[str]
) -> dict[str, Any]:
    return {
        "evolve_bench": FORMAT,
        "iterations": iterations,
        "seeds": list(seeds),
        "models": list(models),
        "runs": [r.to_dict() for r in runs],
    }


def load(path: str) -> tuple[dict[str, Any], list[RunMeasure]]:
    """A result file written by ``evolve bench --save`` (or its ``--json`` output)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"--compare {path}: cannot read it: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"--compare {path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("evolve_bench") != FORMAT:
        raise UserError(
            f"--compare {path}: not an `evolve bench` result (write one with --save or --json)"
        )
    try:
        runs = [RunMeasure.from_dict(r) for r in data["runs"]]
    except (KeyError, TypeError) as exc:
        raise UserError(f"--compare {path}: a run in it is malformed ({exc})") from None
    return data, runs


# --- text ---------------------------------------------------------------------------------------
def fmt(value: float | None, digits: int = 6) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


COLUMNS = (
    "problem",
    "metric",
    "initial",
    "best",
    "best known",
    "gap",
    "valid",
    "calls to best",
    "USD to best",
    "time (s)",
)


def rows(summaries: Sequence[Summary]) -> list[list[str]]:
    """The table's rows, one per problem (values as text)."""
    return [
        [
            s.problem,
            f"{s.metric} ({'max' if s.direction == 'maximize' else 'min'})",
            fmt(s.initial),
            fmt(s.best, 10),
            fmt(s.best_known, 10),
            fmt(s.gap, 4),
            pct(s.valid_rate),
            fmt(s.calls_to_best, 3),
            f"{s.cost_to_best:.4f}",
            f"{s.seconds:.0f}",
        ]
        for s in summaries
    ]


def markdown(summaries: Sequence[Summary], heading: str = "") -> str:
    """The table as Markdown (with a heading line when given)."""
    lines = [f"{heading}\n" if heading else ""]
    lines.append("| " + " | ".join(COLUMNS) + " |")
    lines.append("|" + "---|" * len(COLUMNS))
    lines += ["| " + " | ".join(row) + " |" for row in rows(summaries)]
    return "\n".join(lines).lstrip("\n") + "\n"


COMPARE_COLUMNS = ("problem", "best A", "best B", "change", "valid A", "valid B", "runs A/B")


def compare(a: Sequence[RunMeasure], b: Sequence[RunMeasure]) -> list[list[str]]:
    """Two results lined up per problem: each one's best, the change from A to B in the
    problem's direction (positive: B is better), and the valid rates."""
    left = {s.problem: s for s in summarize(a)}
    right = {s.problem: s for s in summarize(b)}
    out = []
    for problem in [*left, *(p for p in right if p not in left)]:
        x, y = left.get(problem), right.get(problem)
        change = None
        if x is not None and y is not None and x.best is not None and y.best is not None:
            change = y.best - x.best if x.direction == "maximize" else x.best - y.best
        out.append(
            [
                problem,
                fmt(x.best if x else None, 10),
                fmt(y.best if y else None, 10),
                fmt(change, 4),
                pct(x.valid_rate if x else None),
                pct(y.valid_rate if y else None),
                f"{x.runs if x else 0}/{y.runs if y else 0}",
            ]
        )
    return out
