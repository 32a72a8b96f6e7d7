"""The ``docker`` backend: each evaluation in a container of its own, used once.

The container (``docker_pool.Containers``) has no network (unless ``sandbox.network``), a
read-only root, one tmpfs (``/scratch``, the only writable place), memory, CPU and
process limits, no capabilities, ``no-new-privileges``, an unprivileged user, and, for a
GPU problem, a device request for exactly the GPUs the executor leased. The ``evolve``
package (with the harness, ``evolve/sdk/harness.py``), the problem's folder and, for an
evaluator plugin installed by entry point, the plugin's own code and metadata are mounted
read-only (``docker_mounts.py``). The harness runs by ``docker exec``: the spec and the
program arrive on its stdin; its message comes back on its own stdout, which nothing the
evaluation starts can write to (a spec with no ``result_fd``), framed together with the
evaluation's stdout; stderr is the exec's stderr. Output is capped as it streams in.

The wall-time limit is enforced from outside: on timeout the container is killed, and
every process in it dies. After every evaluation the container is removed; a warm pool
(``sandbox.docker.warm``) keeps containers started ahead so an evaluation does not wait
for one. Containers carry their owner's pid, so a backend starting up removes those a
crashed engine left. Blocking Docker SDK calls run off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import socket
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import docker.errors
import requests.exceptions
from docker.models.containers import Container

from evolve.config import SandboxConfig
from evolve.evaluation.backend import (
    HARNESS,
    HARNESS_ROOT,
    Call,
    Capped,
    RawOutcome,
    harness_spec,
    program_name,
    sandbox_env,
)
from evolve.evaluation.docker_mounts import LIB, container_view
from evolve.evaluation.docker_pool import (
    SCRATCH,
    Containers,
    WarmPool,
    check_readable,
    connect,
    container_user,
    image_path,
    reap_orphans,
)
from evolve.problem import EvaluatorTarget
from evolve.sdk.protocol import MESSAGE_CAP, HarnessMessage

HARNESS_INSIDE = f"{LIB}/{HARNESS.relative_to(HARNESS_ROOT).as_posix()}"
"""The harness as the container sees it: in the mounted ``evolve`` package."""

GRACE = 1.0
"""Seconds to wait for the rest of the output once the harness has reported or exited."""


class DockerBackend:
    """Evaluate in a fresh locked-down container per evaluation, from a warm pool."""

    name = "docker"

    def __init__(
        self,
        evaluator: EvaluatorTarget,
        sandbox: SandboxConfig,
        language: str = "python",
        hidden: tuple[Path, ...] = (),
    ) -> None:
        """Connects to the docker engine and checks the image (a UserError if either is
        missing), removes containers crashed engines left, and starts the warm pool.
        ``hidden``: files a candidate must not read even inside a mounted folder (the run
        database)."""
        self.sandbox = sandbox
        self.language = language
        self.lost = ""
        self.client = connect()
        self._path = image_path(self.client, sandbox.docker.image)
        self.reaped = reap_orphans(self.client)
        mounts, self.evaluator, self._evaluator_path = container_view(evaluator, hidden)
        self.user = container_user()
        for mount in mounts:
            if mount["Source"] != "/dev/null":
                check_readable(Path(mount["Source"]), self.user)
        if evaluator.path is not None:
            check_readable(evaluator.path, self.user)
        self.containers = Containers(self.client, sandbox, mounts, self.user)
        # GPU evaluations need their own leased devices in the request: never pre-started.
        size = sandbox.docker.warm if sandbox.gpus == 0 else 0
        containers = self.containers  # the pool and the finalizer must not hold self
        self.pool: WarmPool[Armed] = WarmPool(
            functools.partial(arm, containers, self.harness_command(), self.exec_env([])),
            functools.partial(disarm, containers),
            size,
        )
        self.pool.fill()
        self._finalizer = weakref.finalize(self, _shut, self.pool, containers)

    async def close(self) -> None:
        """Remove every container of this backend: the warm ones and any still running."""
        await asyncio.to_thread(self._finalizer)

    def harness_command(self) -> list[str]:
        """The harness in the container; it waits for its spec on stdin."""
        # -I: no user site and no PYTHON* variables; site-packages (numpy) stay visible.
        return [self.sandbox.docker.python, "-I", "-B", HARNESS_INSIDE, "-"]

    async def run(self, code: str, call: Call, devices: list[int]) -> RawOutcome:
        try:
            if devices:
                armed = await asyncio.to_thread(
                    arm, self.containers, self.harness_command(), self.exec_env(devices), devices
                )
            else:
                armed = await self.pool.take()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            return RawOutcome(HarnessMessage.no_result(self._start_failure(exc, devices)))
        try:
            return await self._evaluate(armed, code, call)
        except (
            docker.errors.DockerException,
            requests.exceptions.RequestException,
            OSError,  # the harness's socket: the engine or the container went away
        ) as exc:
            text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            error = f"the docker engine failed during the evaluation: {text}"
            return RawOutcome(HarnessMessage.no_result(error))
        finally:
            armed.close_socket()
            if devices:  # the GPUs go back to the pool only once nothing can use them
                await asyncio.to_thread(self.containers.remove, armed.container.id)
            else:  # its processes die within the removal's ~0.1 s, off this path
                self.containers.remove_later(armed.container.id)

    def _start_failure(self, exc: Exception, devices: list[int]) -> str:
        text = getattr(exc, "explanation", None) or str(exc)
        text = (str(text).strip().splitlines() or [type(exc).__name__])[0][:300]
        if devices:
            ids = ",".join(str(d) for d in devices)
            return (
                f"docker could not give the container GPU {ids}: {text} (the docker engine "
                "needs the NVIDIA Container Toolkit and the GPUs; or set sandbox.gpus = 0)"
            )
        return f"docker could not start a container of {self.sandbox.docker.image!r}: {text}"

    async def _evaluate(self, armed: Armed, code: str, call: Call) -> RawOutcome:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + call.timeout
        spec = harness_spec(
            self.evaluator,
            self.sandbox,
            call,
            program_path=f"{SCRATCH}/{program_name(self.language)}",
            evaluator_path=self._evaluator_path,
            result_fd=None,  # framed on the harness's own stdout
            sys_path=[LIB],
            program_code=code,
        )
        container, exec_id, raw = armed.container, armed.exec_id, armed.raw
        cap = self.sandbox.max_output_bytes
        stream = ExecStream(Capped(cap), Capped(cap))
        reader: asyncio.Task[None] | None = None
        try:
            raw.setblocking(False)
            await loop.sock_sendall(raw, spec.encode())
            raw.shutdown(socket.SHUT_WR)  # the harness reads its spec to the end
            reader = asyncio.create_task(stream.read(raw))
            timed_out = await self._wait(reader, stream, exec_id, deadline)
            if timed_out:  # from outside: the container and everything in it
                await asyncio.to_thread(self._kill, container.id)
            _, pending = await asyncio.wait({reader}, timeout=GRACE)
            if pending:
                stream.err.note(
                    "[a process the evaluation started kept its output open; output cut here]"
                )
            out, err = stream.out.text(), stream.err.text()
            if timed_out:
                return RawOutcome(HarnessMessage.timeout(), out, err)
            if stream.result is None:
                info = await asyncio.to_thread(self.client.api.exec_inspect, exec_id)
                code_ = info.get("ExitCode")
                if isinstance(code_, int) and code_ > 128:
                    code_ = 128 - code_  # a process killed by signal N exits as 128 + N
                return RawOutcome(HarnessMessage.received(b"", code_), out, err)
            return RawOutcome(HarnessMessage.received(stream.result, 0), out, err)
        finally:
            if reader is not None:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)

    def exec_env(self, devices: list[int]) -> dict[str, str]:
        """The harness's whole environment: the allow-list, the image's PATH, and the
        leased GPUs as the container numbers them (only they are in it, from 0)."""
        env = sandbox_env(self.sandbox, SCRATCH, devices)
        env["PATH"] = self._path
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(len(devices)))
        return env

    async def _wait(
        self, reader: asyncio.Task[None], stream: ExecStream, exec_id: str, deadline: float
    ) -> bool:
        """Wait until the harness has reported or ended; True if the time limit came first.
        (A process the evaluation left running may hold the exec's output open after the
        harness has ended: so after a while, ask the engine whether the harness still runs.)"""
        loop = asyncio.get_running_loop()
        while not reader.done():
            left = deadline - loop.time()
            if left <= 0:
                return True
            waiter = asyncio.create_task(stream.reported.wait())
            await asyncio.wait(
                {reader, waiter}, timeout=min(left, 1.0), return_when="FIRST_COMPLETED"
            )
            waiter.cancel()
            if stream.reported.is_set() or reader.done():
                return False
            info = await asyncio.to_thread(self.client.api.exec_inspect, exec_id)
            if not info.get("Running", False):
                return False
        return False

    def _kill(self, container_id: str) -> None:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            self.client.api.kill(container_id)


@dataclasses.dataclass
class Armed:
    """A started container with the harness already running in it (``docker exec``),
    waiting for its spec on the exec's socket: an evaluation pays for neither start."""

    container: Container
    exec_id: str
    socket: Any
    """The Docker SDK's socket object (``raw`` is the OS socket inside it)."""

    @property
    def raw(self) -> socket.socket:
        return getattr(self.socket, "_sock", self.socket)

    def close_socket(self) -> None:
        with contextlib.suppress(OSError):
            self.raw.close()
        with contextlib.suppress(OSError):
            self.socket.close()


def arm(
    containers: Containers, command: list[str], env: dict[str, str], devices: Sequence[int] = ()
) -> Armed:
    """Start a container for ``devices`` and the harness in it (blocking; the container is
    removed again if anything fails)."""
    container = containers.start(list(devices))
    try:
        api = containers.client.api
        created = api.exec_create(
            container.id,
            command,
            stdin=True,
            environment=env,
            workdir=SCRATCH,
            user=containers.user,
        )
        sock = api.exec_start(created["Id"], socket=True)
    except BaseException:
        containers.remove(container.id)
        raise
    return Armed(container, created["Id"], sock)


def disarm(containers: Containers, armed: Armed) -> None:
    """Remove a container started ahead that no evaluation will use."""
    armed.close_socket()
    containers.remove(armed.container.id)


class ExecStream:
    """Demultiplexes a ``docker exec`` stream: stderr, and on stdout the harness's frames
    (the evaluation's stdout, then the result)."""

    def __init__(self, out: Capped, err: Capped) -> None:
        self.out = out
        self.err = err
        self.result: bytes | None = None
        self.reported = asyncio.Event()
        self._frames = bytearray()
        self._broken = False

    async def read(self, raw: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        buffer = bytearray()
        while chunk := await loop.sock_recv(raw, 1 << 18):
            buffer += chunk
            start = 0
            while len(buffer) - start >= 8:  # docker's frame: stream, 3 zeros, 4-byte size
                size = int.from_bytes(buffer[start + 4 : start + 8], "big")
                if len(buffer) - start - 8 < size:
                    break
                payload = bytes(buffer[start + 8 : start + 8 + size])
                if buffer[start] == 2:
                    self.err.take(payload)
                else:
                    self._stdout(payload)
                start += 8 + size
            del buffer[:start]

    def _stdout(self, data: bytes) -> None:
        if self._broken or self.result is not None:
            return
        frames = self._frames
        frames += data
        start = 0
        while len(frames) - start >= 5:  # the harness's frame: kind, 4-byte size
            kind, size = frames[start], int.from_bytes(frames[start + 1 : start + 5], "big")
            if kind not in b"or" or (kind == ord("r") and size > MESSAGE_CAP):
                self._broken = True  # never from the harness: stop believing this stream
                self.err.note("[the evaluation's stdout stream was malformed; cut here]")
                return
            if len(frames) - start - 5 < size:
                break
            payload = bytes(frames[start + 5 : start + 5 + size])
            start += 5 + size
            if kind == ord("o"):
                self.out.take(payload)
            else:
                self.result = payload
                self.reported.set()
                return
        del frames[:start]


def _shut(pool: WarmPool, containers: Containers) -> None:
    """Stop the pool and remove every container left (at close, or when the engine exits)."""
    for armed in pool.close():
        disarm(containers, armed)
    containers.remove_all()
