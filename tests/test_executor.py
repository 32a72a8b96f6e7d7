"""Tests for the executor on both sandbox backends, the sandbox harness and the GPU pool.

Every evaluation really runs: ``evolve/sdk/harness.py`` in a jailed child process group (the
``process`` backend) or in a container (``docker``), with an evaluator written into
``tmp_path`` that runs the candidate and returns its metrics. Each test that takes
``make_executor`` runs on both backends, except those about the bubblewrap jail
(``PROCESS_ONLY``); after a docker test, every container it made is checked, from
outside, to be gone with all its processes. Docker-only cases are in ``test_docker.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import CUDA_PROBE, GpuHost

from evolve.config import DockerConfig, SandboxConfig
from evolve.core.status import Verdict
from evolve.evaluation.backend import RawOutcome
from evolve.evaluation.executor import (
    Evaluation,
    ProcessExecutor,
    SandboxExecutor,
    cascade,
    judge,
)
from evolve.evaluation.gpus import GpuPool
from evolve.problem import EvaluatorTarget
from evolve.sdk.protocol import HarnessMessage, Kind

# The candidate defines ``run()``; the evaluator runs the file and returns what run() returns
# (a dict of metrics or an EvaluationResult).
RUNNER = """
import runpy

def evaluate(program_path):
    namespace = runpy.run_path(program_path, run_name="candidate")
    return namespace["run"]()
"""

MakeExecutor = Callable[..., SandboxExecutor]

BACKENDS = ("process", "docker")
PROCESS_ONLY = pytest.mark.parametrize("backend", ["process"])
"""For tests of the process backend's own jail (bubblewrap, its pids cgroup)."""


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_executor(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> Iterator[MakeExecutor]:
    counter = iter(range(1000))
    made: list[SandboxExecutor] = []
    if backend == "docker":  # torn down after this fixture: once its executors are closed
        request.getfixturevalue("no_containers_left")
        tmp_path.chmod(0o755)  # pytest makes it private; the container's user must read it

    def make(
        evaluator: str = RUNNER,
        *,
        function: str = "evaluate",
        gpu_pool: GpuPool | None = None,
        hidden: tuple[Path, ...] = (),
        **sandbox: object,
    ) -> SandboxExecutor:
        path = tmp_path / f"evaluator_{next(counter)}.py"
        path.write_text(textwrap.dedent(evaluator), encoding="utf-8")
        sandbox.setdefault("timeout", 20.0)
        sandbox.setdefault("memory_mb", 1024)
        target = EvaluatorTarget(function=function, path=path)
        pool = gpu_pool if gpu_pool is not None else GpuPool([])
        if backend == "process":
            executor: SandboxExecutor = ProcessExecutor(
                target,
                SandboxConfig(**sandbox),
                primary_metric="score",
                gpu_pool=pool,
                hidden=hidden,
            )
        else:
            from evolve.evaluation.docker_backend import DockerBackend

            config = SandboxConfig(backend="docker", docker=DockerConfig(warm=1), **sandbox)
            executor = SandboxExecutor(
                DockerBackend(target, config, "python", hidden),
                config,
                "score",
                cascade(function, config),
                gpu_pool=pool,
            )
        made.append(executor)
        return executor

    yield make
    for executor in made:
        asyncio.run(executor.close())


def evaluate(executor: SandboxExecutor, code: str) -> Evaluation:
    return asyncio.run(executor.evaluate(textwrap.dedent(code)))


def timed(executor: SandboxExecutor, code: str) -> tuple[Evaluation, float]:
    start = time.monotonic()
    result = evaluate(executor, code)
    return result, time.monotonic() - start


# --- the ordinary path ------------------------------------------------------------------


def test_ok_dict_of_metrics(make_executor: MakeExecutor) -> None:
    result = evaluate(
        make_executor(),
        """
        def run():
            return {"score": 2.5, "speed": 7, "valid": True}
        """,
    )
    assert result.status is Verdict.OK, result.reason
    assert result.score == 2.5
    assert result.metrics == {"score": 2.5, "speed": 7.0, "valid": 1.0}
    assert result.reason == ""
    assert result.seconds > 0


def test_evaluation_result_artifacts_and_captured_output(make_executor: MakeExecutor) -> None:
    result = evaluate(
        make_executor(),
        """
        import sys
        from evolve import EvaluationResult

        def run():
            print("hello from stdout")
            print("warning on stderr", file=sys.stderr)
            return EvaluationResult(
                metrics={"score": 1.0}, artifacts={"feedback": "try harder", "n": 3}
            )
        """,
    )
    assert result.status is Verdict.OK, result.reason
    assert result.score == 1.0
    assert result.artifacts["evaluator:feedback"] == "try harder"
    assert result.artifacts["evaluator:n"] == "3"
    assert "hello from stdout" in result.artifacts["stdout"]
    assert "warning on stderr" in result.artifacts["stderr"]
    assert "feedback" not in result.artifacts


def test_evaluator_options_are_passed(tmp_path: Path) -> None:
    path = tmp_path / "opts.py"
    path.write_text("def evaluate(program_path, factor):\n    return {'score': factor * 2}\n")
    executor = ProcessExecutor(
        EvaluatorTarget(function="evaluate", path=path, options=(("factor", 21),)),
        SandboxConfig(timeout=20.0, memory_mb=1024),
        primary_metric="score",
        gpu_pool=GpuPool([]),
    )
    result = evaluate(executor, "x = 1\n")
    assert result.status is Verdict.OK, result.reason
    assert result.score == 42.0


# --- failures of the candidate -----------------------------------------------------------


def test_program_raises(make_executor: MakeExecutor) -> None:
    result = evaluate(
        make_executor(),
        """
        def run():
            raise ValueError("the candidate is broken")
        """,
    )
    assert result.status is Verdict.ERROR
    assert result.score is None
    assert "ValueError" in result.reason
    assert "the candidate is broken" in result.reason
    assert "Traceback" in result.artifacts["traceback"]
    assert "the candidate is broken" in result.artifacts["traceback"]


def test_program_raises_at_import(make_executor: MakeExecutor) -> None:
    result = evaluate(make_executor(), "raise RuntimeError('top level boom')\n")
    assert result.status is Verdict.ERROR
    assert "top level boom" in result.reason


def test_program_calls_sys_exit(make_executor: MakeExecutor) -> None:
    result = evaluate(
        make_executor(),
        """
        import sys

        def run():
            sys.exit(3)
        """,
    )
    assert result.status is Verdict.ERROR
    assert result.score is None
    assert "SystemExit" in result.reason
    assert "3" in result.reason


def test_program_os_exit_before_returning(make_executor: MakeExecutor) -> None:
    result = evaluate(
        make_executor(),
        """
        import os

        def run():
            os._exit(0)
        """,
    )
    assert result.status is Verdict.ERROR
    assert result.score is None
    assert "without reporting a result" in result.reason
    assert "code 0" in result.reason


def test_segfault(make_executor: MakeExecutor) -> None:
    result = evaluate(
        make_executor(),
        """
        import ctypes

        def run():
            ctypes.string_at(0)
            return {"score": 1.0}
        """,
    )
    assert result.status is Verdict.ERROR
    assert result.score is None
    assert "SIGSEGV" in result.reason


def test_evaluator_returns_wrong_type(make_executor: MakeExecutor) -> None:
    result = evaluate(make_executor(), "def run():\n    return [1, 2, 3]\n")
    assert result.status is Verdict.ERROR
    assert "list" in result.reason


# --- time limits and leftover processes ------------------------------------------------


def test_infinite_loop_times_out(make_executor: MakeExecutor) -> None:
    result, elapsed = timed(
        make_executor(timeout=1.0),
        """
        def run():
            while True:
                pass
        """,
    )
    assert result.status is Verdict.TIMEOUT
    assert result.score is None
    assert "timed out" in result.reason
    assert 1.0 <= elapsed < 1.0 + 2.5


def test_loop_ignoring_sigterm_is_killed(make_executor: MakeExecutor) -> None:
    result, elapsed = timed(
        make_executor(timeout=1.0),
        """
        import signal

        def run():
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            while True:
                pass
        """,
    )
    assert result.status is Verdict.TIMEOUT
    assert elapsed < 1.0 + 2.5


def sleeper_arg() -> str:
    """A unique ``sleep`` duration: the mark by which the host finds a candidate's child
    (pid numbers inside the sandbox's PID namespace mean nothing outside)."""
    return f"{300 + random.random():.9f}"


def pids_running(arg: str) -> list[int]:
    """Processes on the host whose command line has ``arg``, looked up from outside."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parts = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if arg.encode() in parts and state != "Z":
            found.append(int(entry.name))
    return found


def wait_all_gone(arg: str, seconds: float = 2.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and pids_running(arg):
        time.sleep(0.05)
    return pids_running(arg)


@pytest.fixture
def sleeper() -> Iterator[str]:
    arg = sleeper_arg()
    yield arg
    for pid in pids_running(arg):  # a failing test must not leave it behind
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def test_timeout_kills_children(make_executor: MakeExecutor, sleeper: str) -> None:
    result, elapsed = timed(
        make_executor(timeout=1.5),
        f"""
        import subprocess, sys, time

        def run():
            child = subprocess.Popen(["sleep", {sleeper!r}])
            print("spawned", child.pid, flush=True)
            while True:
                time.sleep(0.01)
        """,
    )
    assert result.status is Verdict.TIMEOUT
    assert "spawned" in result.artifacts.get("stdout", ""), result.artifacts
    assert elapsed < 1.5 + 2.5
    assert not wait_all_gone(sleeper), "a child of a timed-out evaluation is still running"


def test_leftover_child_with_own_output_is_killed(
    make_executor: MakeExecutor, sleeper: str
) -> None:
    result, elapsed = timed(
        make_executor(timeout=10.0),
        f"""
        import subprocess

        def run():
            child = subprocess.Popen(
                ["sleep", {sleeper!r}], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            return {{"score": 1.0, "child": child.pid}}
        """,
    )
    assert result.status is Verdict.OK, result.reason
    assert result.metrics["child"] > 0
    assert elapsed < 5.0
    assert not wait_all_gone(sleeper), "a child left behind by the evaluation is still running"


def test_leftover_child_sharing_output_is_killed_and_result_kept(
    make_executor: MakeExecutor, sleeper: str
) -> None:
    """A candidate that returns while a child (inheriting stdout/stderr) still runs: the
    result it reported counts, the evaluation ends promptly, and the child is killed."""
    result, elapsed = timed(
        make_executor(timeout=5.0),
        f"""
        import subprocess

        def run():
            child = subprocess.Popen(["sleep", {sleeper!r}])
            return {{"score": 1.0, "child": child.pid}}
        """,
    )
    assert not wait_all_gone(sleeper), "a child left behind by the evaluation is still running"
    assert result.status is Verdict.OK, result.reason
    assert result.metrics["child"] > 0
    assert elapsed < 4.0


def test_double_forked_daemon_is_killed(make_executor: MakeExecutor, sleeper: str) -> None:
    result = evaluate(
        make_executor(timeout=5.0),
        f"""
        import os, subprocess

        def run():
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    subprocess.Popen(["sleep", {sleeper!r}], start_new_session=True)
                os._exit(0)
            os.wait()
            return {{"score": 1.0}}
        """,
    )
    assert result.status is Verdict.OK, result.reason
    assert not wait_all_gone(sleeper, 3.0), "a double-forked daemon survived the evaluation"


# --- memory and output ---------------------------------------------------------------------


def test_memory_limit(make_executor: MakeExecutor) -> None:
    result = evaluate(
        make_executor(memory_mb=256),
        """
        def run():
            block = bytearray(2 * 1024 ** 3)
            return {"score": float(len(block))}
        """,
    )
    assert result.status is Verdict.ERROR
    assert result.score is None
    assert result.reason == "out of memory (limit 256 MB)"
    # evolve itself is fine: the next evaluation works
    again = evaluate(make_executor(memory_mb=256), "def run():\n    return {'score': 1}\n")
    assert again.status is Verdict.OK, again.reason


def test_output_is_capped(make_executor: MakeExecutor) -> None:
    cap = 64 * 1024
    result, elapsed = timed(
        make_executor(max_output_bytes=cap, timeout=30.0),
        """
        import sys

        def run():
            chunk = "x" * (1 << 20)
            for _ in range(50):
                sys.stdout.write(chunk)
                sys.stderr.write(chunk)
            return {"score": 1.0}
        """,
    )
    assert result.status is Verdict.OK, result.reason
    assert elapsed < 10.0
    for stream in ("stdout", "stderr"):
        text = result.artifacts[stream]
        assert text.startswith("x" * 1000)
        assert len(text) <= cap + 100
        assert "more bytes not kept" in text


def test_a_gigabyte_of_output_is_drained_and_capped(make_executor: MakeExecutor) -> None:
    cap = 64 * 1024
    result, elapsed = timed(
        make_executor(max_output_bytes=cap, timeout=60.0),
        """
        import sys

        def run():
            chunk = b"y" * (1 << 20)
            for _ in range(1024):
                sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            return {"score": 1.0}
        """,
    )
    assert result.status is Verdict.OK, result.reason
    assert elapsed < 30.0
    text = result.artifacts["stdout"]
    assert text.startswith("y" * cap)
    assert text.endswith(f"[... {(1 << 30) - cap} more bytes not kept]")


# --- environment -------------------------------------------------------------------------

ENV_PROBE = """
import os
from evolve import EvaluationResult

def run():
    leaked = [k for k in ("OPENAI_API_KEY", "MY_SECRET_TOKEN") if k in os.environ]
    with open("scratch.txt", "w") as fh:
        fh.write("written in the working directory")
    return EvaluationResult(
        metrics={"score": 1.0 if leaked else 0.0},
        artifacts={
            "keys": ",".join(sorted(os.environ)),
            "values": "\\n".join(os.environ.values()),
            "home": os.environ.get("HOME", ""),
            "cwd": os.getcwd(),
            "cuda": repr(os.environ.get("CUDA_VISIBLE_DEVICES")),
        },
    )
"""


def test_environment_is_scrubbed(
    make_executor: MakeExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-test-secret-123456789012345"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("MY_SECRET_TOKEN", "token-abcdef-987654")
    result = evaluate(make_executor(), ENV_PROBE)
    assert result.status is Verdict.OK, result.reason
    assert result.score == 0.0, result.artifacts["evaluator:keys"]
    keys = result.artifacts["evaluator:keys"].split(",")
    assert "OPENAI_API_KEY" not in keys
    assert "MY_SECRET_TOKEN" not in keys
    everything = "\n".join(result.artifacts.values())
    assert secret not in everything
    assert "token-abcdef-987654" not in everything


@PROCESS_ONLY
def test_home_and_cwd_private_and_removed(make_executor: MakeExecutor) -> None:
    result = evaluate(make_executor(), ENV_PROBE)
    assert result.status is Verdict.OK, result.reason
    home = Path(result.artifacts["evaluator:home"])
    cwd = Path(result.artifacts["evaluator:cwd"])
    assert home == cwd
    assert cwd != Path.cwd()
    assert cwd != Path.home()
    assert cwd.parent == Path(tempfile.gettempdir())
    assert not cwd.exists(), "the evaluation's working directory was left behind"


def test_no_gpus_means_empty_cuda_visible_devices(
    make_executor: MakeExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    result = evaluate(make_executor(gpus=0), ENV_PROBE)
    assert result.status is Verdict.OK, result.reason
    assert result.artifacts["evaluator:cuda"] == repr("")


# --- judging metrics -----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["float('nan')", "float('inf')", "float('-inf')"])
def test_primary_not_finite(make_executor: MakeExecutor, value: str) -> None:
    result = evaluate(make_executor(), f"def run():\n    return {{'score': {value}, 'x': 1}}\n")
    assert result.status is Verdict.ERROR
    assert result.score is None
    assert "score" in result.reason
    assert ("nan" in result.reason) or ("inf" in result.reason)


def test_missing_primary_names_returned_metrics(make_executor: MakeExecutor) -> None:
    result = evaluate(make_executor(), "def run():\n    return {'accuracy': 0.5, 'loss': 2.0}\n")
    assert result.status is Verdict.ERROR
    assert result.score is None
    assert "'score'" in result.reason
    assert "accuracy" in result.reason and "loss" in result.reason


def test_primary_not_a_number(make_executor: MakeExecutor) -> None:
    result = evaluate(make_executor(), "def run():\n    return {'score': 'excellent'}\n")
    assert result.status is Verdict.ERROR
    assert result.score is None
    assert "not a number" in result.reason
    assert "score" in result.reason


def test_secondary_not_a_number_goes_to_artifacts(make_executor: MakeExecutor) -> None:
    result = evaluate(
        make_executor(), "def run():\n    return {'score': 3, 'label': 'fast', 'n': [1, 2]}\n"
    )
    assert result.status is Verdict.OK, result.reason
    assert result.score == 3.0
    assert result.metrics == {"score": 3.0}
    assert "not a number" in result.artifacts["metric:label"]
    assert "fast" in result.artifacts["metric:label"]
    assert "metric:n" in result.artifacts


def test_secondary_nan_is_kept_as_nan(make_executor: MakeExecutor) -> None:
    result = evaluate(make_executor(), "def run():\n    return {'score': 1, 'aux': float('nan')}\n")
    assert result.status is Verdict.OK, result.reason
    assert result.metrics["aux"] != result.metrics["aux"]


def test_numpy_scalars_accepted(make_executor: MakeExecutor) -> None:
    result = evaluate(
        make_executor(),
        """
        import numpy as np

        def run():
            return {
                "score": np.float32(0.5),
                "count": np.int64(7),
                "flag": np.bool_(True),
                "zero_d": np.array(2.25),
                "f64": np.float64(1.5),
            }
        """,
    )
    assert result.status is Verdict.OK, result.reason
    assert result.score == 0.5
    assert result.metrics == {"score": 0.5, "count": 7.0, "flag": 1.0, "zero_d": 2.25, "f64": 1.5}
    assert all(type(v) is float for v in result.metrics.values())


def test_judge_directly() -> None:
    message = HarnessMessage(Kind.OK, {"score": 2.0})
    ok = judge(RawOutcome(message, "", "e"), "score", 1.0)
    assert ok.status is Verdict.OK and ok.score == 2.0
    assert ok.artifacts == {"stderr": "e"}
    nothing = judge(RawOutcome(HarnessMessage.received(b"", 0)), "score", 0.5)
    assert nothing.status is Verdict.ERROR
    assert nothing.reason == "the evaluation exited with code 0 without reporting a result"
    timeout = judge(RawOutcome(HarnessMessage.timeout()), "score", 3.0)
    assert timeout.status is Verdict.TIMEOUT and timeout.score is None
    memory = judge(RawOutcome(HarnessMessage.out_of_memory()), "score", 1.0, memory_mb=64)
    assert memory.status is Verdict.ERROR and memory.reason == "out of memory (limit 64 MB)"


# --- broken evaluators ---------------------------------------------------------------------


def test_evaluator_syntax_error(make_executor: MakeExecutor) -> None:
    result = evaluate(make_executor("def evaluate(path)\n    return {}\n"), "x = 1\n")
    assert result.status is Verdict.EVALUATOR_ERROR
    assert "SyntaxError" in result.reason


def test_evaluator_raises_at_import(make_executor: MakeExecutor) -> None:
    result = evaluate(
        make_executor("raise ImportError('no such dependency')\ndef evaluate(p):\n    return {}\n"),
        "x = 1\n",
    )
    assert result.status is Verdict.EVALUATOR_ERROR
    assert "no such dependency" in result.reason


def test_evaluator_lacks_function(make_executor: MakeExecutor) -> None:
    result = evaluate(make_executor(RUNNER, function="score_it"), "x = 1\n")
    assert result.status is Verdict.EVALUATOR_ERROR
    assert "score_it" in result.reason


# --- network -------------------------------------------------------------------------------

CONNECT = """
import socket

def run():
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    except OSError as exc:
        return {{"score": 0.0, "errno": float(exc.errno or -1)}}
    return {{"score": 1.0}}
"""


def _unshare_works() -> bool:
    tool = shutil.which("unshare")
    if tool is None:
        return False
    try:
        return (
            subprocess.run(
                [tool, "--net", "--", "true"], capture_output=True, timeout=10
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture
def tcp_port() -> Iterator[int]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


def test_network_is_cut_off(make_executor: MakeExecutor, tcp_port: int, backend: str) -> None:
    executor = make_executor()
    if backend == "process" and not _unshare_works():
        assert "network" in executor.backend.lost  # the run is warned
        return
    result = evaluate(executor, CONNECT.format(port=tcp_port))
    assert result.status is Verdict.OK, result.reason
    assert result.score == 0.0, "the candidate reached a server on the host's loopback"


@PROCESS_ONLY
def test_network_allowed_when_configured(make_executor: MakeExecutor, tcp_port: int) -> None:
    executor = make_executor(network=True)
    result = evaluate(executor, CONNECT.format(port=tcp_port))
    assert result.status is Verdict.OK, result.reason
    assert result.score == 1.0


# --- concurrency -------------------------------------------------------------------------


def test_concurrent_evaluations_do_not_interfere(make_executor: MakeExecutor, backend: str) -> None:
    executor = make_executor()
    template = """
import os, time
from evolve import EvaluationResult

def run():
    with open("mine.txt", "w") as fh:
        fh.write("{n}")
    time.sleep(0.3)
    print("candidate {n}")
    with open("mine.txt") as fh:
        seen = float(fh.read())
    return EvaluationResult(metrics={{"score": seen}}, artifacts={{"cwd": os.getcwd()}})
"""

    async def main() -> list[Evaluation]:
        return await asyncio.gather(*(executor.evaluate(template.format(n=n)) for n in range(4)))

    results = asyncio.run(main())
    assert [r.status for r in results] == [Verdict.OK] * 4, [r.reason for r in results]
    assert [r.score for r in results] == [0.0, 1.0, 2.0, 3.0]
    assert [r.artifacts["stdout"].strip() for r in results] == [f"candidate {n}" for n in range(4)]
    folders = {r.artifacts["evaluator:cwd"] for r in results}
    # process: a folder each; docker: each its own /scratch, in a container of its own
    assert (folders == {"/scratch"}) if backend == "docker" else (len(folders) == 4)


# --- GPUs ----------------------------------------------------------------------------------


def test_gpu_pool_leases_are_disjoint() -> None:
    pool = GpuPool([0, 1, 2, 3])
    held: set[int] = set()
    seen: list[list[int]] = []
    peak = 0

    async def worker(k: int) -> None:
        nonlocal peak
        for _ in range(3):
            async with pool.lease(2) as devices:
                assert len(devices) == 2
                assert len(set(devices)) == 2
                assert not held & set(devices), f"{devices} already held: {held}"
                held.update(devices)
                peak = max(peak, len(held))
                seen.append(list(devices))
                await asyncio.sleep(0.01 * (k % 3 + 1))
                held.difference_update(devices)

    async def main() -> None:
        await asyncio.gather(*(worker(k) for k in range(5)))

    asyncio.run(main())
    assert len(seen) == 15
    assert peak == 4
    assert not held
    assert all(set(d) <= {0, 1, 2, 3} for d in seen)
    assert sorted(pool._free) == [0, 1, 2, 3]


def test_gpu_pool_zero_and_too_many() -> None:
    pool = GpuPool([0, 1])

    async def main() -> list[int]:
        async with pool.lease(0) as devices:
            none = devices
        with pytest.raises(ValueError, match="3 GPUs"):
            async with pool.lease(3):
                pass
        return none

    assert asyncio.run(main()) == []
    assert GpuPool([]).size == 0


def test_gpu_pool_detect_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOLVE_GPUS", "2, 5")
    assert GpuPool.detect().size == 2
    monkeypatch.setenv("EVOLVE_GPUS", "")
    assert GpuPool.detect().size == 0


def test_gpus_requested_but_none_available(make_executor: MakeExecutor) -> None:
    executor = make_executor(gpus=1, gpu_pool=GpuPool([]))
    result = evaluate(executor, "def run():\n    return {'score': 1.0}\n")
    assert result.status is Verdict.ERROR
    assert result.score is None
    assert "GPU" in result.reason


@PROCESS_ONLY
def test_gpu_lease_is_visible_to_candidate(make_executor: MakeExecutor) -> None:
    executor = make_executor(gpus=1, gpu_pool=GpuPool([3]))
    result = evaluate(executor, ENV_PROBE)
    assert result.status is Verdict.OK, result.reason
    assert result.artifacts["evaluator:cuda"] == repr("3")
    assert "PCI_BUS_ID" in result.artifacts["evaluator:values"].splitlines()  # nvidia-smi's order


@PROCESS_ONLY
def test_gpu_evaluation_reaches_exactly_its_leased_gpu(
    make_executor: MakeExecutor, gpu_host: GpuHost
) -> None:
    """With GPUs here: the candidate's CUDA calls reach the GPU leased to it, and no other.
    Without: the pool is empty and the evaluation fails with the reason, never on the CPU."""
    if not gpu_host.has_gpus:
        executor = make_executor(gpus=1, gpu_pool=gpu_host.pool(), memory_mb=4096)
        result = evaluate(executor, CUDA_PROBE)
        assert result.status is Verdict.ERROR and result.score is None
        assert "asks for 1 GPU(s) per evaluation but 0 are visible" in result.reason
        return
    last = gpu_host.gpus[-1]  # not GPU 0 by default: the lease must be what picks it
    executor = make_executor(gpus=1, gpu_pool=GpuPool([last.index]), memory_mb=4096)
    result = evaluate(executor, CUDA_PROBE)
    assert result.status is Verdict.OK, (result.reason, result.artifacts)
    assert result.metrics["count"] == 1.0
    assert result.metrics["bytes"] > 0
    assert result.artifacts["evaluator:visible"] == str(last.index)
    assert result.artifacts["evaluator:uuid"] == last.uuid


def test_gpu_device_files_are_this_machines(gpu_host: GpuHost) -> None:
    """What the bubblewrap jail binds for a GPU evaluation: everything libcuda opens
    (nvidiactl, nvidia-uvm, the GPUs' files), or, without GPUs, nothing of NVIDIA's."""
    from evolve.evaluation import jail

    nvidia = [p for p in jail.gpu_device_files() if p.name.startswith("nvidia")]
    if not gpu_host.has_gpus:
        assert nvidia == []
        return
    names = {p.name for p in nvidia}
    assert "nvidiactl" in names
    assert set(gpu_host.device_files) <= set(nvidia)
    if Path("/dev/nvidia-uvm").exists():
        assert "nvidia-uvm" in names
    cmd = jail.Jail("bwrap").wrap(["python"], Path("/tmp/x"), network=False, gpus=True)
    for device in nvidia:
        i = cmd.index(str(device))
        assert cmd[i - 1] == "--dev-bind" and cmd[i + 1] == str(device)


# --- what a candidate can see (the bubblewrap jail; .ci/run installs bubblewrap) ------------

READ = """
def run():
    try:
        with open({path!r}, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return {{"score": -1.0, "errno": exc.errno}}
    return {{"score": float(len(data))}}
"""

WRITE = """
def run():
    try:
        with open({path!r}, "w") as fh:
            fh.write("pwned")
    except OSError as exc:
        return {{"score": -1.0, "errno": exc.errno}}
    return {{"score": 1.0}}
"""


@PROCESS_ONLY
def test_the_jail_is_bubblewrap_here(make_executor: MakeExecutor) -> None:
    assert make_executor().jail.kind == "bwrap", "install bubblewrap (apt-get install bubblewrap)"


def test_home_is_out_of_sight(make_executor: MakeExecutor) -> None:
    secret = Path.home() / f".evolve-secret-{os.getpid()}"
    secret.write_text("AWS_SECRET=hunter2")
    try:
        result = evaluate(make_executor(), READ.format(path=str(secret)))
    finally:
        secret.unlink()
    assert result.status is Verdict.OK, result.reason
    assert result.score == -1.0


@PROCESS_ONLY
def test_project_folder_and_run_database_are_out_of_sight(
    make_executor: MakeExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("private")
    monkeypatch.chdir(project)
    executor = make_executor()
    assert evaluate(executor, READ.format(path=str(project / "notes.txt"))).score == -1.0
    # The database beside the evaluator (a folder the evaluation must see): masked.
    database = tmp_path / "evolve.db"
    database.write_bytes(b"SQLite format 3\0" + b"x" * 100)
    masked = make_executor(hidden=(database,))
    assert evaluate(masked, READ.format(path=str(database))).score <= 0  # no byte of it
    assert evaluate(make_executor(), READ.format(path=str(database))).score > 0


@PROCESS_ONLY
def test_writes_outside_the_scratch_folder_go_nowhere(
    make_executor: MakeExecutor, tmp_path: Path
) -> None:
    executor = make_executor()
    beside = tmp_path / "evaluator_0.py"  # the evaluator's own file: read-only
    original = beside.read_text()
    result = evaluate(executor, WRITE.format(path=str(beside)))
    assert result.score == -1.0 and beside.read_text() == original
    assert evaluate(executor, WRITE.format(path="/etc/evolve-pwned")).score == -1.0
    assert not Path("/etc/evolve-pwned").exists()
    # /tmp inside is the sandbox's own: a write there never reaches the host.
    target = f"/tmp/evolve-pwned-{os.getpid()}"
    assert evaluate(executor, WRITE.format(path=target)).score == 1.0
    assert not Path(target).exists()


def test_other_processes_are_out_of_sight(make_executor: MakeExecutor) -> None:
    result = evaluate(
        make_executor(),
        """
        import os

        def run():
            return {"score": float(len([p for p in os.listdir("/proc") if p.isdigit()]))}
        """,
    )
    assert result.status is Verdict.OK, result.reason
    assert result.score <= 4  # the sandbox's own few, not the host's


def test_gpu_evaluations_get_the_device_files(monkeypatch: pytest.MonkeyPatch) -> None:
    from evolve.evaluation import jail

    fake = [Path("/dev/nvidia0"), Path("/dev/nvidiactl"), Path("/dev/nvidia-uvm")]
    monkeypatch.setattr(jail, "gpu_device_files", lambda: fake)
    cmd = jail.Jail("bwrap").wrap(["python"], Path("/tmp/x"), network=False, gpus=True)
    for device in fake:
        i = cmd.index(str(device))
        assert cmd[i - 1] == "--dev-bind" and cmd[i + 1] == str(device)
    assert cmd.index("--dev") < cmd.index("--dev-bind") < cmd.index("--")
    cpu_only = jail.Jail("bwrap").wrap(["python"], Path("/tmp/x"), network=False)
    assert "--dev-bind" not in cpu_only


@PROCESS_ONLY
def test_fork_bomb_is_contained(make_executor: MakeExecutor) -> None:
    from evolve.evaluation.cgroups import cgroups

    pids = cgroups().pids
    assert pids is not None, "no writable pids cgroup here"
    result, elapsed = timed(
        make_executor(timeout=5.0, max_processes=64),
        """
        import os, time

        def run():
            made = 0
            try:
                while True:
                    if os.fork() == 0:
                        time.sleep(30)
                        os._exit(0)
                    made += 1
            except OSError:
                pass
            return {"score": float(made)}
        """,
    )
    assert result.status is Verdict.OK, result.reason
    assert 0 < result.score < 64  # stopped by the limit, not by the machine
    assert elapsed < 5.0
    leftovers = list(pids.path.glob(f"evolve-{os.getpid()}-*"))
    assert not leftovers, "the evaluation's cgroup was not removed"


def test_killing_its_parent_harms_only_itself(make_executor: MakeExecutor) -> None:
    result = evaluate(
        make_executor(timeout=5.0),
        """
        import os, signal, time

        def run():
            os.kill(os.getppid(), signal.SIGKILL)
            time.sleep(1)
            return {"score": 1.0}
        """,
    )
    assert result.status in (Verdict.ERROR, Verdict.OK)
    assert result.score in (None, 1.0)
