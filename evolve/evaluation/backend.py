"""The sandbox backend seam: run the harness once on a program, somewhere isolated.

A backend knows *where* an evaluation runs (a jailed local process group, a container, a
cluster node) and nothing about scores: it starts the harness (``evolve.sdk.harness``)
with a ``Spec``, enforces the wall-time limit from outside, kills everything the
evaluation started, and hands back the harness's ``HarnessMessage`` (or one of its own,
for a timeout, a kill over the memory limit, or no message at all) with the captured
output. Judging that message (status, score) and the evaluation cascade live in
``executor.py``, the same for every backend.

This module also holds what every backend shares: the harness's path and spec, the
allow-listed environment, and output capture with a size cap. The protocol itself (the
spec, the message, the caps, the environment's names) is ``evolve.sdk.protocol``, which
the harness imports too.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from evolve.config import SandboxConfig
from evolve.problem import EvaluatorTarget
from evolve.sdk import harness
from evolve.sdk.protocol import ENGINE_ENV, HarnessMessage, Limits, Spec

HARNESS = Path(harness.__file__).resolve()
"""The script every backend runs (standard library only)."""
HARNESS_ROOT = HARNESS.parents[2]
"""The folder that holds the ``evolve`` package: the harness imports ``evolve.sdk`` from
there, so a jail must let the evaluation read it."""

EXTENSION = {
    "python": ".py",
    "c": ".c",
    "cpp": ".cpp",
    "cuda": ".cu",
    "rust": ".rs",
    "go": ".go",
    "javascript": ".js",
    "typescript": ".ts",
    "java": ".java",
}


@dataclass(frozen=True)
class Call:
    """One run of the harness: which evaluator function, under what wall-time limit."""

    function: str
    timeout: float


@dataclass(frozen=True)
class RawOutcome:
    """What one harness run left: the message (the harness's, or the backend's own for
    what only it saw) and the captured output."""

    message: HarnessMessage
    stdout: str = ""
    stderr: str = ""

    @property
    def output(self) -> dict[str, str]:
        return {"stdout": self.stdout, "stderr": self.stderr}


class Backend(Protocol):
    """Where evaluations run. ``run`` never raises for anything the candidate does."""

    name: str
    lost: str
    """What this backend cannot enforce on this machine, in one line (empty: nothing)."""

    async def run(self, code: str, call: Call, devices: list[int]) -> RawOutcome: ...

    async def close(self) -> None: ...


def program_name(language: str) -> str:
    """The candidate's file name inside its scratch folder."""
    return "program" + EXTENSION.get(language, ".txt")


def harness_spec(
    evaluator: EvaluatorTarget,
    sandbox: SandboxConfig,
    call: Call,
    *,
    program_path: str,
    evaluator_path: str | None,
    result_fd: int | None,
    sys_path: list[str] | None = None,
    memory_limited: bool = False,
    program_code: str | None = None,
) -> Spec:
    """The spec the harness reads: what to call, on which file, under which rlimits
    (``memory_limited``: a cgroup or container bounds the evaluation's real memory)."""
    limits = Limits(
        # No address-space limit where the kernel counts what is really used, nor for a
        # GPU evaluation: the CUDA driver reserves far more virtual memory than it uses
        # (cuInit fails under RLIMIT_AS).
        memory_bytes=0 if sandbox.gpus or memory_limited else sandbox.memory_mb * 1024 * 1024,
        cpu_seconds=max(1, math.ceil(call.timeout * sandbox.cpus)) + 1,
        file_bytes=256 * 1024 * 1024,
        open_files=512,
    )
    return Spec(
        program_path=program_path,
        function=call.function,
        timeout=call.timeout,
        result_fd=result_fd,
        evaluator_path=evaluator_path,
        evaluator_module=evaluator.module,
        options=dict(evaluator.options),
        limits=limits,
        sys_path=tuple(sys_path if sys_path is not None else import_path()),
        program_code=program_code,
    )


def sandbox_env(sandbox: SandboxConfig, home: str, devices: list[int]) -> dict[str, str]:
    """The evaluation's whole environment: an allow-list of the engine's, never its keys."""
    env = {k: os.environ[k] for k in ENGINE_ENV if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    threads = str(sandbox.cpus)
    env.update(
        HOME=home,
        TMPDIR=home,
        PYTHONHASHSEED="0",
        PYTHONDONTWRITEBYTECODE="1",
        OMP_NUM_THREADS=threads,
        OPENBLAS_NUM_THREADS=threads,
        MKL_NUM_THREADS=threads,
        CUDA_VISIBLE_DEVICES=",".join(str(d) for d in devices),
        CUDA_DEVICE_ORDER="PCI_BUS_ID",  # the GPU pool's numbers are nvidia-smi's: PCI order
    )
    return env  # every name in protocol.EVALUATION_ENV: the function runner passes it on


def import_path() -> list[str]:
    """The engine's module search path (site-packages and installed projects): what the
    evaluator may import."""
    return [p for p in sys.path if p and os.path.isdir(p)]


class Capped:
    """Collects a stream's first ``cap`` bytes and drains (and counts) the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.dropped = 0
        self.notes: list[str] = []

    def take(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        self.data.extend(chunk[: max(0, room)])
        self.dropped += max(0, len(chunk) - max(0, room))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def text(self) -> str:
        text = self.data.decode("utf-8", errors="replace")
        if self.dropped:
            text += f"\n[... {self.dropped} more bytes not kept]"
        return "\n".join([text, *self.notes]) if self.notes else text

    async def drain_stream(self, stream: asyncio.StreamReader | None) -> None:
        if stream is None:
            return
        while chunk := await stream.read(65536):
            self.take(chunk)

    async def drain_fd(self, fd: int) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        protocol = asyncio.StreamReaderProtocol(reader)
        pipe = os.fdopen(os.dup(fd), "rb", 0)
        transport, _ = await loop.connect_read_pipe(lambda: protocol, pipe)
        try:
            await self.drain_stream(reader)
        finally:
            transport.close()
