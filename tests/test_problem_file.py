"""Loading problem.toml (evolve.problem, evolve.config) and the CLI's handling of bad input.

Every mistake in a problem folder must be a UserError naming the file and the key, and on
the command line one ``error:`` line on stderr with exit code 2 and no traceback.

The CLI is run as real subprocesses. To keep the file fast, every invocation is declared
up front (``INVOCATIONS``) and a module fixture runs them all concurrently; the tests then
check the recorded results.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from evolve.errors import UserError
from evolve.problem import find_problem_file, load_problem
from evolve.store.reader import Reader
from evolve.store.store import Store, resolve_db_url

BASE = Path(__file__).resolve().parent.parent / "problems" / "function_minimization"
BUNDLED_NAME = "function_minimization"

Mutation = Callable[[Path], None]


# --- building problem folders ------------------------------------------------------------


def _replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def toml(old: str, new: str) -> Mutation:
    return lambda d: _replace_in(d / "problem.toml", old, new)


def append(text: str) -> Mutation:
    def mutate(d: Path) -> None:
        path = d / "problem.toml"
        path.write_text(path.read_text(encoding="utf-8") + "\n" + text + "\n", encoding="utf-8")

    return mutate


def unlink(name: str) -> Mutation:
    return lambda d: (d / name).unlink()


def initial(old: str, new: str) -> Mutation:
    return lambda d: _replace_in(d / "initial_program.py", old, new)


def evaluator(old: str, new: str) -> Mutation:
    return lambda d: _replace_in(d / "evaluator.py", old, new)


def make_problem(root: Path, name: str, mutation: Mutation | None = None) -> Path:
    folder = root / name
    shutil.copytree(BASE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    if mutation is not None:
        mutation(folder)
    return folder


@dataclass(frozen=True)
class BadCase:
    mutation: Mutation
    expect: tuple[str, ...]
    """Substrings the one-line message must contain (besides the file)."""
    file: str = "problem.toml"
    """The file the message must name."""


BAD_CASES: dict[str, BadCase] = {
    "empty_temperature_list": BadCase(
        toml("temperature = 1.0", "temperature = []"), ("llm.temperature", "at least one")
    ),
    "unknown_selection": BadCase(
        toml("attempts = 3", 'attempts = 3\nselection = "greedy"'), ("llm.selection", "greedy")
    ),
    "missing_templates_folder": BadCase(
        toml("attempts = 3", 'attempts = 3\ntemplates = "prompts"'),
        ("llm.templates", "does not exist"),
    ),
    "half_a_price": BadCase(
        append('[[llm.models]]\nname = "openai/x"\nbase_url = "http://h/v1"\nprice_in = 1.0'),
        ("llm.models.0", "price_out"),
    ),
    "unknown_mutation_style": BadCase(
        append('[[llm.models]]\nname = "openai/x"\nbase_url = "http://h/v1"\nmutation = "dif"'),
        ("llm.models.0.mutation", "dif"),
    ),
    "top_level_typo": BadCase(toml('prompt = """', 'promt = """'), ("unknown key", "'promt'")),
    "search_typo": BadCase(
        toml("iterations = 50", "iterationz = 50"), ("unknown key", "search.iterationz")
    ),
    "llm_typo": BadCase(toml("max_tokens = 300", "max_token = 300"), ("llm.max_token",)),
    "feature_typo": BadCase(toml("bins = 6", "bin = 6"), ("unknown key", "features.0.bin")),
    "empty_toml": BadCase(lambda d: (d / "problem.toml").write_text(""), ("missing", "'name'")),
    "unknown_sandbox_backend": BadCase(
        toml("timeout = 20.0", 'timeout = 20.0\nbackend = "podman"'), ("sandbox.backend", "podman")
    ),
    "wrong_type": BadCase(toml("islands = 2", 'islands = "four"'), ("search.islands", "four")),
    "float_for_int": BadCase(toml("bins = 6", "bins = 6.5"), ("features.0.bins", "6.5")),
    "missing_initial_key": BadCase(
        toml('initial_program = "initial_program.py"\n', ""), ("missing", "initial_program")
    ),
    "missing_initial_file": BadCase(
        unlink("initial_program.py"), ("initial_program", "initial_program.py", "does not exist")
    ),
    "missing_evaluator_file": BadCase(
        unlink("evaluator.py"), ("evaluator.path", "evaluator.py", "does not exist")
    ),
    "path_and_plugin": BadCase(
        toml('path = "evaluator.py"', 'path = "evaluator.py"\nplugin = "something"'),
        ("evaluator", "path", "plugin"),
    ),
    "neither_path_nor_plugin": BadCase(
        toml('path = "evaluator.py"\n', ""), ("evaluator", "path", "plugin")
    ),
    "unknown_plugin": BadCase(
        toml('path = "evaluator.py"', 'plugin = "no_such_plugin_xyz"'),
        ("evaluator.plugin", "no_such_plugin_xyz"),
    ),
    "malformed_toml": BadCase(toml("islands = 2", "islands = = 2"), ("TOML", "line")),
    "unknown_direction": BadCase(
        toml('direction = "minimize"', 'direction = "sideways"'),
        ("evaluator.direction", "sideways"),
    ),
    "feature_max_equals_min": BadCase(toml("max = 15.0", "max = 0.0"), ("features", "max", "min")),
    "feature_max_below_min": BadCase(
        toml("max = 15.0", "max = -3.0"), ("features", "max", "min", "-3.0")
    ),
    "duplicate_features": BadCase(
        toml('name = "distance"', 'name = "code_length"'), ("feature", "code_length", "twice")
    ),
    "unbalanced_markers": BadCase(
        initial("# EVOLVE-BLOCK-END\n", ""),
        ("EVOLVE-BLOCK-START", "never closed", "line 20"),
        file="initial_program.py",
    ),
    "end_without_start": BadCase(
        initial("# EVOLVE-BLOCK-START\n", ""),
        ("EVOLVE-BLOCK-END", "line"),
        file="initial_program.py",
    ),
}

BOOM = evaluator(
    "from __future__ import annotations\n",
    'from __future__ import annotations\n\nraise RuntimeError("boom at import")\n',
)
INITIAL_FAILS = initial(
    "    return x, y, objective(x, y)\n",
    '    raise ValueError("initial program is broken")\n',
)

RAISING_PROGRAM = 'raise RuntimeError("candidate exploded")\n'
SLOW_PROGRAM = "import time\n\ntime.sleep(30)\n"


# --- load_problem --------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_load_problem_rejects(tmp_path: Path, case: str) -> None:
    spec = BAD_CASES[case]
    folder = make_problem(tmp_path, case, spec.mutation)
    with pytest.raises(UserError) as exc:
        load_problem(str(folder))
    msg = str(exc.value)
    assert "\n" not in msg
    assert str((folder / spec.file).resolve()) in msg
    for part in spec.expect:
        assert part in msg, f"{part!r} not in {msg!r}"


def test_load_problem_names_the_misspelled_key_exactly(tmp_path: Path) -> None:
    folder = make_problem(tmp_path, "p", toml("iterations = 50", "iterationz = 50"))
    with pytest.raises(UserError, match=r"unknown key 'search\.iterationz'"):
        load_problem(str(folder / "problem.toml"))


def test_several_errors_are_counted(tmp_path: Path) -> None:
    folder = make_problem(
        tmp_path, "p", toml("islands = 2", 'islands = "four"\nmigration_ratez = 3')
    )
    with pytest.raises(UserError, match=r"and 1 more error\b"):
        load_problem(str(folder))


def test_wrong_type_is_not_coerced(tmp_path: Path) -> None:
    # strict mode: "4" is not silently read as 4
    folder = make_problem(tmp_path, "p", toml("islands = 2", 'islands = "4"'))
    with pytest.raises(UserError, match=r"search\.islands"):
        load_problem(str(folder))


def test_out_of_range_value_is_rejected(tmp_path: Path) -> None:
    folder = make_problem(tmp_path, "p", toml("islands = 2", "islands = 0"))
    with pytest.raises(UserError, match=r"search\.islands.*\(got 0\)"):
        load_problem(str(folder))


def test_evaluator_path_must_be_python(tmp_path: Path) -> None:
    def mutate(d: Path) -> None:
        (d / "evaluator.txt").write_text("not python\n")
        _replace_in(d / "problem.toml", 'path = "evaluator.py"', 'path = "evaluator.txt"')

    folder = make_problem(tmp_path, "p", mutate)
    with pytest.raises(UserError, match=r"evaluator\.path.*evaluator\.txt"):
        load_problem(str(folder))


def test_folder_without_problem_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"problem\.toml"):
        load_problem(str(tmp_path))


def test_nonexistent_problem_name() -> None:
    with pytest.raises(UserError) as exc:
        load_problem("no_such_problem")
    msg = str(exc.value)
    assert msg.startswith("no_such_problem:")
    assert BUNDLED_NAME in msg  # lists what is bundled


@pytest.mark.parametrize("form", ["folder", "toml", "bundled"])
def test_problem_spec_forms_resolve(form: str) -> None:
    spec = {
        "folder": str(BASE),
        "toml": str(BASE / "problem.toml"),
        "bundled": BUNDLED_NAME,
    }[form]
    problem = load_problem(spec)
    assert problem.name == BUNDLED_NAME
    assert problem.file.resolve() == (BASE / "problem.toml").resolve()
    assert problem.language == "python"
    assert not problem.objective.maximize
    assert problem.blocks.marked
    assert len(problem.blocks.regions) == 1
    assert "def search(objective, bounds, rng):" in problem.blocks.regions[0]
    assert problem.initial_code == (BASE / "initial_program.py").read_text(encoding="utf-8")
    assert problem.evaluator.path == (BASE / "evaluator.py").resolve()
    assert problem.evaluator.function == "evaluate"
    assert find_problem_file(spec).resolve() == (BASE / "problem.toml").resolve()


def test_copied_problem_folder_loads(tmp_path: Path) -> None:
    folder = make_problem(tmp_path, "copy")
    problem = load_problem(str(folder))
    assert problem.file == (folder / "problem.toml").resolve()
    assert problem.config.search.islands == 2
    assert [f.name for f in problem.config.features] == ["code_length", "distance"]


def test_overrides_are_applied_and_validated(tmp_path: Path) -> None:
    folder = make_problem(tmp_path, "p")
    problem = load_problem(str(folder), {"search.iterations": 0, "sandbox.timeout": 1.5})
    assert problem.config.search.iterations == 0
    assert problem.config.sandbox.timeout == 1.5
    with pytest.raises(UserError, match=r"search\.islands"):
        load_problem(str(folder), {"search.islands": "many"})


def test_direction_is_case_insensitive(tmp_path: Path) -> None:
    folder = make_problem(tmp_path, "p", toml('direction = "minimize"', 'direction = "MAXIMIZE"'))
    assert load_problem(str(folder)).objective.maximize


# --- the CLI, as subprocesses ---------------------------------------------------------------
#
# Calls marked ``fork`` run in a child process forked from one driver process that has
# already imported the CLI: each child gets the real argv, its own stdout/stderr files (at
# the file-descriptor level) and exits with main()'s status, exactly as the `evolve` console
# script does (`sys.exit(main())`), without paying the interpreter start-up for each of the
# many bad-input cases. The other calls run the installed `evolve` executable itself.


def _evolve_cmd() -> list[str]:
    """The `evolve` console script installed with the package this interpreter imports.

    Found through the distribution's RECORD, never through PATH: PATH may hold another
    install's script, or none when the virtual environment running the tests is not
    activated. Imported from a bare source tree (no installed script): `python -m evolve`.
    """
    try:
        dist = importlib.metadata.distribution("evolve")
    except importlib.metadata.PackageNotFoundError:
        return [sys.executable, "-m", "evolve"]
    for entry in dist.files or []:
        if entry.name == "evolve" and entry.parent.name == "bin":
            script = Path(dist.locate_file(entry)).resolve()
            if os.access(script, os.X_OK):
                return [str(script)]
    return [sys.executable, "-m", "evolve"]


_FORK_DRIVER = r"""
import json, os, sys, traceback
from evolve.cli.main import main

jobs = json.load(sys.stdin)
results = {}
running = {}
width = int(os.environ.get("_EVOLVE_TEST_WIDTH", "2"))

def start(job):
    pid = os.fork()
    if pid:
        running[pid] = job["key"]
        return
    code = 1
    try:
        os.chdir(job["cwd"])
        for fd, name in ((1, "out"), (2, "err")):
            f = os.open(job[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(f, fd)
            os.close(f)
        sys.argv = ["evolve", *job["argv"]]
        try:
            main()
            code = 0
        except SystemExit as exc:
            c = exc.code
            code = 0 if c is None else c if isinstance(c, int) else 1
            if not isinstance(c, int | None):
                print(c, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)

def reap():
    pid, status = os.wait()
    results[running.pop(pid)] = os.waitstatus_to_exitcode(status)

for job in jobs:
    while len(running) >= width:
        reap()
    start(job)
while running:
    reap()
json.dump(results, sys.stdout)
"""


@dataclass(frozen=True)
class Invocation:
    """One CLI call: the problem folder is built from ``mutation`` (None: unmodified copy)."""

    command: str  # "eval" or "run"
    mutation: Mutation | None = None
    problem: str | None = None  # "folder" (default), "toml", or a literal name
    program: str = "candidate"  # eval: "candidate" (copy of the initial program) or a file name
    extra: tuple[str, ...] = ()
    fork: bool = False


INVOCATIONS: dict[str, Invocation] = {}
for _name, _case in BAD_CASES.items():
    INVOCATIONS[f"bad-eval-{_name}"] = Invocation(
        "eval", _case.mutation, extra=("--json",), fork=True
    )
    INVOCATIONS[f"bad-run-{_name}"] = Invocation("run", _case.mutation, fork=True)
INVOCATIONS.update(
    {
        # the same kind of bad input through the real executable as well
        "exec-bad-eval-search_typo": Invocation(
            "eval", BAD_CASES["search_typo"].mutation, extra=("--json",)
        ),
        "exec-bad-run-search_typo": Invocation("run", BAD_CASES["search_typo"].mutation),
        "nosuch-eval": Invocation("eval", problem="no_such_problem", extra=("--json",)),
        "nosuch-run": Invocation("run", problem="no_such_problem"),
        "boom-eval": Invocation("eval", BOOM, extra=("--json",)),
        "boom-run": Invocation("run", BOOM),
        "initial-fails-run": Invocation("run", INITIAL_FAILS),
        "ok-run": Invocation("run", extra=("--json",)),
        "ok-eval-folder": Invocation("eval", extra=("--json",)),
        "ok-eval-toml": Invocation("eval", problem="toml", extra=("--json",), fork=True),
        "ok-eval-bundled": Invocation("eval", problem=BUNDLED_NAME, extra=("--json",), fork=True),
        "eval-raising": Invocation("eval", program="raising.py", extra=("--json",), fork=True),
        "eval-slow": Invocation("eval", program="slow.py", extra=("--json", "--timeout", "1")),
        "badfunc-eval": Invocation(
            "eval",
            toml('function = "evaluate"', 'function = "evaluat"'),
            extra=("--json",),
            fork=True,
        ),
        "eval-missing-program": Invocation("eval", program="does_not_exist.py", fork=True),
    }
)


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str
    folder: Path
    db: Path


@dataclass(frozen=True)
class _Job:
    key: str
    argv: list[str]
    cwd: Path
    folder: Path
    db: Path


def _prepare(key: str, inv: Invocation, root: Path) -> _Job:
    work = root / key
    work.mkdir()
    folder = make_problem(work, "problem", inv.mutation)
    (work / "raising.py").write_text(RAISING_PROGRAM)
    (work / "slow.py").write_text(SLOW_PROGRAM)
    candidate = work / "candidate.py"
    candidate.write_text((BASE / "initial_program.py").read_text(encoding="utf-8"))
    if inv.problem is None or inv.problem == "folder":
        problem = str(folder)
    elif inv.problem == "toml":
        problem = str(folder / "problem.toml")
    else:
        problem = inv.problem
    db = work / "x.db"
    if inv.command == "eval":
        program = str(candidate if inv.program == "candidate" else work / inv.program)
        argv = ["eval", problem, program, *inv.extra]
    else:
        argv = ["run", problem, "--iterations", "0", "--db", str(db), *inv.extra]
    return _Job(key, argv, work, folder, db)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("EVOLVE_DEBUG", "EVOLVE_DB")}
    env["_EVOLVE_TEST_WIDTH"] = str(max(2, os.cpu_count() or 2))
    return env


def _exec(job: _Job) -> Result:
    proc = subprocess.run(
        [*_evolve_cmd(), *job.argv],
        cwd=job.cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr, job.folder, job.db)


def _forked(jobs: list[_Job]) -> dict[str, Result]:
    spec = [
        {
            "key": j.key,
            "argv": j.argv,
            "cwd": str(j.cwd),
            "out": str(j.cwd / "stdout.txt"),
            "err": str(j.cwd / "stderr.txt"),
        }
        for j in jobs
    ]
    proc = subprocess.run(
        [sys.executable, "-c", _FORK_DRIVER],
        input=json.dumps(spec),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    codes = json.loads(proc.stdout)
    return {
        j.key: Result(
            codes[j.key],
            (j.cwd / "stdout.txt").read_text(),
            (j.cwd / "stderr.txt").read_text(),
            j.folder,
            j.db,
        )
        for j in jobs
    }


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    root = tmp_path_factory.mktemp("cli")
    jobs = {k: _prepare(k, inv, root) for k, inv in INVOCATIONS.items()}
    forked = [jobs[k] for k, inv in INVOCATIONS.items() if inv.fork]
    direct = [jobs[k] for k, inv in INVOCATIONS.items() if not inv.fork]
    with ThreadPoolExecutor(max_workers=3) as pool:
        fork_future = pool.submit(_forked, forked)
        futures = {j.key: pool.submit(_exec, j) for j in direct}
        results = {k: f.result() for k, f in futures.items()}
        results.update(fork_future.result())
    return results


def _error_line(r: Result) -> str:
    """The one ``error:`` line on stderr (asserting there is exactly one, and no traceback)."""
    assert "Traceback" not in r.stderr, r.stderr
    assert "Traceback" not in r.stdout, r.stdout
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, r.stderr
    return errors[0]


@pytest.mark.parametrize("command", ["eval", "run"])
@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_cli_rejects_bad_problem(cli: dict[str, Result], case: str, command: str) -> None:
    r = cli[f"bad-{command}-{case}"]
    spec = BAD_CASES[case]
    assert r.returncode == 2, (r.stdout, r.stderr)
    line = _error_line(r)
    # a problem-file error is found before anything else happens: nothing else on stderr
    assert [ln for ln in r.stderr.splitlines() if ln.strip()] == [line]
    assert r.stdout == ""
    assert str((r.folder / spec.file).resolve()) in line
    for part in spec.expect:
        assert part in line, f"{part!r} not in {line!r}"


@pytest.mark.parametrize("command", ["eval", "run"])
def test_cli_bad_problem_through_the_executable(cli: dict[str, Result], command: str) -> None:
    r = cli[f"exec-bad-{command}-search_typo"]
    assert r.returncode == 2, (r.stdout, r.stderr)
    line = _error_line(r)
    assert [ln for ln in r.stderr.splitlines() if ln.strip()] == [line]
    assert str((r.folder / "problem.toml").resolve()) in line
    assert "search.iterationz" in line


@pytest.mark.parametrize("command", ["eval", "run"])
def test_cli_nonexistent_problem_name(cli: dict[str, Result], command: str) -> None:
    r = cli[f"nosuch-{command}"]
    assert r.returncode == 2
    line = _error_line(r)
    assert line.startswith("error: no_such_problem:")
    assert BUNDLED_NAME in line


@pytest.mark.parametrize("command", ["eval", "run"])
def test_cli_evaluator_raising_at_import(cli: dict[str, Result], command: str) -> None:
    r = cli[f"boom-{command}"]
    assert r.returncode == 2, (r.stdout, r.stderr)
    line = _error_line(r)
    assert "evaluator.py" in line
    assert "evaluator failed" in line
    assert "RuntimeError" in line
    assert "boom at import" in line


def test_cli_run_with_failing_evaluator_marks_the_run_failed(cli: dict[str, Result]) -> None:
    r = cli["boom-run"]
    store = Store(resolve_db_url(str(r.db)), must_exist=True)
    try:
        (info,) = [r.info for r in Reader(store.url).runs()]
        assert info.status == "failed"
        assert "boom at import" in info.message
    finally:
        store.close()


def test_cli_run_with_failing_initial_program(cli: dict[str, Result]) -> None:
    r = cli["initial-fails-run"]
    assert r.returncode == 2, (r.stdout, r.stderr)
    line = _error_line(r)
    assert "initial_program.py" in line
    assert "initial program fails" in line
    assert "initial program is broken" in line
    # the run is recorded as failed, with the initial program stored
    store = Store(resolve_db_url(str(r.db)), must_exist=True)
    try:
        (info,) = [r.info for r in Reader(store.url).runs()]
        assert info.status == "failed"
        assert "initial program is broken" in info.message
        (program,) = store.programs(info.id)
        assert program.iteration == 0
        assert program.status.value == "error"
        assert program.score is None
        assert program.code == (r.folder / "initial_program.py").read_text(encoding="utf-8")
    finally:
        store.close()
    # and the same seen through plain SQL
    with sqlite3.connect(r.db) as con:
        runs = con.execute("SELECT status FROM runs").fetchall()
        programs = con.execute("SELECT iteration FROM programs").fetchall()
    assert runs == [("failed",)]
    assert programs == [(0,)]


def test_cli_run_zero_iterations_stores_the_initial_program(cli: dict[str, Result]) -> None:
    r = cli["ok-run"]
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert not any(ln.startswith("error:") for ln in r.stderr.splitlines())
    data = json.loads(r.stdout)
    assert data["candidates"] == 0
    assert data["best"]["iteration"] == 0
    assert data["best"]["status"] == "ok"
    assert isinstance(data["best"]["score"], float)
    store = Store(resolve_db_url(str(r.db)), must_exist=True)
    try:
        (info,) = [r.info for r in Reader(store.url).runs()]
        assert info.id == data["run_id"]
        assert info.status == "completed"
        (program,) = store.programs(info.id)
        assert program.iteration == 0
        assert program.ok
        assert program.score == pytest.approx(data["best"]["score"])
        assert program.code == (BASE / "initial_program.py").read_text(encoding="utf-8")
    finally:
        store.close()


@pytest.mark.parametrize("form", ["folder", "toml", "bundled"])
def test_cli_eval_initial_program_ok(cli: dict[str, Result], form: str) -> None:
    r = cli[f"ok-eval-{form}"]
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["status"] == "ok"
    assert data["primary_metric"] == "value"
    assert isinstance(data["score"], float)
    assert data["score"] >= 0.0  # Levi N.13 is non-negative
    assert isinstance(data["metrics"], dict)
    assert data["metrics"]["value"] == pytest.approx(data["score"])
    for name in ("best_value", "distance", "reported_error"):
        assert isinstance(data["metrics"][name], float)
    assert data["reason"] == ""


def test_cli_eval_results_agree_across_spec_forms(cli: dict[str, Result]) -> None:
    scores = {
        json.loads(cli[f"ok-eval-{f}"].stdout)["score"] for f in ("folder", "toml", "bundled")
    }
    assert len(scores) == 1  # deterministic evaluator, same program


def test_cli_eval_raising_program_is_error_not_crash(cli: dict[str, Result]) -> None:
    r = cli["eval-raising"]
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["status"] == "error"
    assert data["score"] is None
    assert "candidate exploded" in data["reason"]


def test_cli_eval_slow_program_times_out(cli: dict[str, Result]) -> None:
    r = cli["eval-slow"]
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["status"] == "timeout"
    assert data["score"] is None
    assert data["seconds"] < 10


def test_cli_eval_missing_program_file(cli: dict[str, Result]) -> None:
    r = cli["eval-missing-program"]
    assert r.returncode == 2
    line = _error_line(r)
    assert "does_not_exist.py" in line


def test_cli_eval_with_misspelled_evaluator_function(cli: dict[str, Result]) -> None:
    r = cli["badfunc-eval"]
    assert r.returncode == 2, (r.stdout, r.stderr)
    line = _error_line(r)
    assert "evaluator.py" in line
    assert "'evaluat'" in line
    assert r.stdout == ""


def test_model_tables_take_strings_for_choices(tmp_path: Path) -> None:
    folder = make_problem(tmp_path, "models")
    with open(folder / "problem.toml", "a", encoding="utf-8") as f:
        f.write(
            '\n[[llm.models]]\nname = "openai/x"\nbase_url = "http://h/v1"\n'
            'mutation = "rewrite"\ntemperature = [0.2, 1.0]\nreasoning_effort = "low"\n'
        )
    problem = load_problem(str(folder))
    [m] = problem.config.llm.models
    assert m.mutation.value == "rewrite" and m.temperature == [0.2, 1.0]
    # The stored form of a config validates again (resume, replay).
    from evolve.problem import validate_config

    again = validate_config(problem.config.model_dump(mode="json"), problem.file)
    assert again == problem.config
