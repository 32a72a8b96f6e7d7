"""The process backend bounds an evaluation's memory as a whole, every process it starts
counted together, and reports an evaluation over the limit as ``error``, out of memory.

Each case runs for real, through ``SandboxExecutor`` on the ``process`` backend, in each
way the backend can hold the bound:

* ``kernel``: a memory cgroup per evaluation, as this machine allows (CI runs as root; the
  test fails if the kernel does not hold a cgroup to its limit here);
* ``watcher``: no memory cgroup, only the pids cgroup: the backend's watcher adds up the
  resident memory of the cgroup's processes (where a kernel ignores memory limits);
* ``watcher-tree``: no cgroup at all: the watcher follows the process tree.

The allocations write every page (``b"\\x01" * n``), so the memory is really used. After
each evaluation no process of it may be left (no child of the test process, nor any
process with the test's marker on its command line), nor any cgroup folder of this test
process.
"""

from __future__ import annotations

import asyncio
import os
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from evolve.config import SandboxConfig
from evolve.core.status import Verdict
from evolve.evaluation.cgroups import Cgroups, cgroups
from evolve.evaluation.executor import Evaluation, SandboxExecutor, cascade
from evolve.evaluation.gpus import GpuPool
from evolve.evaluation.process import ProcessBackend
from evolve.problem import EvaluatorTarget
from evolve.sdk.procs import descendants

LIMIT_MB = 256
OUT_OF_MEMORY = f"out of memory (limit {LIMIT_MB} MB)"

RUNNER = """
import runpy

def evaluate(program_path):
    return runpy.run_path(program_path, run_name="candidate")["run"]()
"""

# ``run(marker)``: starts ``count`` children (each a Python process with ``marker`` on its
# command line, so that it can be looked for from outside), each writing ``mb`` MB and
# holding them for ``hold`` seconds; returns how many finished.
CHILDREN = """
import subprocess, sys

CHILD = "import sys, time; block = b'\\\\x01' * ({mb} << 20); time.sleep({hold})"

def run():
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, "{marker}"]) for _ in range({count})
    ]
    finished = sum(child.wait() == 0 for child in children)
    return {{"score": float(finished)}}
"""


def children(marker: str, *, count: int, mb: int, hold: float) -> str:
    return CHILDREN.format(marker=marker, count=count, mb=mb, hold=hold)


MakeExecutor = Callable[[], SandboxExecutor]


@pytest.fixture(params=["kernel", "watcher", "watcher-tree"])
def bound(request: pytest.FixtureRequest) -> Cgroups:
    """The cgroups the backend may use, for each way of holding the bound."""
    here = cgroups()
    assert here.pids is not None, "no writable pids cgroup here (run the tests as root)"
    if request.param == "kernel":
        assert here.memory is not None, f"no memory cgroup here: {here.lost}"
        return here
    if request.param == "watcher":
        return Cgroups(pids=here.pids, why_not="(test: no memory cgroup)")
    return Cgroups(why_not="(test: no cgroup)")


@pytest.fixture
def make_executor(tmp_path: Path, bound: Cgroups) -> Iterator[MakeExecutor]:
    made: list[SandboxExecutor] = []
    before = descendants(os.getpid())  # e.g. an embedded model's process of an earlier test

    def make() -> SandboxExecutor:
        path = tmp_path / "evaluator.py"
        path.write_text(textwrap.dedent(RUNNER), encoding="utf-8")
        sandbox = SandboxConfig(timeout=30.0, memory_mb=LIMIT_MB)
        backend = ProcessBackend(
            EvaluatorTarget(function="evaluate", path=path), sandbox, cgroups=bound
        )
        executor = SandboxExecutor(
            backend, sandbox, "score", cascade("evaluate", sandbox), gpu_pool=GpuPool([])
        )
        made.append(executor)
        return executor

    yield make
    for executor in made:
        asyncio.run(executor.close())
    assert cgroup_folders() == [], "an evaluation's cgroup folder was left behind"
    assert descendants(os.getpid()) - before == set(), "a process of an evaluation was left running"


@pytest.fixture
def marker() -> Iterator[str]:
    tag = f"evolve-memory-test-{uuid.uuid4().hex}"
    yield tag
    assert running(tag) == [], "a process of the evaluation was left running"


def running(marker: str) -> list[int]:
    """Processes with ``marker`` on their command line, anywhere on the machine."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return found


def cgroup_folders() -> list[Path]:
    """This test process's evaluation cgroups that still exist, in every hierarchy."""
    here = cgroups()
    parents = {p.path for p in (here.pids, here.memory) if p is not None}
    return [f for parent in parents for f in parent.glob(f"evolve-{os.getpid()}-*")]


def evaluate(executor: SandboxExecutor, code: str) -> tuple[Evaluation, float]:
    start = time.monotonic()
    result = asyncio.run(executor.evaluate(textwrap.dedent(code)))
    return result, time.monotonic() - start


def test_processes_over_the_limit_together_are_out_of_memory(
    make_executor: MakeExecutor, marker: str
) -> None:
    # Four children of 100 MB: each well under 256 MB, together 400 MB. Unbounded, they
    # would hold their memory for 20 s and the evaluation would score 4.
    result, elapsed = evaluate(make_executor(), children(marker, count=4, mb=100, hold=20))
    assert result.status is Verdict.ERROR, (result.status, result.score, result.reason)
    assert result.reason == OUT_OF_MEMORY
    assert result.score is None
    assert elapsed < 10.0, "the evaluation was not stopped when it went over the limit"


def test_one_process_over_the_limit_is_out_of_memory(make_executor: MakeExecutor) -> None:
    code = """
        def run():
            block = b"\\x01" * (600 << 20)
            return {"score": float(len(block))}
        """
    result, elapsed = evaluate(make_executor(), code)
    assert result.status is Verdict.ERROR, (result.status, result.score, result.reason)
    assert result.reason == OUT_OF_MEMORY
    assert elapsed < 10.0


def test_an_evaluation_under_the_limit_is_scored(make_executor: MakeExecutor, marker: str) -> None:
    # Two children of 40 MB and the harness: well under 256 MB together.
    result, _ = evaluate(make_executor(), children(marker, count=2, mb=40, hold=0.5))
    assert result.status is Verdict.OK, result.reason
    assert result.score == 2.0
    # the next evaluation starts afresh: nothing of this one counts against it
    again, _ = evaluate(make_executor(), children(marker, count=2, mb=40, hold=0.1))
    assert again.status is Verdict.OK, again.reason


def test_the_run_is_told_what_the_memory_bound_gives_up(bound: Cgroups, tmp_path: Path) -> None:
    backend = ProcessBackend(
        EvaluatorTarget(function="evaluate", path=tmp_path / "evaluator.py"),
        SandboxConfig(memory_mb=LIMIT_MB),
        cgroups=bound,
    )
    if bound.memory is not None:
        assert "memory" not in backend.lost
    else:  # said once, at the start of the run, with the rest of what the sandbox lacks
        assert "memory is bounded by a watcher" in backend.lost
        assert "(test: no" in backend.lost


def test_address_space_is_not_memory_under_a_kernel_bound(tmp_path: Path) -> None:
    """With the kernel counting what is used, an evaluation may reserve address space far
    beyond its limit (as CUDA, JVMs and V8 do); only the per-process fallback forbids it."""
    assert cgroups().memory is not None, f"no memory cgroup here: {cgroups().lost}"
    path = tmp_path / "evaluator.py"
    path.write_text(textwrap.dedent(RUNNER), encoding="utf-8")
    sandbox = SandboxConfig(timeout=30.0, memory_mb=LIMIT_MB)
    code = """
        import mmap

        def run():
            reserved = mmap.mmap(-1, 2 << 30)  # 2 GiB of address space, untouched
            reserved[: 10 << 20] = b"\\x01" * (10 << 20)  # 10 MB of it used
            return {"score": float(len(reserved) >> 20)}
        """
    scores = {}
    for name, bound in (("kernel", cgroups()), ("watcher", Cgroups(pids=cgroups().pids))):
        backend = ProcessBackend(
            EvaluatorTarget(function="evaluate", path=path), sandbox, cgroups=bound
        )
        executor = SandboxExecutor(
            backend, sandbox, "score", cascade("evaluate", sandbox), gpu_pool=GpuPool([])
        )
        scores[name] = asyncio.run(executor.evaluate(textwrap.dedent(code)))
    assert scores["kernel"].status is Verdict.OK, scores["kernel"].reason
    assert scores["kernel"].score == 2048.0
    # where the per-process address-space limit stays, it refuses the reservation
    assert scores["watcher"].status is Verdict.ERROR
    assert "Cannot allocate memory" in scores["watcher"].reason
    assert cgroup_folders() == []
