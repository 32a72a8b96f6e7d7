"""The README's first command, timed from outside: ``evolve run function_minimization
--iterations 20`` on the embedded model, with what the model was asked and answered.

    python bench/first_run.py                     # this checkout
    python bench/first_run.py --source /tmp/old   # another checkout of evolve (before/after)

Each run starts a fresh process on a new database (the model's first load included) and
reports the wall time, the LLM calls, their tokens in and out, and the best score; the
same seed must give the same candidates in every version that keeps determinism.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(source: Path, iterations: int, seed: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="evolve-first-run-") as scratch:
        db = Path(scratch) / "evolve.db"
        env = {**os.environ, "PYTHONPATH": str(source)}
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "evolve.cli.main",
                "run",
                "function_minimization",
                "--iterations",
                str(iterations),
                "--seed",
                str(seed),
                "--db",
                str(db),
                "--json",
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=scratch,
            check=False,
        )
        wall = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit(f"the run failed ({done.returncode}): {done.stderr[-2000:]}")
        result = json.loads(done.stdout)
        with sqlite3.connect(db) as conn:
            calls, tokens_in, tokens_out = conn.execute(
                "SELECT count(*), sum(tokens_in), sum(tokens_out) FROM llm_calls"
            ).fetchone()
            statuses = dict(conn.execute("SELECT status, count(*) FROM programs GROUP BY status"))
    return {
        "wall_s": round(wall, 1),
        "calls": calls,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "best": result["best"]["score"] if result.get("best") else None,
        "statuses": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    for _ in range(args.repeat):
        print(json.dumps(one_run(args.source.resolve(), args.iterations, args.seed)), flush=True)


if __name__ == "__main__":
    main()
