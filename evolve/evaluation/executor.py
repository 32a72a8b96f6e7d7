"""Executors: run the evaluator on a candidate, isolated, and turn what comes back into an
``Evaluation``. The seam behind which later backends (containers, a cluster) plug in.

The ``process`` backend starts ``sandbox/harness.py`` in its own process group and session,
in a private temporary directory, with an allow-listed environment (no API keys), rlimits
on memory, CPU time, file size and open files, inside the strongest namespace jail the
machine allows (``evolve.evaluation.jail``: bubblewrap, else ``unshare --net``), and GPUs
handed out from a pool. On timeout, and after every evaluation, the whole process group is
killed. Never threads for untrusted code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from evolve.config import SandboxConfig
from evolve.evaluation.gpus import GpuPool
from evolve.evaluation.jail import Jail, PidsCgroup, detect, python_paths
from evolve.evaluation.result import Status
from evolve.problem import EvaluatorTarget
from evolve.resources import harness_path

_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_EXTENSION = {
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
class Evaluation:
    """What one evaluation produced, already judged: status, primary score, metrics, output."""

    status: Status
    score: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    seconds: float = 0.0


class Executor(Protocol):
    """Anything that can evaluate program text: the narrow seam for sandbox backends."""

    async def evaluate(self, code: str) -> Evaluation: ...


class ProcessExecutor:
    """Evaluate in a local child process group with rlimits and a scrubbed environment."""

    def __init__(
        self,
        evaluator: EvaluatorTarget,
        sandbox: SandboxConfig,
        primary_metric: str,
        language: str = "python",
        gpu_pool: GpuPool | None = None,
        hidden: tuple[Path, ...] = (),
        jail: Jail | None = None,
    ) -> None:
        """``hidden``: files a candidate must not read even where it can see their folder
        (the run database)."""
        self.evaluator = evaluator
        self.sandbox = sandbox
        self.primary_metric = primary_metric
        self.language = language
        self.gpu_pool = gpu_pool if gpu_pool is not None else GpuPool.detect()
        self.jail = jail or detect()
        self.network_isolated = sandbox.network or self.jail.kind in ("bwrap", "unshare")
        self.hidden = tuple(hidden)
        readable = [*python_paths(), harness_path().parent]
        if evaluator.path is not None:
            readable.append(evaluator.path.parent)
        self._readable = tuple(readable)
        if sandbox.gpus > self.gpu_pool.size:
            self.gpu_problem = (
                f"the problem asks for {sandbox.gpus} GPU(s) per evaluation but "
                f"{self.gpu_pool.size} are visible on this machine"
            )
        else:
            self.gpu_problem = ""

    async def evaluate(self, code: str) -> Evaluation:
        if self.gpu_problem:
            return Evaluation(Status.ERROR, None, reason=self.gpu_problem)
        started = time.monotonic()
        async with self.gpu_pool.lease(self.sandbox.gpus) as devices:
            raw, output = await self._run(code, devices)
        seconds = time.monotonic() - started
        return judge(raw, output, self.primary_metric, seconds)

    async def _run(self, code: str, devices: list[int]) -> tuple[dict | None, dict[str, str]]:
        workdir = Path(tempfile.mkdtemp(prefix="evolve-eval-"))
        # Our own pipes, not asyncio's: its Process.wait() also waits for the pipes to close,
        # which a leftover grandchild holding them open would stretch to the full timeout.
        pipes = [os.pipe() for _ in range(3)]  # stdout, stderr, result
        unclosed = {fd for pair in pipes for fd in pair}
        proc = None
        readers: list[asyncio.Task[None]] = []
        group = PidsCgroup.create(self.sandbox.max_processes)
        try:
            program = workdir / ("program" + _EXTENSION.get(self.language, ".txt"))
            program.write_text(code, encoding="utf-8")
            spec = self._spec(program, pipes[2][1])
            spec_file = workdir / ".evolve-spec.json"
            spec_file.write_text(json.dumps(spec), encoding="utf-8")
            # -I: no user site, no PYTHON* variables; -S: no site hooks (.pth code) at startup,
            # which can cost more than the evaluation; the harness gets our import path.
            cmd = self.jail.wrap(
                [sys.executable, "-I", "-S", str(harness_path()), str(spec_file)],
                workdir,
                network=self.sandbox.network,
                readable=self._readable,
                hidden=self.hidden,
                gpus=bool(devices),
            )
            if group is not None:
                cmd = group.wrap(cmd)
            proc = await asyncio.create_subprocess_exec(
                *cmd,
                cwd=workdir,
                env=self._env(workdir, devices),
                stdin=subprocess.DEVNULL,
                stdout=pipes[0][1],
                stderr=pipes[1][1],
                pass_fds=(pipes[2][1],),
                start_new_session=True,
            )
            for _, write_end in pipes:
                os.close(write_end)
                unclosed.discard(write_end)
            cap = self.sandbox.max_output_bytes
            out, err, res = _Capped(cap), _Capped(cap), _Capped(16 * 1024 * 1024)
            readers = [
                asyncio.create_task(sink.drain_fd(read_end))
                for sink, (read_end, _) in zip((out, err, res), pipes, strict=True)
            ]
            timed_out = False
            try:
                await asyncio.wait_for(proc.wait(), timeout=self.sandbox.timeout)
            except TimeoutError:
                timed_out = True
            _kill_group(proc.pid)  # whatever the candidate left running
            await proc.wait()
            _, pending = await asyncio.wait(readers, timeout=2.0)
            if pending:  # a process that left the group still holds a pipe open
                err.note(
                    "[a process that escaped the evaluation's process group kept its "
                    "output open; output cut here]"
                )
            output = {"stdout": out.text(), "stderr": err.text()}
            if timed_out:
                return {"kind": "timeout"}, output
            code = proc.returncode
            if self.jail.kind == "bwrap" and code is not None and code > 128:
                code = 128 - code  # bubblewrap reports a child killed by signal N as 128 + N
            return _parse_result(bytes(res.data), code), output
        finally:
            if proc is not None:
                _kill_group(proc.pid)
            if group is not None:
                group.remove()  # every process it ever held, wherever it went
                if proc.returncode is None:
                    await proc.wait()
            for task in readers:
                task.cancel()
            if readers:
                await asyncio.gather(*readers, return_exceptions=True)
            for fd in unclosed:  # each exactly once: a number closed twice may be reused
                os.close(fd)
            shutil.rmtree(workdir, ignore_errors=True)

    def _spec(self, program: Path, result_fd: int) -> dict:
        limits = {
            "memory_bytes": self.sandbox.memory_mb * 1024 * 1024,
            "cpu_seconds": max(1, math.ceil(self.sandbox.timeout * self.sandbox.cpus)) + 1,
            "file_bytes": 256 * 1024 * 1024,
            "open_files": 512,
        }
        return {
            "program_path": str(program),
            "evaluator_path": str(self.evaluator.path) if self.evaluator.path else None,
            "evaluator_module": self.evaluator.module,
            "function": self.evaluator.function,
            "options": dict(self.evaluator.options),
            "result_fd": result_fd,
            "limits": limits,
            "sys_path": _import_path(),
        }

    def _env(self, workdir: Path, devices: list[int]) -> dict[str, str]:
        env = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        threads = str(self.sandbox.cpus)
        env.update(
            HOME=str(workdir),
            TMPDIR=str(workdir),
            PYTHONHASHSEED="0",
            PYTHONDONTWRITEBYTECODE="1",
            OMP_NUM_THREADS=threads,
            OPENBLAS_NUM_THREADS=threads,
            MKL_NUM_THREADS=threads,
            CUDA_VISIBLE_DEVICES=",".join(str(d) for d in devices),
        )
        return env


def _import_path() -> list[str]:
    """The engine's module search path (site-packages and installed projects): what the
    evaluator may import."""
    return [p for p in sys.path if p and os.path.isdir(p)]


def judge(raw: dict | None, output: dict[str, str], primary: str, seconds: float) -> Evaluation:
    """Decide the status and score of one evaluation from the harness's message."""
    artifacts = {k: v for k, v in output.items() if v}
    if raw is None or raw.get("kind") == "no_result":
        reason = (raw or {}).get("error", "the evaluation produced no result")
        return Evaluation(Status.ERROR, None, artifacts=artifacts, reason=reason, seconds=seconds)
    kind = raw.get("kind")
    if kind == "timeout":
        return Evaluation(
            Status.TIMEOUT,
            None,
            artifacts=artifacts,
            seconds=seconds,
            reason=f"timed out after {seconds:.1f}s; the process group was killed",
        )
    if kind in ("error", "evaluator_error"):
        if raw.get("traceback"):
            artifacts["traceback"] = raw["traceback"]
        status = Status.ERROR if kind == "error" else Status.EVALUATOR_ERROR
        return Evaluation(
            status, None, artifacts=artifacts, reason=raw.get("error", "?"), seconds=seconds
        )
    metrics = {k: (float("nan") if v is None else float(v)) for k, v in raw["metrics"].items()}
    artifacts.update({f"evaluator:{k}": v for k, v in raw.get("artifacts", {}).items()})
    bad = raw.get("bad_metrics", {})
    for key, why in bad.items():
        if key not in metrics:
            artifacts[f"metric:{key}"] = why
    failure = ""
    if primary in bad:
        failure = f"primary metric {primary!r} is {bad[primary]}"
    elif primary not in metrics:
        names = ", ".join(sorted(metrics)) or "none"
        failure = f"the evaluator returned no {primary!r} metric (it returned: {names})"
    if failure:
        return Evaluation(Status.ERROR, None, metrics, artifacts, failure, seconds)
    return Evaluation(Status.OK, metrics[primary], metrics, artifacts, seconds=seconds)


def _parse_result(data: bytes, returncode: int | None) -> dict:
    if not data:
        how = _describe_exit(returncode)
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


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "ended"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (memory limit?)" if name in ("SIGKILL", "SIGSEGV") else ""
        hint = " (CPU time limit)" if name == "SIGXCPU" else hint
        return f"was killed by {name}{hint}"
    return f"exited with code {code}"


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(pgid, signal.SIGKILL)


class _Capped:
    """Collects a stream's first ``cap`` bytes and drains (and counts) the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.dropped = 0
        self.notes: list[str] = []

    def _take(self, chunk: bytes) -> None:
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
            self._take(chunk)

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
