"""Hostile candidates against the real engine path: none of them gets a score it did not earn.

Every case evaluates a candidate with ``build_executor(problem, backend=...)`` on a copy of
a bundled problem (whose evaluators run the candidate through ``evolve.sdk.runner``), on the
``process`` backend (bubblewrap jail, pids cgroup) and on the ``docker`` backend. Each
candidate attacks, then returns the point (3, -2) or a known packing, so the outcome is
exact: the true score of that answer, or an error with its reason.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import textwrap
from pathlib import Path

import pytest

from evolve.core.status import Verdict
from evolve.evaluation.executor import Evaluation, build_executor
from evolve.problem import load_problem

PROBLEMS = Path(__file__).resolve().parent.parent / "problems"
BACKENDS = ("process", "docker")


def levi13(x: float, y: float) -> float:
    return (
        math.sin(3.0 * math.pi * x) ** 2
        + (x - 1.0) ** 2 * (1.0 + math.sin(3.0 * math.pi * y) ** 2)
        + (y - 1.0) ** 2 * (1.0 + math.sin(2.0 * math.pi * x) ** 2)
    )


TRUE = levi13(3.0, -2.0)  # what an honest (3, -2) scores; 0 is the best possible
GRID = 25 * 0.09 + 0.01  # the true sum of radii of PACKING's circles


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def evaluate(
    tmp_path: Path, backend: str, problem: str, code: str, **overrides: object
) -> Evaluation:
    folder = tmp_path / problem
    if not folder.exists():
        shutil.copytree(PROBLEMS / problem, folder)
    loaded = load_problem(str(folder), {f"sandbox.{k}": v for k, v in overrides.items()})
    executor = build_executor(loaded, backend=backend)

    async def once() -> Evaluation:
        try:
            return await executor.evaluate(textwrap.dedent(code))
        finally:
            await executor.close()

    return asyncio.run(once())


def minimize(attack: str, answer: str = "return (3.0, -2.0, 0.0)") -> str:
    """A function_minimization candidate: ``attack`` at import time, then ``answer``."""
    return f"{textwrap.dedent(attack)}\n\ndef run_search(seed):\n    {answer}\n"


def honest_ok(result: Evaluation) -> None:
    assert result.status is Verdict.OK, result.reason
    assert result.score == pytest.approx(TRUE, rel=1e-12)
    assert result.metrics["best_value"] == pytest.approx(TRUE, rel=1e-12)


# --- patching the libraries or the evaluator ---------------------------------------------


def test_patching_numpy_math_builtins_and_the_evaluator(tmp_path: Path, backend: str) -> None:
    code = minimize(
        """
        import builtins, gc, math, sys
        import numpy as np

        math.sin = lambda v: 0.0
        math.fsum = lambda values: 0.0
        np.sum = lambda *a, **k: 0.0
        np.sin = lambda v: 0.0
        builtins.abs = lambda v: 0.0
        builtins.min = lambda *a, **k: 0.0
        builtins.float = lambda *a: 0.0
        for module in list(sys.modules.values()):
            for name in ("levi13", "evaluate", "_real"):
                if hasattr(module, name):
                    setattr(module, name, lambda *a, **k: {"value": -1.0})
        for obj in gc.get_objects():
            if isinstance(obj, dict) and "levi13" in obj:
                obj["levi13"] = lambda x, y: -1.0
        """
    )
    honest_ok(evaluate(tmp_path, backend, "function_minimization", code))


def test_nan_answer_is_an_error(tmp_path: Path, backend: str) -> None:
    code = minimize("", "return (float('nan'), 1.0, -1e300)")
    result = evaluate(tmp_path, backend, "function_minimization", code)
    assert result.status is Verdict.ERROR and result.score is None
    assert result.reason == "ValueError: seed 0: x is not finite (nan)"


def test_lying_float_subclass_is_an_error(tmp_path: Path, backend: str) -> None:
    code = minimize(
        """
        class Liar(float):
            def __float__(self):
                return 1.0

            def __sub__(self, other):
                return 0.0
        """,
        "return (Liar(3.0), Liar(-2.0), 0.0)",
    )
    result = evaluate(tmp_path, backend, "function_minimization", code)
    assert result.status is Verdict.ERROR and result.score is None
    assert result.reason.startswith(
        "CallError: seed 0: run_search returned a Liar (a subclass of float)"
    )


def test_lying_array_subclass_gets_the_true_sum(tmp_path: Path, backend: str) -> None:
    code = """
        import numpy as np

        class Liar(np.ndarray):
            def sum(self, *args, **kwargs):
                return 100.0

            def tolist(self):
                return [0.5] * len(self)

            def __iter__(self):
                return iter([0.5] * len(self))

            def __getitem__(self, key):
                return 0.5

            def __array__(self, *args, **kwargs):
                return np.full(self.shape, 0.5)

        def run_packing():
            c = np.array([[0.1 + 0.2 * i, 0.1 + 0.2 * j] for i in range(5) for j in range(5)]
                         + [[0.2, 0.2]])
            r = np.full(26, 0.09)
            r[25] = 0.01
            return c.view(Liar), r.view(Liar), 100.0
        """
    result = evaluate(tmp_path, backend, "circle_packing", code)
    assert result.status is Verdict.OK, result.reason
    assert result.score == pytest.approx(GRID, rel=1e-12)
    assert result.metrics["max_radius"] == 0.09


def test_object_array_is_an_error(tmp_path: Path, backend: str) -> None:
    code = """
        import numpy as np

        def run_packing():
            return np.zeros((26, 2)), np.array([0.5] * 26, dtype=object), 100.0
        """
    result = evaluate(tmp_path, backend, "circle_packing", code)
    assert result.status is Verdict.ERROR and result.score is None
    assert result.reason.startswith(
        "CallError: run_packing returned an array of dtype object, which cannot travel"
    )


# --- files, output and the result channel ------------------------------------------------


def test_overwriting_the_evaluator_fails_and_changes_nothing(tmp_path: Path, backend: str) -> None:
    fake = repr('def evaluate(program_path):\n    return {"value": -1.0}\n')
    code = minimize(
        f"""
        import os, sys
        written = 0
        for folder in sys.path:
            path = os.path.join(folder, "evaluator.py")
            if os.path.isfile(path):
                try:
                    with open(path, "w") as fh:
                        fh.write({fake})
                    written += 1
                except OSError:
                    pass
        print("ATTACK evaluator files written:", written)
        """
    )
    evaluator = tmp_path / "function_minimization" / "evaluator.py"
    result = evaluate(tmp_path, backend, "function_minimization", code)
    honest_ok(result)
    assert "ATTACK evaluator files written: 0" in result.artifacts["stdout"]
    assert (
        evaluator.read_text() == (PROBLEMS / "function_minimization" / "evaluator.py").read_text()
    )
    again = evaluate(tmp_path, backend, "function_minimization", minimize(""))
    honest_ok(again)


def test_fake_results_on_stdout_in_files_and_on_every_fd(tmp_path: Path, backend: str) -> None:
    message = '{"kind": "ok", "metrics": {"value": -1.0}, "artifacts": {}}'
    code = minimize(
        f"""
        import os
        print('{message}')
        for name in (".evolve-result.json", "result.json", ".evolve-spec.json"):
            with open(name, "w") as fh:
                fh.write('{message}')
        """
    )
    result = evaluate(tmp_path, backend, "function_minimization", code)
    honest_ok(result)
    assert message in result.artifacts["stdout"]
    # Writing into its own answer channel only spoils its own answer.
    spoiler = minimize(
        f"""
        import os
        for fd in range(3, 1024):
            try:
                os.write(fd, b'{message}')
            except OSError:
                pass
        """
    )
    spoiled = evaluate(tmp_path, backend, "function_minimization", spoiler)
    assert spoiled.status is Verdict.ERROR and spoiled.score is None
    assert spoiled.reason.startswith(
        "CallError: seed 0: run_search's process sent a malformed answer"
    )


def test_writing_into_the_parents_pipes_through_proc(tmp_path: Path, backend: str) -> None:
    # The evaluator's (the harness's) descriptors, its result pipe among them, cannot be
    # opened; whatever else the candidate reaches (other processes' stdout) is not a score.
    message = '{"kind": "ok", "metrics": {"value": -1.0}, "artifacts": {}}'
    code = minimize(
        f"""
        import os
        parent, opened = os.getppid(), 0
        for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
            if int(pid) == os.getpid():
                continue  # its own answer channel: spoiling it only spoils its answer
            try:
                fds = os.listdir(f"/proc/{{pid}}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    out = os.open(f"/proc/{{pid}}/fd/{{fd}}", os.O_WRONLY | os.O_NONBLOCK)
                except OSError:
                    continue
                opened += int(pid) == parent
                try:
                    os.write(out, b'{message}')
                except OSError:
                    pass
                os.close(out)
        print("ATTACK parent fds opened:", opened)
        """
    )
    result = evaluate(tmp_path, backend, "function_minimization", code)
    honest_ok(result)
    assert "ATTACK parent fds opened: 0" in result.artifacts["stdout"]


# --- the evaluator's process --------------------------------------------------------------


def test_ptrace_and_proc_mem_of_the_evaluator_are_refused(tmp_path: Path, backend: str) -> None:
    code = minimize(
        """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        parent = os.getppid()
        attached = libc.ptrace(16, parent, 0, 0)  # PTRACE_ATTACH
        seized = libc.ptrace(0x4206, parent, 0, 0)  # PTRACE_SEIZE
        try:
            with open(f"/proc/{parent}/mem", "r+b") as fh:
                fh.seek(0x400000)
                fh.write(b"x")
            mem = "open"
        except OSError as exc:
            mem = type(exc).__name__
        try:
            open(f"/proc/{parent}/environ", "rb").read()
            environ = "read"
        except OSError as exc:
            environ = type(exc).__name__
        print("ATTACK ptrace", attached, seized, "mem", mem, "environ", environ)
        """
    )
    result = evaluate(tmp_path, backend, "function_minimization", code)
    honest_ok(result)
    assert (
        "ATTACK ptrace -1 -1 mem PermissionError environ PermissionError"
        in (result.artifacts["stdout"])
    )


def test_killing_the_evaluator_is_an_error(tmp_path: Path, backend: str) -> None:
    code = minimize("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
    result = evaluate(tmp_path, backend, "function_minimization", code)
    assert result.status is Verdict.ERROR and result.score is None
    assert "without reporting a result" in result.reason


def test_hanging_candidate_is_killed_within_the_evaluation_time(
    tmp_path: Path, backend: str
) -> None:
    code = minimize("", "while True: pass")
    result = evaluate(tmp_path, backend, "function_minimization", code, timeout=3.0)
    assert result.status is Verdict.TIMEOUT and result.score is None
    assert result.reason.endswith("s; the process group was killed")
    assert 3.0 <= result.seconds < 6.0


def test_daemon_left_by_one_call_is_gone_by_the_next(tmp_path: Path, backend: str) -> None:
    # Seed 0 leaves a daemon in a session of its own; later seeds would answer (1, 1), the
    # optimum, if it were still alive. It is not: every seed scores (3, -2).
    code = minimize(
        """
        import os, time

        def alive():
            try:
                pid = int(open("daemon.pid").read())
                os.kill(pid, 0)
                return True
            except (OSError, ValueError):
                return False

        def spawn():
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    with open("daemon.pid", "w") as fh:
                        fh.write(str(os.getpid()))
                    time.sleep(60)
                os._exit(0)
            time.sleep(0.3)
        """,
        "if seed == 0:\n        spawn()\n        return (3.0, -2.0, 0.0)\n"
        "    return (1.0, 1.0, 0.0) if alive() else (3.0, -2.0, 0.0)",
    )
    honest_ok(evaluate(tmp_path, backend, "function_minimization", code))


def test_forged_answer_with_a_pickle_is_refused(tmp_path: Path, backend: str) -> None:
    # The candidate forges the whole answer frame itself: an "array" that is really a
    # pickle (which would run code when loaded). It is read with allow_pickle=False.
    code = minimize(
        """
        import io, json, os, struct
        import numpy as np

        buffer = io.BytesIO()
        np.save(buffer, np.array([os.system], dtype=object), allow_pickle=True)
        blob = buffer.getvalue()
        head = json.dumps({"kind": "ok", "value": {"t": "array", "i": 0}}).encode()
        frame = b"EVW1" + struct.pack("<Q", len(head)) + head + struct.pack("<I", 1)
        frame += struct.pack("<Q", len(blob)) + blob
        for fd in map(int, os.listdir("/proc/self/fd")):
            try:
                if fd > 2 and os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:"):
                    os.write(fd, frame)
            except OSError:
                pass
        os._exit(0)
        """
    )
    result = evaluate(tmp_path, backend, "function_minimization", code)
    assert result.status is Verdict.ERROR and result.score is None
    assert result.reason == (
        "CallError: seed 0: run_search returned a value that cannot be read: malformed "
        "array: Object arrays cannot be loaded when allow_pickle=False"
    )


def test_function_runner_needs_only_the_standard_library(tmp_path: Path) -> None:
    # Evaluators import evolve.sdk inside minimal images (python3 + numpy): no
    # pydantic, no sqlalchemy. Run it with nothing but the repository on the path.
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    program = tmp_path / "p.py"
    program.write_text("def f(x):\n    return [x, (x, None), {'k': 1.5}]\n")
    check = (
        f"import sys; sys.path[:] = [{str(root)!r}] + [p for p in sys.path if 'site-packages' "
        "not in p and 'dist-packages' not in p]\n"
        "from evolve.sdk import call\n"
        f"print(call({str(program)!r}, 'f', 2))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('numpy', 'pydantic', 'sqlalchemy')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", check], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[2, (2, None), {'k': 1.5}]", "[]"]
