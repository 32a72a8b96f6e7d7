"""How long `evolve ui` takes to serve its first view of a big run.

Builds (once) a database of one run with 100,000 programs and as many LLM calls, inserted
in bulk through the Store's tables, with a realistic shape: four islands, a lineage in
which parents are drawn from earlier good programs, 70% valid candidates, MAP-Elites cells,
a kilobyte or two of code and prompt per row. Then, several times, starts `evolve ui` as a
fresh process and measures the wall time from launching it until it has served the first
view: the page, its script and style, plotly.js, the run list and the latest run's view
(summary, best score over time, lineage tree, MAP-Elites grids, model statistics).

    python bench/ui_open.py                    # builds /tmp/evolve_ui_bench.db if missing
    python bench/ui_open.py --programs 20000 --db /tmp/small.db --repeat 5
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from sqlalchemy import insert

from evolve.problem import load_problem
from evolve.store.models import LLMCallRow, ProgramRow
from evolve.store.store import Store, resolve_db_url

BODY = """import numpy as np


# EVOLVE-BLOCK-START
def search(objective, bounds, rng):
    low, high = bounds
    best_x, best_y = rng.uniform(low, high), rng.uniform(low, high)
    best_value = objective(best_x, best_y)
    for _ in range({n}):
        x, y = rng.uniform(low, high), rng.uniform(low, high)
        value = objective(x, y)
        if value < best_value:
            best_x, best_y, best_value = x, y, value
    step = {step}
    for _ in range({m}):
        x = min(max(best_x + rng.normal(0, step), low), high)
        y = min(max(best_y + rng.normal(0, step), low), high)
        value = objective(x, y)
        if value < best_value:
            best_x, best_y, best_value = x, y, value
        step *= 0.99
    return best_x, best_y


# EVOLVE-BLOCK-END


def run(objective, bounds, seed):
    return search(objective, bounds, np.random.default_rng(seed))
"""

PROMPT = "You are improving a program. " * 40 + "\n# Current program\n```python\n{code}```\n"
MODELS = ("openai/gpt-4.1-mini", "anthropic/claude-sonnet-4-5", "openai/o4-mini")


def build(db: Path, programs: int, seed: int = 0) -> str:
    """A database with one run of ``programs`` programs; returns the run id."""
    rng = random.Random(seed)
    store = Store(resolve_db_url(str(db)))
    problem = load_problem("function_minimization", {"search.islands": 4})
    run_id = store.create_run(
        problem.name, str(problem.file), problem.config.model_dump(mode="json"), 0
    )
    programs_table, calls_table = ProgramRow.__table__, LLMCallRow.__table__
    good: list[tuple[str, float, int]] = []  # (id, score, generation) of valid programs
    now = time.time() - programs
    batch_p: list[dict] = []
    batch_c: list[dict] = []
    best = 3.0
    for k in range(programs):
        pid = uuid.uuid4().hex
        island = 0 if k == 0 else (k - 1) % 4
        if k == 0:
            parent, score, generation = None, 3.0, 0
        else:
            pool = sorted(good[-400:], key=lambda g: g[1])[:20]
            parent_id, parent_score, parent_gen = rng.choice(pool)
            parent, generation = parent_id, parent_gen + 1
            score = max(0.0, parent_score + rng.gauss(0.02, 0.1))
        roll = rng.random()
        status = "ok" if k == 0 or roll < 0.7 else ("error" if roll < 0.9 else "invalid")
        code = BODY.format(n=50 + k % 5000, step=round(rng.random(), 4), m=rng.randint(10, 900))
        if status == "ok":
            good.append((pid, score, generation))
            best = min(best, score)
        batch_p.append(
            {
                "id": pid,
                "run_id": run_id,
                "iteration": k,
                "code": code,
                "code_hash": uuid.uuid4().hex,
                "parent_id": parent,
                "inspiration_ids": [],
                "island": island,
                "generation": generation,
                "status": status,
                "reason": "" if status == "ok" else "ValueError: point outside the bounds",
                "score": score if status == "ok" else None,
                "metrics": {"value": score, "distance": rng.random() * 15}
                if status == "ok"
                else {},
                "artifacts": {"feedback": "mean over 5 seeds"} if status == "ok" else {},
                "cell": [rng.randrange(6), rng.randrange(6)] if status == "ok" else None,
                "diff": "",
                "model": "" if k == 0 else rng.choice(MODELS),
                "mutation": "diff",
                "tokens_in": 900,
                "tokens_out": 120,
                "llm_seconds": rng.random() * 4,
                "eval_seconds": rng.random(),
                "engine_seconds": 0.002,
                "wait_seconds": 0.0,
                "duplicate_of": None,
                "cost": 0.0004,
                "selected_model": "",
                "created_at": now + k,
            }
        )
        if k:
            batch_c.append(
                {
                    "run_id": run_id,
                    "program_id": pid,
                    "iteration": k,
                    "model": batch_p[-1]["model"],
                    "prompt": PROMPT.format(code=code),
                    "response": "<<<<<<< SEARCH\n...\n=======\n...\n>>>>>>> REPLACE\n",
                    "tokens_in": 900,
                    "tokens_out": 120,
                    "latency": rng.random() * 4,
                    "call_index": 0,
                    "fault": "",
                    "outcome": "",
                    "error": "",
                    "cost": 0.0004,
                    "created_at": now + k,
                }
            )
        if len(batch_p) >= 5000 or k == programs - 1:
            with store.engine.begin() as conn:
                conn.execute(insert(programs_table), batch_p)
                if batch_c:
                    conn.execute(insert(calls_table), batch_c)
            batch_p, batch_c = [], []
    store.set_run_status(run_id, "completed", f"{programs - 1} candidates (bench)")
    store.close()
    return run_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.read()


def first_view(db: Path) -> dict[str, float]:
    """Seconds from launching `evolve ui` until its first view has been served."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "evolve.cli.main", "ui", "--db", str(db), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                fetch(base + "/")
                break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit("evolve ui exited before serving") from None
                time.sleep(0.01)
        page = time.perf_counter()
        for asset in ("/static/app.js", "/static/app.css", "/vendor/plotly.min.js"):
            fetch(base + asset)
        runs = json.loads(fetch(base + "/api/runs"))
        api_start = time.perf_counter()
        view = json.loads(fetch(f"{base}/api/runs/{runs[-1]['id']}/view"))
        done = time.perf_counter()
    finally:
        server.terminate()
        server.wait(10)
    return {
        "total_s": done - started,
        "page_s": page - started,
        "view_s": done - api_start,
        "tree_nodes": len(view["tree"]["nodes"]),
        "programs": view["tree"]["total"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/evolve_ui_bench.db"))
    parser.add_argument("--programs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    if args.rebuild:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
    if not args.db.exists():
        t = time.perf_counter()
        build(args.db, args.programs)
        size = args.db.stat().st_size / 1e6
        print(
            f"built {args.db}: {args.programs} programs, {size:.0f} MB, "
            f"in {time.perf_counter() - t:.1f}s"
        )
    runs = [first_view(args.db) for _ in range(args.repeat)]
    for r in runs:
        print(
            f"first view in {r['total_s']:.2f}s (page after {r['page_s']:.2f}s, run view "
            f"{r['view_s']:.2f}s; {r['programs']} programs, {r['tree_nodes']} tree nodes)"
        )
    print(f"median: {statistics.median(r['total_s'] for r in runs):.2f}s")


if __name__ == "__main__":
    main()
