"""Does the engine keep its pace over a long run? A 100,000-candidate run with an instant
model and a trivial evaluator, timed from outside.

    python bench/hundred_k.py                      # 100,000 candidates (about half an hour)
    python bench/hundred_k.py --candidates 3000    # a quick check (about a minute)
    python bench/hundred_k.py --evaluator inline   # the engine alone (a few minutes)

The model is an in-process ``LLMClient`` that answers at once with a valid SEARCH/REPLACE
diff (raise the constant ``N``), so the model costs nothing and no HTTP is measured; the
evaluator reads ``N`` back as the score. By default evaluations run for real on the process
sandbox, 4 proposals in flight: the whole system, the engine sharing the machine's cores
with the evaluations' processes. ``--evaluator inline`` scores each program in the engine's
own process at once (an ``Executor`` that reads ``N`` back), so the engine is measured
alone: drawing, prompting, applying diffs, committing to SQLite, applying results to the
archive.

Figures, all read back from the run's database except memory:

- candidates/s over candidates 1,000-2,000 and over the last 1,000, from the candidates'
  commit times (``created_at``, in commit order), and their ratio (goal: at least 0.85);
- the median recorded ``engine_seconds`` (goal: at most 1 ms);
- the process's resident memory every ``--rss-every`` candidates (goal: flat once every
  island's population can be full, that is past ``islands x population_size`` candidates).

One JSON line on stdout; a human summary on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from evolve.core.records import Candidate
from evolve.core.status import Verdict
from evolve.evaluation.executor import Evaluation, Executor, build_executor
from evolve.events import CandidateDone
from evolve.llm.base import LLMRequest, LLMResponse, ModelKind
from evolve.llm.ensemble import Ensemble, build_ensemble
from evolve.problem import Problem, load_problem
from evolve.store.store import Store, resolve_db_url

RATIO_GOAL = 0.85
ENGINE_GOAL_S = 0.001
ISLANDS = 4
MODEL = "openai/instant"

PROGRAM = """# EVOLVE-BLOCK-START
N = 1
# EVOLVE-BLOCK-END
"""

EVALUATOR = """import re


def evaluate(program_path):
    text = open(program_path).read()
    return {"score": float(re.search(r"N = (\\d+)", text).group(1))}
"""

_CURRENT = re.compile(r"# Current program.*?```\w*\n(.*?)```", re.DOTALL)
_N = re.compile(r"N = (\d+)")


class InstantModel:
    """A chat model that answers every call at once: a diff raising the current ``N``
    by an amount drawn from the call's seed (so children rarely repeat)."""

    spec = MODEL
    kind = ModelKind.CHAT

    async def complete(self, request: LLMRequest) -> LLMResponse:
        current = _CURRENT.search(request.prompt)
        n = int(_N.findall(current.group(1) if current else request.prompt)[-1])
        step = 1 + (request.seed or 0) % 100_000
        text = f"<<<<<<< SEARCH\nN = {n}\n=======\nN = {n + step}\n>>>>>>> REPLACE\n"
        return LLMResponse(text, tokens_in=len(request.prompt) // 4, tokens_out=len(text) // 4)


class InlineEvaluator:
    """An ``Executor`` that scores a program in this process, at once: ``N`` read back."""

    async def evaluate(self, code: str) -> Evaluation:
        n = float(_N.findall(code)[-1])
        return Evaluation(Verdict.OK, n, {"score": n})


def write_problem(folder: Path, args: argparse.Namespace) -> Path:
    (folder / "program.py").write_text(PROGRAM)
    (folder / "evaluator.py").write_text(EVALUATOR)
    population = (
        f"population_size = {args.population_size}\n" if args.population_size is not None else ""
    )
    (folder / "problem.toml").write_text(
        f"""name = "hundred_k_bench"
initial_program = "program.py"

[evaluator]
path = "evaluator.py"

[sandbox]
backend = "process"
timeout = 30.0

[search]
islands = {ISLANDS}
max_in_flight = {args.in_flight}
iterations = {args.candidates}
{population}
[llm]
attempts = 1

[[llm.models]]
name = "{MODEL}"
price_in = 0.0
price_out = 0.0
"""
    )
    return folder / "problem.toml"


def rss_mb() -> float:
    """This process's resident memory, from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def drive(
    problem: Problem,
    store: Store,
    ensemble: Ensemble,
    run_id: str,
    listener: Callable[[object], None],
    evaluator: str = "sandbox",
) -> str:
    """Run the engine to the end; the run's final status. The one place the bench touches
    the engine's driver: switch the import here when it moves."""
    from evolve.search.runner import Runner as Engine

    executor: Executor = (
        InlineEvaluator() if evaluator == "inline" else build_executor(problem, backend="process")
    )
    finished = asyncio.run(Engine(problem, store, executor, ensemble, run_id, listener).run())
    return str(getattr(finished.status, "value", finished.status))


def rate(times: list[float], start: int, end: int) -> float:
    """Candidates per second between the ``start``-th and the ``end``-th commit."""
    return (end - start) / (times[end - 1] - times[start - 1])


def measure(children: list[Candidate], samples: dict[int, float], full_at: int) -> dict:
    times = sorted(c.created_at for c in children)
    count = len(times)
    early = rate(times, 1000, 2000)
    late = rate(times, count - 1000, count)
    engine = statistics.median(c.engine_seconds for c in children)
    after_full = {k: v for k, v in samples.items() if k >= full_at}
    growth = max(after_full.values()) - min(after_full.values()) if after_full else None
    return {
        "candidates": count,
        "valid": sum(c.ok for c in children),
        "rate_1000_2000": round(early, 2),
        "rate_last_1000": round(late, 2),
        "ratio": round(late / early, 3),
        "ratio_goal": RATIO_GOAL,
        "median_engine_ms": round(engine * 1000, 3),
        "engine_goal_ms": ENGINE_GOAL_S * 1000,
        "rss_mb": {str(k): round(v, 1) for k, v in sorted(samples.items())},
        "populations_full_at": full_at,
        "rss_growth_after_full_mb": round(growth, 1) if growth is not None else None,
        "met": {
            "ratio": late / early >= RATIO_GOAL,
            "engine": engine <= ENGINE_GOAL_S,
        },
    }


def summary(result: dict) -> str:
    met = result["met"]
    lines = [
        f"{result['candidates']} candidates ({result['valid']} valid) in {result['wall_s']} s,"
        f" status {result['status']}, evaluator {result['evaluator']}",
        f"candidates/s: {result['rate_1000_2000']} over 1,000-2,000, {result['rate_last_1000']}"
        f" over the last 1,000: ratio {result['ratio']} (goal >= {RATIO_GOAL}:"
        f" {'met' if met['ratio'] else 'MISSED'})",
        f"median engine time: {result['median_engine_ms']} ms (goal <= 1 ms:"
        f" {'met' if met['engine'] else 'MISSED'})",
        "RSS (MB) by candidates: " + ", ".join(f"{k}: {v}" for k, v in result["rss_mb"].items()),
    ]
    if result["rss_growth_after_full_mb"] is not None:
        lines.append(
            f"RSS growth once populations can be full ({result['populations_full_at']}+"
            f" candidates): {result['rss_growth_after_full_mb']} MB"
        )
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--rss-every", type=int, default=5000)
    parser.add_argument(
        "--evaluator",
        choices=("sandbox", "inline"),
        default="sandbox",
        help="sandbox: the process sandbox (default); inline: in this process (the engine alone)",
    )
    parser.add_argument(
        "--population-size", type=int, default=None, help="search.population_size (default: its)"
    )
    args = parser.parse_args(argv)
    if args.candidates < 2000:
        parser.exit(
            2, "hundred_k.py: --candidates must be at least 2000 (the 1,000-2,000 window)\n"
        )
    if args.in_flight < 1 or args.rss_every < 1:
        parser.exit(2, "hundred_k.py: --in-flight and --rss-every must be at least 1\n")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    samples: dict[int, float] = {}
    done = 0

    def listen(event: object) -> None:
        # Count the events rather than trust their ``done``: every candidate sends one.
        nonlocal done
        if isinstance(event, CandidateDone):
            done += 1
            if done % args.rss_every == 0:
                samples[done] = rss_mb()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        problem = load_problem(str(write_problem(folder, args)))
        store = Store(resolve_db_url(str(folder / "bench.db")))
        run_id = store.create_run(problem.name, str(problem.file), {}, 0)
        ensemble = build_ensemble(problem.config.llm, clients={MODEL: InstantModel()})
        samples[0] = rss_mb()
        started = time.monotonic()
        status = drive(problem, store, ensemble, run_id, listen, args.evaluator)
        wall = time.monotonic() - started
        samples.setdefault(args.candidates, rss_mb())
        children = [c for c in store.programs(run_id) if c.iteration > 0]
        store.close()
    cap = problem.config.search.population_size
    result = {
        "status": status,
        "wall_s": round(wall, 1),
        "evaluator": args.evaluator,
        "in_flight": args.in_flight,
    }
    result |= measure(children, samples, ISLANDS * cap)
    print(summary(result), file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
