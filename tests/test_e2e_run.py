"""End to end: `evolve run` on the embedded model, for real, and what it leaves in the database."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evolve.core.status import CandidateStatus
from evolve.store.reader import Reader
from evolve.store.store import Store, resolve_db_url

pytestmark = pytest.mark.llm

EVOLVE = [sys.executable, "-m", "evolve.cli.main"]


def evolve(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EVOLVE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_run_function_minimization_end_to_end(tmp_path: Path) -> None:
    out = evolve("run", "function_minimization", "--iterations", "6", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert "local/gemma-3-270m" in out.stderr  # says once which model, and how to do better
    assert out.stderr.count("Using the embedded model") == 1
    assert "[6/6]" in out.stdout  # progress, one line per candidate
    assert "Best program" in out.stdout and "def search" in out.stdout
    assert "time per candidate: LLM" in out.stdout

    db = tmp_path / "evolve.db"  # the default location
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    runs = con.execute("SELECT id, status, problem FROM runs").fetchall()
    assert len(runs) == 1 and runs[0][1] == "completed" and runs[0][2] == "function_minimization"
    run_id = runs[0][0]
    rows = con.execute(
        "SELECT id, iteration, parent_id, status, island, generation, model, code_hash "
        "FROM programs WHERE run_id = ? ORDER BY iteration",
        (run_id,),
    ).fetchall()
    assert [r[1] for r in rows] == list(range(7))
    ids = {r[0]: r for r in rows}
    assert rows[0][2] is None and rows[0][3] == "ok"
    for r in rows[1:]:
        assert r[2] in ids, "every child links to a stored parent"
        assert r[5] == ids[r[2]][5] + 1, "generation is the parent's plus one"
        assert r[6] == "local/gemma-3-270m"
        assert r[3] in {s.value for s in CandidateStatus}
    calls = con.execute(
        "SELECT program_id, model, prompt, response, tokens_out, seed FROM llm_calls WHERE run_id = ?",
        (run_id,),
    ).fetchall()
    assert len(calls) >= 6
    assert all(c[0] in ids for c in calls)
    assert all("def search_v" in c[2] for c in calls)  # completion-style prompts for a base model
    assert len({c[5] for c in calls}) == len(calls), "a different sampling seed per call"

    best = evolve("best", cwd=tmp_path)
    assert best.returncode == 0, best.stderr
    assert "def search" in best.stdout and "def run_search" in best.stdout
    out_file = tmp_path / "best.py"
    best_json = evolve("best", run_id[:6], "--out", str(out_file), "--json", cwd=tmp_path)
    data = json.loads(best_json.stdout)
    assert out_file.read_text() == data["code"]
    runs_json = json.loads(evolve("runs", "--json", cwd=tmp_path).stdout)
    assert runs_json[0]["id"] == run_id and runs_json[0]["candidates"] == 6


def _snapshot(db: Path) -> list[tuple]:
    store = Store(resolve_db_url(str(db)))
    run = Reader(store.url).run()  # the only run
    hashes = {p.id: p.code_hash for p in store.programs(run.id)}
    return [
        (p.iteration, p.code_hash, p.status.value, p.score, hashes.get(p.parent_id), p.island)
        for p in store.programs(run.id)
    ]


def test_same_seed_same_run(tmp_path: Path) -> None:
    for name in ("a", "b"):
        out = evolve(
            "run",
            "function_minimization",
            "--iterations",
            "4",
            "--seed",
            "7",
            "--db",
            str(tmp_path / f"{name}.db"),
            "--max-in-flight",
            "2",
            cwd=tmp_path,
        )
        assert out.returncode == 0, out.stderr
    assert _snapshot(tmp_path / "a.db") == _snapshot(tmp_path / "b.db")


def _wait_for_programs(db: Path, count: int, proc: subprocess.Popen, limit: float = 300) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        if db.exists():
            try:
                con = sqlite3.connect(db)
                n = con.execute("SELECT count(*) FROM programs").fetchone()[0]
                con.close()
            except sqlite3.OperationalError:
                n = 0
            if n >= count:
                return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} programs after {limit}s")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_stop_and_resume_loses_nothing(tmp_path: Path, sig: signal.Signals) -> None:
    db = tmp_path / "run.db"
    proc = subprocess.Popen(
        [*EVOLVE, "run", "function_minimization", "--iterations", "30", "--db", str(db)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    _wait_for_programs(db, 3, proc)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert "Traceback" not in stderr
    store = Store(resolve_db_url(str(db)))
    run = Reader(store.url).run()  # the only run
    before = store.programs(run.id)
    assert len(before) >= 3
    if sig == signal.SIGINT:
        assert proc.returncode == 0
        assert run.status == "interrupted"
        assert f"evolve run --resume {run.id}" in stdout
    else:
        assert run.status == "running"  # it never got to say otherwise
    out = evolve(
        "run",
        "--resume",
        run.id[:8],
        "--iterations",
        str(len(before) + 1),
        "--db",
        str(db),
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    after = store.programs(run.id)
    assert [p.iteration for p in after] == list(range(len(before) + 2))
    kept = {p.id: p for p in after}
    for p in before:  # everything committed before the stop is still there, unchanged
        assert kept[p.id].code == p.code and kept[p.id].score == p.score
    assert store.run(run.id).status == "completed"
