"""Shared test fixtures: the docker engine, docker backends on a scratch problem, checks
from outside that nothing of an evaluation's containers is left, and what this machine has
in NVIDIA GPUs (``gpu_host``), so that a GPU test asserts what must happen here.

Docker tests never skip: a machine without an engine fails them, with the message to
start one (CI, ``.ci/run``, starts dockerd and builds the image). GPU tests never skip
either: they run on machines with and without NVIDIA GPUs and expect, on each, what a user
would get there (without a GPU or a GPU runtime: a clear error, never a run on the CPU).
"""

from __future__ import annotations

import asyncio
import functools
import os
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import pytest

from evolve.config import DockerConfig, SandboxConfig
from evolve.evaluation.docker_backend import DockerBackend
from evolve.evaluation.docker_pool import gpu_support
from evolve.evaluation.executor import Evaluation, SandboxExecutor, cascade
from evolve.evaluation.gpus import GpuPool, NvidiaGpu, nvidia_device_files, nvidia_smi_gpus
from evolve.llm.local import LocalLlama
from evolve.problem import EvaluatorTarget

IMAGE = "evolve-sandbox:cpu"


# --- NVIDIA GPUs on this machine ---------------------------------------------------------


@dataclass(frozen=True)
class GpuHost:
    """This machine's NVIDIA GPUs, seen two ways that must agree: the driver's per-GPU
    device files and ``nvidia-smi -L``."""

    device_files: tuple[Path, ...]
    gpus: tuple[NvidiaGpu, ...]

    @property
    def has_gpus(self) -> bool:
        return bool(self.gpus)

    def pool(self) -> GpuPool:
        """The GPU pool an engine builds here (``GpuPool.detect`` without EVOLVE_GPUS)."""
        return GpuPool([gpu.index for gpu in self.gpus])

    def docker(self, client: docker.DockerClient) -> str:
        """How the engine can give a container GPUs (empty: it cannot)."""
        return gpu_support(client)


@functools.cache
def gpu_host() -> GpuHost:
    """What this machine has; a failed test if the two views disagree (a driver half
    installed: no test could say what should happen)."""
    host = GpuHost(tuple(nvidia_device_files()), tuple(nvidia_smi_gpus()))
    if bool(host.device_files) != bool(host.gpus):
        pytest.fail(
            f"NVIDIA device files {[str(p) for p in host.device_files]} but `nvidia-smi -L` "
            f"lists {len(host.gpus)} GPU(s): fix the driver installation",
            pytrace=False,
        )
    return host


@pytest.fixture(scope="session", name="gpu_host")
def gpu_host_fixture() -> GpuHost:
    return gpu_host()


def docker_or_fail() -> docker.DockerClient:
    """A client of the local engine with the sandbox image, or a failed test saying why."""
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(
            f"no docker engine answers ({exc}): start dockerd "
            "(dockerd > /tmp/dockerd.log 2>&1 &) and build the image (sandbox/build_image.sh)",
            pytrace=False,
        )
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"no image {IMAGE}: build it with sandbox/build_image.sh", pytrace=False)
    return client


@pytest.fixture(autouse=True, scope="module")
def _no_model_process_outlives_its_module() -> Iterator[None]:
    """The embedded model's process is shared by the clients of a process; end it after
    each test module, so that no module sees another's (or its memory)."""
    yield
    LocalLlama.shutdown()


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    return docker_or_fail()


def created_since(client: docker.DockerClient, since: float) -> list[str]:
    """Ids of the containers this test process created since ``since`` (engine events)."""
    events = client.events(
        since=int(since) - 1,
        until=int(time.time()) + 1,
        filters={"type": "container", "event": "create", "label": f"evolve.owner={os.getpid()}"},
        decode=True,
    )
    return [e["id"] for e in events if e["timeNano"] >= since * 1e9]


def processes_in(container_ids: list[str]) -> list[int]:
    """Host processes (looked up in the host's /proc) inside any of these containers."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            groups = (entry / "cgroup").read_text()
        except OSError:
            continue
        if any(cid in groups for cid in container_ids):
            found.append(int(entry.name))
    return found


def left_over(client: docker.DockerClient, container_ids: list[str]) -> list[str]:
    """Those of these containers that still exist."""
    left = []
    for cid in container_ids:
        try:
            client.api.inspect_container(cid)
        except docker.errors.NotFound:
            continue
        left.append(cid)
    return left


def assert_nothing_left(
    client: docker.DockerClient, since: float, *, seconds: float = 5.0, at_least: int = 1
) -> list[str]:
    """Every container this process made since ``since`` is gone, and no host process is
    in one; checked from outside. Returns their ids."""
    made = created_since(client, since)
    assert len(made) >= at_least, f"expected at least {at_least} containers, saw {made}"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (left_over(client, made) or processes_in(made)):
        time.sleep(0.05)
    assert not left_over(client, made), "an evaluation's container was not removed"
    assert not processes_in(made), "a process of an evaluation's container is still running"
    return made


@pytest.fixture
def no_containers_left(docker_client: docker.DockerClient) -> Iterator[float]:
    """After the test (and its executors' close): none of its containers or their
    processes is left."""
    since = time.time()
    yield since
    assert_nothing_left(docker_client, since, at_least=0)


# --- docker backends on a scratch problem ------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
"""The repository."""

RUNNER = """
import runpy

def evaluate(program_path):
    return runpy.run_path(program_path, run_name="candidate")["run"]()
"""

MakeBackend = Callable[..., DockerBackend]


@pytest.fixture
def problem(tmp_path: Path) -> Path:
    folder = tmp_path / "problem"
    folder.mkdir()
    (folder / "evaluator.py").write_text(RUNNER, encoding="utf-8")
    return folder


@pytest.fixture
def make_backend(
    problem: Path, no_containers_left: float, docker_client: docker.DockerClient
) -> Iterator[MakeBackend]:
    made: list[DockerBackend] = []

    def make(*, warm: int = 1, hidden: tuple[Path, ...] = (), **sandbox: object) -> DockerBackend:
        sandbox.setdefault("timeout", 20.0)
        sandbox.setdefault("memory_mb", 512)
        config = SandboxConfig(backend="docker", docker=DockerConfig(warm=warm), **sandbox)
        target = EvaluatorTarget(function="evaluate", path=problem / "evaluator.py")
        backend = DockerBackend(target, config, "python", hidden)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        asyncio.run(backend.close())


def executor_on(backend: DockerBackend, gpu_pool: GpuPool | None = None) -> SandboxExecutor:
    sandbox = backend.sandbox
    return SandboxExecutor(
        backend,
        sandbox,
        "score",
        cascade("evaluate", sandbox),
        gpu_pool=gpu_pool if gpu_pool is not None else GpuPool([]),
    )


def evaluate_in(backend: DockerBackend, code: str, gpu_pool: GpuPool | None = None) -> Evaluation:
    return asyncio.run(executor_on(backend, gpu_pool).evaluate(textwrap.dedent(code)))


SCORE_1 = "def run():\n    return {'score': 1.0}\n"

CUDA_PROBE = """
from evolve import EvaluationResult
from evolve.evaluation.cuda_probe import probe

def run():
    seen = probe()
    return EvaluationResult(
        metrics={"score": 1.0, "count": seen["count"], "bytes": seen["bytes_checked"]},
        artifacts={"uuid": seen["uuid"], "visible": seen["visible"]},
    )
"""
"""A candidate that really uses its first visible GPU (CUDA driver API) and says which."""


# --- candidate programs for the problem tests ---------------------------------------------


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], str]:
    """Write a candidate program (dedented) to a fresh file; its path."""
    counter = iter(range(1000))

    def _write(source: str) -> str:
        path = tmp_path / f"candidate_{next(counter)}.py"
        path.write_text(textwrap.dedent(source))
        return str(path)

    return _write
