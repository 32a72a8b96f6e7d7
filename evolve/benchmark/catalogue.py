"""The problems a benchmark can name: every bundled problem with what its ``[benchmark]``
table says (best known, source, quoted metric, suites), and the resolution of the names
given to ``evolve bench`` (suites, bundled problems, problem folders or files)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evolve.core.objective import Objective
from evolve.errors import UserError
from evolve.problem import Problem, load_problem
from evolve.resources import bundled_problems


@dataclass(frozen=True)
class Entry:
    """One problem as a benchmark sees it."""

    name: str
    path: Path
    description: str
    objective: Objective
    metric: str
    """The metric quoted for a run's best candidate."""
    primary: str
    """The metric the search optimizes (the candidates' ``score``)."""
    best_known: float | None
    source: str
    suites: tuple[str, ...]

    @classmethod
    def of(cls, problem: Problem) -> Entry:
        config = problem.config
        bench = config.benchmark
        return cls(
            name=config.name,
            path=problem.file,
            description=config.description,
            objective=problem.objective,
            metric=bench.metric or config.evaluator.primary_metric,
            primary=config.evaluator.primary_metric,
            best_known=bench.best_known,
            source=bench.source,
            suites=tuple(bench.suites),
        )


def catalogue() -> list[Entry]:
    """Every bundled problem, by name."""
    return [Entry.of(load_problem(str(folder))) for folder in bundled_problems().values()]


def suites(entries: list[Entry]) -> dict[str, list[Entry]]:
    """Suite name -> its problems, in name order."""
    out: dict[str, list[Entry]] = {}
    for entry in entries:
        for suite in entry.suites:
            out.setdefault(suite, []).append(entry)
    return dict(sorted(out.items()))


def resolve(names: list[str]) -> list[Entry]:
    """The problems ``names`` stand for, each once, in the order given: a suite's problems,
    a bundled problem, or a problem.toml / its folder."""
    bundled = catalogue()
    by_name = {e.name: e for e in bundled}
    named_suites = suites(bundled)
    chosen: dict[Path, Entry] = {}
    for name in names:
        if name in named_suites:
            found = named_suites[name]
        elif name in by_name:
            found = [by_name[name]]
        elif Path(name).exists():
            found = [Entry.of(load_problem(name))]
        else:
            raise UserError(
                f"{name!r} is neither a suite ({', '.join(named_suites) or 'none'}), a bundled "
                "problem (see `evolve problems`) nor a problem folder or problem.toml"
            )
        for entry in found:
            chosen.setdefault(entry.path, entry)
    if not chosen:
        raise UserError("name a suite, a problem or a problem folder to benchmark")
    return list(chosen.values())
