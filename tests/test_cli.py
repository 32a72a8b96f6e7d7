"""The command line: usage errors, listings, and the commands that need no model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evolve.core.records import Candidate
from evolve.core.status import CandidateStatus, RunStatus
from evolve.store.reader import Reader
from evolve.store.store import Store, resolve_db_url


def evolve(*args: str, cwd: Path, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()):
    # `python -m evolve` with the interpreter running the tests: no `evolve` on PATH needed
    # (an unactivated virtual environment has none) and never another install's script.
    return subprocess.run(
        [*prefix, sys.executable, "-m", "evolve", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def assert_one_line_error(out: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert "Traceback" not in out.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "function_minimization", "--bogus"], "No such option: --bogus"),
        (["run", "function_minimization", "--iterations", "-3"], "--iterations"),
        (["run", "function_minimization", "--iterations", "many"], "--iterations"),
        (["frobnicate"], "No such command"),
        (["eval", "function_minimization"], "Missing argument"),
    ],
)
def test_usage_errors_are_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    assert_one_line_error(evolve(*args, cwd=tmp_path), needle)


def test_no_arguments_prints_help(tmp_path: Path) -> None:
    out = evolve(cwd=tmp_path)
    assert out.returncode == 0 and "run" in out.stdout and "best" in out.stdout


def test_help_flag_lists_the_commands(tmp_path: Path) -> None:
    out = evolve("--help", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    for command in ("run", "eval", "runs", "best", "problems"):
        assert command in out.stdout


def test_problems_lists_the_bundled_ones(tmp_path: Path) -> None:
    out = evolve("problems", "--json", cwd=tmp_path)
    names = {p["name"] for p in json.loads(out.stdout)}
    assert {"function_minimization", "circle_packing"} <= names
    table = evolve("problems", cwd=tmp_path)
    assert "circle_packing" in table.stdout


def test_missing_key_is_named_before_anything_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if k != "OPENAI_API_KEY"}
    out = evolve(
        "run",
        "function_minimization",
        "--model",
        "openai/gpt-4.1-mini",
        "--db",
        str(tmp_path / "x.db"),
        cwd=tmp_path,
        env=env,
    )
    assert_one_line_error(out, "OPENAI_API_KEY")
    assert (
        not (tmp_path / "x.db").exists()
        or not Reader(resolve_db_url(str(tmp_path / "x.db"))).runs()
    )


def test_database_errors(tmp_path: Path) -> None:
    assert_one_line_error(
        evolve("runs", "--db", str(tmp_path / "none.db"), cwd=tmp_path), "no database"
    )
    assert_one_line_error(
        evolve("best", "--db", str(tmp_path / "none.db"), cwd=tmp_path), "no database"
    )
    assert_one_line_error(
        evolve("run", "--resume", "abc", "--db", str(tmp_path / "none.db"), cwd=tmp_path),
        "no database",
    )
    assert_one_line_error(evolve("run", cwd=tmp_path), "--resume")
    empty = tmp_path / "empty.db"
    Store(resolve_db_url(str(empty)))
    assert json.loads(evolve("runs", "--json", "--db", str(empty), cwd=tmp_path).stdout) == []
    assert_one_line_error(evolve("best", "--db", str(empty), cwd=tmp_path), "no runs")
    assert_one_line_error(
        evolve("run", "--resume", "zz", "--db", str(empty), cwd=tmp_path), "no run 'zz'"
    )


def write_run(db: Path, scores: list[float]) -> str:
    """A run (minimizing ``value``) with one candidate per score; the store is closed after."""
    store = Store(resolve_db_url(str(db)))
    config = {"evaluator": {"direction": "minimize", "primary_metric": "value"}}
    run_id = store.create_run("demo", "/nowhere/problem.toml", config, seed=3)
    for k, score in enumerate(scores):
        store.add_program(candidate(run_id, k, score))
    store.set_run_status(run_id, RunStatus.COMPLETED, "done")
    store.close()
    return run_id


def candidate(run_id: str, k: int, score: float) -> Candidate:
    return Candidate(
        id=f"{k:02d}" + "a" * 30,
        run_id=run_id,
        iteration=k,
        code=f"x = {score}\n",
        island=0,
        generation=k,
        status=CandidateStatus.OK,
        score=score,
        metrics={"value": score},
    )


def test_runs_and_best_read_a_database(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    run_id = write_run(db, [5.0, 2.0, 9.0])
    runs = json.loads(evolve("runs", "--json", "--db", str(db), cwd=tmp_path).stdout)
    assert runs[0]["best_score"] == 2.0 and runs[0]["candidates"] == 2
    best = evolve("best", run_id[:4], "--db", str(db), cwd=tmp_path)
    assert best.returncode == 0 and "x = 2.0" in best.stdout
    top = json.loads(evolve("best", "--top", "2", "--json", "--db", str(db), cwd=tmp_path).stdout)
    assert [p["score"] for p in top] == [2.0, 5.0]
    out = tmp_path / "best.py"
    evolve("best", "--out", str(out), "--db", str(db), cwd=tmp_path)
    assert out.read_text() == "x = 2.0\n"
    bad_seed = evolve("run", "--resume", run_id, "--seed", "4", "--db", str(db), cwd=tmp_path)
    assert_one_line_error(bad_seed, "--seed")


# --- a database on read-only storage ---------------------------------------------------------

UNPRIVILEGED = (
    ("setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--")
    if os.geteuid() == 0
    else ()
)
"""A command prefix under which file permissions hold: as root, without the capabilities
that bypass them."""


def make_read_only(folder: Path) -> None:
    for f in folder.iterdir():
        f.chmod(0o444)
    folder.chmod(0o555)
    # Nothing can be created there (else the tests below would prove nothing).
    probe = subprocess.run([*UNPRIVILEGED, "touch", str(folder / "probe")], check=False)
    assert probe.returncode != 0 and not (folder / "probe").exists()


@pytest.fixture
def read_only(tmp_path: Path):
    folder = tmp_path / "ro"
    folder.mkdir()
    yield folder
    folder.chmod(0o755)  # let pytest clean up


def read_runs_and_best(db: Path, cwd: Path) -> tuple[list[dict], dict]:
    runs = evolve("runs", "--json", "--db", str(db), cwd=cwd, prefix=UNPRIVILEGED)
    assert runs.returncode == 0, runs.stderr
    best = evolve("best", "--json", "--db", str(db), cwd=cwd, prefix=UNPRIVILEGED)
    assert best.returncode == 0, best.stderr
    listed = json.loads(runs.stdout)
    table = evolve("runs", "--db", str(db), cwd=cwd, prefix=UNPRIVILEGED)
    assert table.returncode == 0 and listed[0]["id"][:6] in table.stdout, table.stderr
    return listed, json.loads(best.stdout)


def test_runs_and_best_on_read_only_storage(tmp_path: Path, read_only: Path) -> None:
    """A finished run's database in a folder nobody can write: the last writer removed its
    write-ahead log, and reading it creates none (it is opened immutable)."""
    db = read_only / "r.db"
    run_id = write_run(db, [5.0, 2.0, 9.0])
    assert sorted(f.name for f in read_only.iterdir()) == ["r.db"]
    make_read_only(read_only)
    runs, best = read_runs_and_best(db, tmp_path)
    assert [(r["id"], r["best_score"], r["candidates"]) for r in runs] == [(run_id, 2.0, 2)]
    assert best["code"] == "x = 2.0\n" and best["iteration"] == 1
    assert sorted(f.name for f in read_only.iterdir()) == ["r.db"]


def test_runs_and_best_read_through_a_killed_writers_log(tmp_path: Path, read_only: Path) -> None:
    """A writer killed mid-run leaves its write-ahead log, holding committed candidates that
    are not in the database file yet: on read-only storage they are read through it."""
    db = read_only / "r.db"
    run_id = write_run(db, [5.0, 2.0])
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; sys.path.insert(0, sys.argv[1]); import test_cli; "
            "from evolve.store.store import Store, resolve_db_url; "
            "s = Store(resolve_db_url(sys.argv[2])); "
            "s.add_program(test_cli.candidate(sys.argv[3], 2, 0.5)); os._exit(0)",
            str(Path(__file__).parent),
            str(db),
            run_id,
        ],
        check=False,
    )
    assert killed.returncode == 0
    assert (read_only / "r.db-wal").stat().st_size > 0  # the new candidate is in the log only
    make_read_only(read_only)
    runs, best = read_runs_and_best(db, tmp_path)
    assert [(r["id"], r["best_score"], r["candidates"]) for r in runs] == [(run_id, 0.5, 2)]
    assert best["code"] == "x = 0.5\n" and best["iteration"] == 2
