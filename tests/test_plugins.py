"""Evaluator plugins (command, function_cases, pytest, benchmark), resolved by name and run
through the real sandbox path, on honest, failing and hostile candidates."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from evolve.core.status import Verdict
from evolve.errors import UserError
from evolve.evaluation.executor import Evaluation, ProcessExecutor, build_executor
from evolve.problem import load_problem

PROGRAM = (
    '# EVOLVE-BLOCK-START\nX=3\n# EVOLVE-BLOCK-END\necho "log line"\necho "{\\"score\\": $X}"\n'
)


def _problem(tmp_path: Path, command: str, plugin: str = "command") -> Path:
    (tmp_path / "prog.sh").write_text(PROGRAM)
    (tmp_path / "problem.toml").write_text(
        'name = "cmd"\ninitial_program = "prog.sh"\n'
        f'[evaluator]\nplugin = "{plugin}"\nprimary_metric = "score"\n'
        f"[evaluator.options]\ncommand = '{command}'\n"
    )
    return tmp_path


def _evaluate(folder: Path, code: str):
    problem = load_problem(str(folder))
    executor = ProcessExecutor(problem.evaluator, problem.config.sandbox, "score", problem.language)
    return problem, asyncio.run(executor.evaluate(code))


def test_command_plugin_scores_a_shell_program(tmp_path: Path) -> None:
    problem, result = _evaluate(_problem(tmp_path, "sh {program}"), PROGRAM)
    assert problem.language == "shell" and problem.blocks.marked
    assert result.status is Verdict.OK and result.score == 3.0
    assert "log line" in result.artifacts["evaluator:command_stdout"]


def test_command_plugin_failures_are_candidate_errors(tmp_path: Path) -> None:
    folder = _problem(tmp_path, "sh {program}")
    _, failed = _evaluate(folder, "echo oops >&2; exit 4\n")
    assert failed.status is Verdict.ERROR and "code 4" in failed.reason and "oops" in failed.reason
    _, not_json = _evaluate(folder, "echo 'score: 3'\n")
    assert not_json.status is Verdict.ERROR and "not JSON" in not_json.reason


def test_unknown_plugin_names_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no evaluator plugin named 'nope'.*command"):
        load_problem(str(_problem(tmp_path, "sh {program}", plugin="nope")))


def test_third_party_plugin_by_entry_point(tmp_path: Path) -> None:
    """A plugin installed by someone else (a distribution with an ``evolve.evaluators``
    entry point) is found by name and runs in the sandbox, from the command line."""
    site = tmp_path / "site"
    (site / "lengthscore").mkdir(parents=True)
    (site / "lengthscore" / "__init__.py").write_text(
        "def score(program_path, unit=1.0):\n"
        "    text = open(program_path).read()\n"
        "    return {'score': len(text.splitlines()) * unit}\n"
    )
    info = site / "lengthscore-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lengthscore\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[evolve.evaluators]\nlines = lengthscore:score\n")
    folder = tmp_path / "problem"
    folder.mkdir()
    (folder / "prog.py").write_text("# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END\n")
    (folder / "problem.toml").write_text(
        'name = "ep"\ninitial_program = "prog.py"\n'
        '[evaluator]\nplugin = "lines"\nprimary_metric = "score"\n'
        "[evaluator.options]\nunit = 2.0\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    command = [
        sys.executable,
        "-m",
        "evolve.cli.main",
        "eval",
        str(folder),
        str(folder / "prog.py"),
    ]
    out = subprocess.run(
        [*command, "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["status"] == "ok" and data["score"] == 6.0  # 3 lines, unit 2
    listed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={k: v for k, v in env.items() if k != "PYTHONPATH"},
        check=False,
    )
    assert listed.returncode == 2 and "no evaluator plugin named 'lines'" in listed.stderr


# --- function_cases, pytest, benchmark: through the real sandbox path ----------------------

SOLVE = "# EVOLVE-BLOCK-START\ndef solve(a, b):\n    return a + b\n# EVOLVE-BLOCK-END\n"


def _python_problem(
    folder: Path, plugin: str, options: str, files: dict[str, str], metric: str = "score"
) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "initial.py").write_text(SOLVE)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))
    (folder / "problem.toml").write_text(
        f'name = "{plugin}_test"\ninitial_program = "initial.py"\n'
        f'[evaluator]\nplugin = "{plugin}"\nprimary_metric = "{metric}"\n'
        f"[sandbox]\ntimeout = 30.0\n[evaluator.options]\n{textwrap.dedent(options)}"
    )
    return folder


def _run(folder: Path, code: str) -> Evaluation:
    problem = load_problem(str(folder))
    executor = build_executor(problem, backend="process")
    return asyncio.run(executor.evaluate(textwrap.dedent(code)))


CASES = json.dumps(
    [
        {"args": [2, 3], "expected": 5, "name": "small"},
        {"args": [-1, 1], "expected": 0},
        {"args": [0.1, 0.2], "expected": 0.3},
        {"args": [[1], [2]], "expected": [1, 2]},
    ]
)


@pytest.fixture
def cases_problem(tmp_path: Path) -> Path:
    options = 'function = "solve"\ncases_file = "cases.json"\nabs_tol = 1e-12\ntimeout = 5.0\n'
    return _python_problem(tmp_path / "cases", "function_cases", options, {"cases.json": CASES})


def test_function_cases_all_correct(cases_problem: Path) -> None:
    result = _run(cases_problem, SOLVE)
    assert result.status is Verdict.OK, result.reason
    assert result.score == 1.0 and result.metrics["total"] == 4.0
    assert "evaluator:failures" not in result.artifacts


def test_function_cases_partly_wrong_lists_the_failures(cases_problem: Path) -> None:
    code = """
        def solve(a, b):
            if a == -1:
                raise ZeroDivisionError("no")
            if isinstance(a, float):
                return float("nan")
            return a + b
        """
    result = _run(cases_problem, code)
    assert result.status is Verdict.OK and result.score == 0.5
    failures = result.artifacts["evaluator:failures"].splitlines()
    assert failures == [
        "case 1: solve(-1, 1): solve raised ZeroDivisionError: no",
        "case 2: solve(0.1, 0.2) got nan, expected 0.3",
    ]


def test_function_cases_exact_without_tolerance(tmp_path: Path) -> None:
    options = 'function = "solve"\ncases = \'[{"args": [0.1, 0.2], "expected": 0.3}]\'\n'
    folder = _python_problem(tmp_path / "exact", "function_cases", options, {})
    result = _run(folder, SOLVE)
    assert result.status is Verdict.OK and result.score == 0.0
    assert "got 0.30000000000000004, expected 0.3" in result.artifacts["evaluator:failures"]


def test_function_cases_hostile_candidates(cases_problem: Path) -> None:
    # Patching the comparison in its own process, lying objects, hanging: no case passes
    # that should not.
    code = """
        import builtins, math, operator
        math.isclose = lambda *a, **k: True
        operator.eq = lambda a, b: True
        builtins.isinstance = lambda *a: True

        class Anything(int):
            def __eq__(self, other):
                return True

        def solve(a, b):
            if a == 2:
                return Anything(0)
            if a == -1:
                while True:
                    pass
            return {"answer": a + b}
        """
    result = _run(cases_problem, code)
    assert result.status is Verdict.OK and result.score == 0.0
    failures = result.artifacts["evaluator:failures"]
    assert "case 0 (small): solve(2, 3): solve returned a Anything (a subclass of int)" in failures
    assert "case 1: solve(-1, 1): solve did not return within 5s" in failures
    assert "case 2: solve(0.1, 0.2) got {'answer': 0.30000000000000004}" in failures


def test_function_cases_load_errors_are_errors(cases_problem: Path) -> None:
    missing = _run(cases_problem, "def other():\n    pass\n")
    assert missing.status is Verdict.ERROR
    assert missing.reason == (
        "CallError: the program defines no function 'solve' (define it, or check its name)"
    )
    broken = _run(cases_problem, "def solve(:\n")
    assert broken.status is Verdict.ERROR
    assert broken.reason.startswith("CallError: the program failed to load: SyntaxError")


def test_function_cases_missing_file_is_a_problem_error(tmp_path: Path) -> None:
    folder = _python_problem(
        tmp_path / "nofile", "function_cases", 'cases_file = "nope.json"\n', {}
    )
    with pytest.raises(
        UserError, match=r"evaluator\.options\.cases_file: file .*nope\.json does not exist"
    ):
        load_problem(str(folder))


TESTS = """
    import pytest

    def test_small(candidate):
        assert candidate.solve(2, 3) == 5

    def test_negative(candidate):
        assert candidate.solve(-1, 1) == 0

    @pytest.mark.parametrize("n", [1, 2, 3])
    def test_many(candidate, n):
        assert candidate.solve(n, n) == 2 * n

    def test_path(candidate_path):
        assert candidate_path.endswith("program.py")
    """


@pytest.fixture
def pytest_problem(tmp_path: Path) -> Path:
    options = 'test_file = "test_solution.py"\ncall_timeout = 5.0\n'
    return _python_problem(tmp_path / "pt", "pytest", options, {"test_solution.py": TESTS})


def test_pytest_plugin_all_pass(pytest_problem: Path) -> None:
    result = _run(pytest_problem, SOLVE)
    assert result.status is Verdict.OK, result.reason
    assert result.score == 1.0 and result.metrics["total"] == 6.0


def test_pytest_plugin_failures_are_shown(pytest_problem: Path) -> None:
    code = """
        def solve(a, b):
            if a < 0:
                raise ValueError("negative")
            return a + b if a != 2 else 0
        """
    result = _run(pytest_problem, code)
    assert result.status is Verdict.OK
    assert result.score == pytest.approx(3 / 6) and result.metrics["passed"] == 3.0
    failures = result.artifacts["evaluator:failures"]
    assert "test_solution.py::test_small (call)" in failures
    assert "test_solution.py::test_negative (call)" in failures
    assert "solve raised ValueError: negative" in failures
    assert "test_solution.py::test_many[2] (call)" in failures


def test_pytest_plugin_hostile_candidate(pytest_problem: Path) -> None:
    # It fakes pytest's report on stdout, patches pytest in its own process, tries the
    # parent's descriptors, and at the fifth test kills its parent, pytest: no pass is
    # gained, and the tests that never ran count as failed.
    code = """
        import os, sys
        print("6 passed in 0.01s")
        sys.modules.pop("pytest", None)
        for fd in os.listdir(f"/proc/{os.getppid()}/fd"):
            try:
                out = os.open(f"/proc/{os.getppid()}/fd/{fd}", os.O_WRONLY)
                os.write(out, b'{"event": "test", "id": "x", "when": "call", "outcome": "passed"}\\n')
            except OSError:
                pass

        def solve(a, b):
            if a == 3:
                os.kill(os.getppid(), 9)
            return -1
        """
    result = _run(pytest_problem, code)
    assert result.status is Verdict.OK, result.reason
    assert result.score == 0.0 and result.metrics["total"] == 6.0
    assert result.artifacts["evaluator:failures"].startswith(
        "pytest ended before finishing (exit code -9); the tests it did not run count as failed"
    )


def test_pytest_plugin_calls_share_what_is_left_of_the_evaluation(tmp_path: Path) -> None:
    # A call_timeout longer than the evaluation has: a hanging call is cut to what was left
    # of the evaluation when pytest started (the plugin tells pytest's process explicitly),
    # so pytest finishes, that test fails, and the evaluator reports in time instead of the
    # whole evaluation failing.
    tests = """
    def test_hangs(candidate):
        candidate.solve(1, 2)

    def test_path(candidate_path):
        assert candidate_path.endswith("program.py")
    """
    folder = _python_problem(
        tmp_path / "ph",
        "pytest",
        'test_file = "test_solution.py"\ncall_timeout = 100.0\n',
        {"test_solution.py": tests},
    )
    toml = folder / "problem.toml"
    toml.write_text(toml.read_text().replace("timeout = 30.0", "timeout = 10.0"))
    started = time.monotonic()
    result = _run(folder, "import time\n\ndef solve(a, b):\n    time.sleep(120)\n")
    assert result.status is Verdict.OK, result.reason
    assert result.score == 0.5 and result.metrics["total"] == 2.0
    assert "solve did not return within" in result.artifacts["evaluator:failures"]
    assert time.monotonic() - started < 10.0


def test_pytest_plugin_broken_test_file_is_an_error(tmp_path: Path) -> None:
    options = 'test_file = "test_broken.py"\n'
    folder = _python_problem(
        tmp_path / "pb", "pytest", options, {"test_broken.py": "import nope\n"}
    )
    result = _run(folder, SOLVE)
    assert result.status is Verdict.ERROR
    assert result.reason.startswith("RuntimeError: the test file did not collect")
    assert "fix the problem's tests" in result.reason


BASELINE = """
    def total(values):
        result = 0.0
        for v in values:
            result += v * v
        return result
    """


def _bench(tmp_path: Path, inputs: list, arrays: bool = False) -> Path:
    options = (
        'function = "total"\nbaseline_file = "baseline.py"\ninputs_file = "inputs.json"\n'
        f"repeats = 3\nrel_tol = 1e-9\narrays = {str(arrays).lower()}\ntimeout = 3.0\n"
    )
    files = {"baseline.py": BASELINE, "inputs.json": json.dumps(inputs)}
    return _python_problem(tmp_path / "bench", "benchmark", options, files, metric="speedup")


def test_benchmark_faster_candidate_scores_above_one(tmp_path: Path) -> None:
    folder = _bench(tmp_path, [[[float(i) for i in range(200000)]]], arrays=True)
    code = """
        import numpy as np

        def total(values):
            return float(np.dot(values, values))
        """
    result = _run(folder, code)
    assert result.status is Verdict.OK, result.reason
    assert result.score > 3.0
    assert result.metrics["baseline_seconds"] > result.metrics["candidate_seconds"]
    assert "input 0: baseline" in result.artifacts["evaluator:timings"]


def test_benchmark_same_code_is_about_even(tmp_path: Path) -> None:
    folder = _bench(tmp_path, [[[float(i) for i in range(100000)]]])
    result = _run(folder, BASELINE)
    assert result.status is Verdict.OK, result.reason
    assert 0.4 < result.score < 2.5


def test_benchmark_wrong_answer_is_an_error(tmp_path: Path) -> None:
    folder = _bench(tmp_path, [[[1.0, 2.0]], [[3.0]]])
    code = """
        import time
        time.perf_counter = lambda: 0.0
        time.monotonic = lambda: 0.0

        def total(values):
            return 5.0 if len(values) == 2 else 0.0
        """
    result = _run(folder, code)
    assert result.status is Verdict.ERROR and result.score is None
    assert result.reason == (
        "ValueError: input 1: total's answer differs from the baseline's: got 0.0, expected 9.0"
    )


def test_benchmark_hanging_candidate_is_an_error(tmp_path: Path) -> None:
    folder = _bench(tmp_path, [[[1.0]]])
    result = _run(folder, "def total(values):\n    while True:\n        pass\n")
    assert result.status is Verdict.ERROR
    assert result.reason.startswith("CallError: input 0: total did not return within")
