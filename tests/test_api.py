"""The Python API, for real: a problem built in code (its evaluator a function), run with the
embedded model by ``evolve.run``; the same run as ``evolve run`` in a subprocess; bad
settings as one-line ``UserError``s; Ctrl-C in a notebook and in a script, a cancelled task,
and resuming from Python."""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import evolve
from evolve.core.status import RunStatus
from evolve.errors import UserError
from evolve.events import CandidateDone, RunFinished, RunStarted
from evolve.problem import load_problem

pytestmark = pytest.mark.llm

EVOLVE = [sys.executable, "-m", "evolve"]

PROGRAM = '''"""Compute the square of an integer."""


# EVOLVE-BLOCK-START
def square(x: int) -> int:
    """Return x squared."""
    return x + x


# EVOLVE-BLOCK-END
'''

SETTINGS = {
    "prompt": "Make square(x) return x * x for every integer x.",
    "search": {"islands": 1, "max_in_flight": 2},
    "llm": {"max_tokens": 120},
    "sandbox": {"timeout": 10.0},
}


def score_square(program_path):
    """Minus the total error of square(x) over a few integers."""
    import runpy

    square = runpy.run_path(program_path)["square"]
    error = sum(abs(square(x) - x * x) for x in range(-5, 6))
    return {"score": -float(error)}


def uses_outside_name(program_path):
    return {"score": math.pi}


def build(folder: Path, **changes) -> evolve.Problem:
    return evolve.Problem("square", PROGRAM, score_square, folder=folder, **{**SETTINGS, **changes})


def snapshot(db: Path) -> list[tuple]:
    """Each candidate's iteration, code, status, score and parent's iteration."""
    with evolve.open_db(db) as view:
        (run,) = view.runs()
        programs = view.programs(run.info.id)
    iteration = {p.id: p.iteration for p in programs}
    return [
        (p.iteration, p.code, p.status.value, p.score, iteration.get(p.parent_id)) for p in programs
    ]


def runs_in(db: Path) -> list:
    if not db.exists():
        return []
    with evolve.open_db(db) as view:
        return [r.info for r in view.runs()]


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[evolve.Problem, Path, evolve.Run, list]:
    """One run from Python of a problem built in code: 4 candidates, seed 5."""
    root = tmp_path_factory.mktemp("api")
    problem = build(root / "square")
    events: list = []
    run = evolve.run(problem, iterations=4, seed=5, db=root / "api.db", progress=events.append)
    return problem, root, run, events


def test_problem_built_in_code_runs_and_returns_its_best(built) -> None:
    problem, root, run, events = built
    assert run.status == RunStatus.COMPLETED and run.candidates == 4, run.message
    assert "iteration budget of 4" in run.message
    programs = run.programs()
    assert [p.iteration for p in programs] == [0, 1, 2, 3, 4]
    valid = [p.score for p in programs if p.ok]
    assert run.best is not None and "def square" in run.best.code
    assert run.best.score == run.best_score == max(valid)  # the problem maximizes
    assert run.lineage()[0].iteration == 0 and run.lineage()[-1].id == run.best.id
    (model,) = run.stats()["models"]
    assert model["model"] == "local/gemma-3-270m" and model["proposals"] == 4
    # What evolve.open_db gives about the run later is what evolve.run returned.
    with evolve.open_db(root / "api.db") as db:
        assert db.runs() == [run.summary]
        assert db.best(run.id)[0] == run.best
    # The listener heard the run as the progress display does.
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert sum(isinstance(e, CandidateDone) for e in events) == 4
    # An ordinary problem folder: the function's source, the settings as problem.toml.
    evaluator = (problem.folder / "evaluator.py").read_text()
    assert textwrap.dedent(inspect.getsource(score_square)) in evaluator
    assert (problem.folder / "initial_program.py").read_text() == PROGRAM
    assert load_problem(str(problem.folder)).config == problem.config
    assert problem.config.evaluator.function == "score_square"
    assert problem.config.search.islands == 1 and problem.config.llm.max_tokens == 120


def test_python_and_the_cli_give_the_same_run(built) -> None:
    problem, root, _, _ = built
    db = root / "cli.db"
    out = subprocess.run(
        [*EVOLVE, "run", str(problem.folder), "--iterations", "4", "--seed", "5", "--db", str(db)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    ours = snapshot(root / "api.db")
    assert len(ours) == 5 and len({code for _, code, *_ in ours}) > 1
    assert snapshot(db) == ours
    (api,), (cli,) = runs_in(root / "api.db"), runs_in(db)
    assert api.config == cli.config and api.problem_path == cli.problem_path


def test_bad_settings_are_one_line_user_errors(tmp_path: Path) -> None:
    folder = tmp_path / "square"
    cases = [
        (lambda: build(folder, search={"islands": 0}), "search.islands: Input should be greater"),
        (lambda: build(folder, serch={}), "unknown key 'serch'"),
        (lambda: build(folder, direction="sideways"), "must be 'maximize' or 'minimize'"),
        (
            lambda: evolve.Problem("square", PROGRAM, uses_outside_name, folder=folder),
            "uses math from outside the function",
        ),
        (lambda: evolve.Problem("square", PROGRAM, lambda p: {}, folder=folder), "with def"),
        (
            lambda: evolve.Problem("square", PROGRAM, 42, folder=folder),
            "evaluator must be a function or the path of a Python file",
        ),
        (
            lambda: evolve.Problem("a/b", PROGRAM, score_square),
            "cannot be a folder's name",
        ),
    ]
    for make, needle in cases:
        with pytest.raises(UserError) as caught:
            make()
        message = str(caught.value)
        assert needle in message and "\n" not in message, message
        assert message.startswith("evolve.Problem("), message
    assert not folder.exists(), "nothing is written before the settings are valid"

    unclosed = PROGRAM.replace("# EVOLVE-BLOCK-END\n", "")
    with pytest.raises(UserError, match="is never closed"):
        evolve.Problem("square", unclosed, score_square, folder=folder)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my own\n")
    with pytest.raises(UserError, match="did not write"):
        build(mine)
    assert (mine / "notes.txt").read_text() == "my own\n"

    problem = build(folder)
    db = tmp_path / "bad.db"
    calls = [
        (dict(iteratons=3), "unknown keyword argument 'iteratons' (did you mean 'iterations'?)"),
        (dict(iterations=-1), "search.iterations: Input should be greater than or equal to 0"),
        (dict(seed="x"), "search.seed: Input should be a valid integer"),
        (dict(sandbox="vm"), "sandbox.backend: Input should be 'process' or 'docker'"),
        (dict(models="local/gemma-3-270m@0"), "the weight after @ must be positive"),
        (dict(models=[3]), "models: give model specs as strings"),
        (dict(resume="abc"), "resume takes the problem from the recorded run"),
        (dict(at=3), "at=ITERATION goes with fork=RUN_ID"),
        (dict(progress="yes"), "progress: give True, False or a function"),
    ]
    for options, needle in calls:
        with pytest.raises(UserError) as caught:
            evolve.run(problem, db=db, **options)
        assert needle in str(caught.value) and "\n" not in str(caught.value), str(caught.value)
    with pytest.raises(UserError, match=r"give a problem .* or resume=RUN_ID"):
        evolve.run(db=db)
    with pytest.raises(UserError, match=r"problem: give an evolve\.Problem"):
        evolve.run(42, db=db)
    with pytest.raises(UserError, match="no database at"):
        evolve.run(resume="abc", db=tmp_path / "none.db")
    assert runs_in(db) == [], "no run was created"


def quick_check(program_path):
    """A cheap first stage: square(3) only."""
    import runpy

    return {"score": -float(abs(runpy.run_path(program_path)["square"](3) - 9))}


def test_settings_written_as_problem_toml_load_back_the_same(tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    problem = evolve.Problem(
        'odd "name"',
        PROGRAM,
        score_square,
        folder=folder,
        description='quotes " and \\ backslashes\nnew lines, \u00fcnicode, DEL \x7f',
        prompt="two\nlines\tand a tab",
        features=[
            {"name": "code_length", "bins": 3},
            {"name": "score", "bins": 4, "min": -1e-05, "max": 1e16},
        ],
        options={"odd key.x": "v", "n": 3, "flags": [1.5, 2.0]},
        stages=[{"function": quick_check, "threshold": -50.0}],
        llm={
            "models": ["local/gemma-3-270m", {"name": "openai/gpt-4.1-mini", "weight": 2.0}],
            "temperature": [0.5, 1.0],
        },
        sandbox={"docker": {"warm": 0}},
    )
    assert load_problem(str(folder)).config == problem.config
    assert problem.config.evaluator.stages[0].function == "quick_check"
    assert problem.config.description.endswith("DEL \x7f")
    evaluator = (folder / "evaluator.py").read_text()
    assert "def score_square(" in evaluator and "def quick_check(" in evaluator
    # Built again (a notebook cell run twice, changed): the folder is rewritten.
    again = evolve.Problem('odd "name"', PROGRAM, score_square, folder=folder, search={"seed": 4})
    assert load_problem(str(folder)).config == again.config
    assert again.config.search.seed == 4 and again.config.evaluator.stages == []


def test_problem_errors_read_as_the_cli_says_them(tmp_path: Path) -> None:
    """The same validation and the same words as a problem.toml given to ``evolve run``."""
    build(tmp_path / "square")
    toml = tmp_path / "square" / "problem.toml"
    toml.write_text(toml.read_text().replace("islands = 1", "islands = 0"))
    out = subprocess.run(
        [*EVOLVE, "run", str(tmp_path / "square")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 2
    cli_says = out.stderr.strip().removeprefix(f"error: {toml}: ")
    with pytest.raises(UserError) as caught:
        build(tmp_path / "other", search={"islands": 0})
    assert str(caught.value) == f"evolve.Problem('square'): {cli_says}"


SCRIPT = """
import asyncio, json, signal, sys
import evolve

folder, db, mode = sys.argv[1:]


def go():
    return evolve.run(folder, iterations=200, seed=2, db=db, progress=False)


async def cell():
    # ipykernel runs a cell with Python's own SIGINT handler: Ctrl-C is KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return go()  # a cell's code runs while the kernel's event loop runs


run = asyncio.run(cell()) if mode == "notebook" else go()
print(json.dumps({"id": run.id, "status": run.status.value, "message": run.message}))
"""


def wait_for_candidates(db: Path, count: int, proc: subprocess.Popen, limit: float = 300) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if db.exists():
            try:
                with sqlite3.connect(db) as con:
                    n = con.execute("SELECT count(*) FROM programs").fetchone()[0]
            except sqlite3.OperationalError:
                n = 0
            if n > count:
                return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} candidates after {limit}s")


@pytest.mark.parametrize("mode", ["notebook", "script"])
def test_ctrl_c_stops_cleanly_and_python_resumes(tmp_path: Path, mode: str) -> None:
    problem = build(tmp_path / "square")
    db = tmp_path / "run.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(problem.folder), str(db), mode],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    wait_for_candidates(db, 2, proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0 and "Traceback" not in stderr, stderr
    said = json.loads(stdout.strip().splitlines()[-1])
    assert said["status"] == "interrupted", said
    if mode == "notebook":  # cancelled: what was in flight is redone on resume
        assert said["message"] == "interrupted; in-flight candidates abandoned"
    (info,) = runs_in(db)
    assert info.id == said["id"] and info.status == "interrupted"
    with evolve.open_db(db) as view:
        before = view.programs(info.id)
    assert len(before) >= 3

    run = evolve.run(resume=said["id"][:8], iterations=len(before) + 1, db=db, progress=False)
    assert run.id == said["id"] and run.status == RunStatus.COMPLETED, run.message
    after = {p.iteration: p for p in run.programs()}
    assert sorted(after) == list(range(len(before) + 2))
    for p in before:  # everything committed before the stop is still there, unchanged
        assert after[p.iteration].id == p.id and after[p.iteration].code == p.code
        assert after[p.iteration].score == p.score


def test_a_cancelled_task_is_an_interrupted_run(tmp_path: Path) -> None:
    problem = build(tmp_path / "square")
    db = tmp_path / "task.db"
    events: list = []

    async def main() -> None:
        task = asyncio.create_task(
            evolve.run_async(problem, iterations=200, db=db, progress=events.append)
        )
        while sum(isinstance(e, CandidateDone) for e in events) < 2:
            assert not task.done()
            await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    with evolve.open_db(db) as view:
        (summary,) = view.runs()
        assert summary.info.status == "interrupted"
        stored = {p.id for p in view.programs(summary.info.id)}
    done = {e.program.id for e in events if isinstance(e, CandidateDone)}
    assert done <= stored and len(stored) >= 3  # every candidate reported is kept
