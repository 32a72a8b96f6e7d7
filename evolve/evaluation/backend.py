"""The sandbox backend seam: run the harness once on a program, somewhere isolated.

A backend knows *where* an evaluation runs (a jailed local process group, a container, a
cluster node) and nothing about scores: it starts ``sandbox/harness.py`` with a spec,
enforces the wall-time limit from outside, kills everything the evaluation started, and
hands back the harness's raw JSON message and the captured output. Judging that message
(status, score) and the evaluation cascade live in ``executor.py``, the same for every
backend.

This module also holds what every backend shares: the harness spec, the allow-listed
environment, output capture with a size cap, and parsing of the harness's message.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from dataclasses import dataclass
from typing import Protocol

from evolve.config import SandboxConfig
from evolve.problem import EvaluatorTarget
from evolve.procs import describe_exit

PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
"""The only variables of the engine's environment an evaluation sees (an allow-list)."""

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

RESULT_CAP = 16 * 1024 * 1024
"""Bytes of the harness's result message kept (metrics and artifacts, as JSON)."""


@dataclass(frozen=True)
class Call:
    """One run of the harness: which evaluator function, under what wall-time limit."""

    function: str
    timeout: float


@dataclass(frozen=True)
class RawOutcome:
    """What one harness run left: its message (``None`` if it said nothing) and output."""

    message: dict | None
    stdout: str = ""
    stderr: str = ""
    out_of_memory: bool = False
    """The backend killed the evaluation for going over its memory limit (or the kernel
    did): whatever the message says, it is judged an error, out of memory."""

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
    result_fd: int,
    sys_path: list[str] | None = None,
) -> dict:
    """The JSON spec the harness reads: what to call, on which file, under which rlimits."""
    limits = {
        # A GPU evaluation gets no address-space limit: the CUDA driver reserves far more
        # virtual memory than it uses (cuInit fails under RLIMIT_AS), so there the limit on
        # memory is the container's or cgroup's, which count what is really used.
        "memory_bytes": 0 if sandbox.gpus else sandbox.memory_mb * 1024 * 1024,
        "cpu_seconds": max(1, math.ceil(call.timeout * sandbox.cpus)) + 1,
        "file_bytes": 256 * 1024 * 1024,
        "open_files": 512,
    }
    return {
        "program_path": program_path,
        "evaluator_path": evaluator_path,
        "evaluator_module": evaluator.module,
        "function": call.function,
        "options": dict(evaluator.options),
        "result_fd": result_fd,
        "limits": limits,
        "sys_path": sys_path if sys_path is not None else import_path(),
        "timeout": call.timeout,
    }


def sandbox_env(sandbox: SandboxConfig, home: str, devices: list[int]) -> dict[str, str]:
    """The evaluation's whole environment: an allow-list of the engine's, never its keys."""
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
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
    return env


def import_path() -> list[str]:
    """The engine's module search path (site-packages and installed projects): what the
    evaluator may import."""
    return [p for p in sys.path if p and os.path.isdir(p)]


def parse_result(data: bytes, returncode: int | None) -> dict:
    """The harness's message, or a ``no_result`` message saying why there is none."""
    if not data:
        how = describe_exit(returncode)
        return {"kind": "no_result", "error": f"the evaluation {how} without reporting a result"}
    try:
        message = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {"kind": "no_result", "error": "the evaluation reported a malformed result"}
    if not isinstance(message, dict) or message.get("kind") not in (
        "ok",
        "error",
        "evaluator_error",
    ):
        return {"kind": "no_result", "error": "the evaluation reported a malformed result"}
    if message["kind"] == "ok" and not isinstance(message.get("metrics"), dict):
        return {"kind": "no_result", "error": "the evaluation reported a malformed result"}
    return message


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
