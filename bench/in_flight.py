"""How many LLM calls the engine keeps in flight: a loopback OpenAI-protocol server that
answers every call after a fixed latency, a run with ``max_in_flight`` proposals, and the
time-weighted mean number of calls the server was serving while the run went on.

    python bench/in_flight.py --in-flight 32 --latency 1.0 --iterations 320

The problem is deliberately cheap to evaluate (a constant to raise), so that what is
measured is the engine (drawing, prompting, applying diffs, committing to SQLite,
scheduling sandboxed evaluations), not the evaluator. The evaluations still run as real
sandboxed processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from loopback import Exchange, serve

from evolve.evaluation.executor import ProcessExecutor
from evolve.llm.ensemble import build_ensemble
from evolve.problem import load_problem
from evolve.search.runner import Runner
from evolve.store.store import Store, resolve_db_url

PROGRAM = """# EVOLVE-BLOCK-START
N = 1
# EVOLVE-BLOCK-END
"""

EVALUATOR = """import re


def evaluate(program_path):
    text = open(program_path).read()
    return {"score": float(re.search(r"N = (\\d+)", text).group(1))}
"""

_N = re.compile(r"N = (\d+)")


def answer(req: Exchange) -> str:
    n = int(_N.findall(req.prompt)[-1])
    seed = int(req.body.get("seed") or 0)
    return f"<<<<<<< SEARCH\nN = {n}\n=======\nN = {n + 1 + seed % 100000}\n>>>>>>> REPLACE\n"


def problem_file(folder: Path, url: str, args: argparse.Namespace) -> Path:
    (folder / "program.py").write_text(PROGRAM)
    (folder / "evaluator.py").write_text(EVALUATOR)
    toml = f"""name = "in_flight_bench"
initial_program = "program.py"

[evaluator]
path = "evaluator.py"

[sandbox]
timeout = 30.0

[search]
islands = 4
max_in_flight = {args.in_flight}
iterations = {args.iterations}

[llm]
attempts = 1
timeout = 60.0

[[llm.models]]
name = "openai/bench"
base_url = "{url}/v1"
"""
    path = folder / "problem.toml"
    path.write_text(toml)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--iterations", type=int, default=320)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, serve(answer, latency=args.latency) as server:
        folder = Path(tmp)
        problem = load_problem(str(problem_file(folder, server.url, args)))
        store = Store(resolve_db_url(str(folder / "bench.db")))
        run_id = store.create_run(problem.name, str(problem.file), {}, 0)
        executor = ProcessExecutor(problem.evaluator, problem.config.sandbox, "score", "python")
        runner = Runner(problem, store, executor, build_ensemble(problem.config.llm), run_id)
        started = time.monotonic()
        finished = asyncio.run(runner.run())
        ended = time.monotonic()
        calls = [r for r in server.requests]
        # The steady state: from the first call's start to the last call's start.
        first, last = calls[0].started, calls[-1].started
        programs = store.programs(run_id)
    result = {
        "in_flight_setting": args.in_flight,
        "latency_s": args.latency,
        "iterations": len(programs) - 1,
        "status": finished.status,
        "valid": sum(p.status.value == "ok" for p in programs[1:]),
        "wall_s": round(ended - started, 2),
        "mean_calls_in_flight": round(server.mean_in_flight(first, last), 2),
        "max_calls_in_flight": server.max_in_flight,
        "candidates_per_s": round((len(programs) - 1) / (ended - started), 2),
        "mean_eval_s": round(sum(p.eval_seconds for p in programs[1:]) / len(programs[1:]), 3),
        "mean_llm_s": round(sum(p.llm_seconds for p in programs[1:]) / len(programs[1:]), 3),
        "mean_engine_s": round(sum(p.engine_seconds for p in programs[1:]) / len(programs[1:]), 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
