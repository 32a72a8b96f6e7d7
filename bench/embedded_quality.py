"""How well the embedded model searches: valid-proposal rate, children that fail at run time
(error or timeout), model answers that change nothing, and improvement over the initial
program, per seed, on a bundled problem. Runs the real CLI; takes minutes.

    python bench/embedded_quality.py --problem function_minimization --iterations 50 --seeds 0 1 2
    python bench/embedded_quality.py --extra=--set --extra=llm.repair=true   # any run flags
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evolve.store.store import Store, resolve_db_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--problem", default="function_minimization")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--extra", action="append", default=[], help="a flag for evolve run (repeatable)"
    )
    parser.add_argument("--keep", type=Path, default=None, help="keep the databases here")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for seed in args.seeds:
            db = folder / f"seed{seed}.db"
            db.unlink(missing_ok=True)
            started = time.monotonic()
            # The CLI of the interpreter running this script, not whatever `evolve` is on PATH.
            cmd = [
                sys.executable,
                "-m",
                "evolve",
                "run",
                args.problem,
                "--iterations",
                str(args.iterations),
                "--seed",
                str(seed),
                "--db",
                str(db),
                "--json",
                *args.extra,
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                sys.exit(f"seed {seed}: evolve run failed: {out.stderr.strip()[-500:]}")
            summary = json.loads(out.stdout)
            store = Store(resolve_db_url(str(db)))
            programs = store.programs(summary["run_id"])
            initial = programs[0]
            children = [p for p in programs if p.iteration > 0]
            valid = sum(1 for p in children if p.status.value == "ok")
            statuses: dict[str, int] = {}
            for p in children:
                statuses[p.status.value] = statuses.get(p.status.value, 0) + 1
            maximize = store.run(summary["run_id"]).config["evaluator"]["direction"] == "maximize"
            best = summary["best"]["score"]
            improved = best > initial.score if maximize else best < initial.score
            row = {
                "seed": seed,
                "proposals": len(children),
                "valid": valid,
                "valid_rate": valid / max(1, len(children)),
                "statuses": statuses,
                "initial": initial.score,
                "best": best,
                "improved": improved,
                "llm_calls": len(store.llm_calls(summary["run_id"])),
                "seconds": round(time.monotonic() - started, 1),
                "time_split": summary["time_split"],
            }
            calls = store.llm_calls(summary["run_id"])
            answered = [c for c in calls if not c.fault]
            row["answers"] = len(answered)
            row["unchanged"] = sum(1 for c in answered if "does not change" in c.outcome)
            row["runtime_failures"] = statuses.get("error", 0) + statuses.get("timeout", 0)
            rows.append(row)
            print(json.dumps(row), flush=True)
    total = sum(r["proposals"] for r in rows)
    valid = sum(r["valid"] for r in rows)
    improved = sum(r["improved"] for r in rows)
    print(f"\n{args.problem}, {args.iterations} iterations, seeds {args.seeds}:")
    print(f"valid proposals: {valid}/{total} = {100 * valid / max(1, total):.0f}%")
    print(f"best beats initial: {improved}/{len(rows)} seeds")
    failed = sum(r["runtime_failures"] for r in rows)
    print(
        f"failed at run time (error or timeout): {failed}/{total} = {100 * failed / max(1, total):.0f}%"
    )
    answers = sum(r["answers"] for r in rows)
    unchanged = sum(r["unchanged"] for r in rows)
    print(
        f"answers that change nothing: {unchanged}/{answers} = {100 * unchanged / max(1, answers):.0f}%"
    )
    bests = sorted(r["best"] for r in rows)
    print(f"median best: {bests[len(bests) // 2]:.6g}")
    for r in rows:
        s = r["time_split"]
        print(
            f"  seed {r['seed']}: {r['valid']}/{r['proposals']} valid, initial {r['initial']:.6g}"
            f" -> best {r['best']:.6g}; per candidate LLM {s['llm_seconds']:.2f}s, "
            f"evaluation {s['eval_seconds']:.2f}s, engine {s['engine_seconds']:.3f}s; "
            f"{r['seconds']}s"
        )


if __name__ == "__main__":
    main()
