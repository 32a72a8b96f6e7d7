"""One call's process, from the evaluator's side: start it, talk to it, end it.

The function runner (``evolve.sdk.runner``) hands each call to an ``Exchange``: it starts
``python -I -S wire.py FD`` in a session of its own, sends the request (which program,
which function), waits for the process to say it loaded the program, sends the arguments,
and reads the answer frame from a private pipe, all under one deadline, with the process's
stdout and stderr kept (capped). Whatever happens, the process group is killed and reaped
before the call returns; in the harness's own process the orphans the program left are
killed too. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evolve.sdk import wire
from evolve.sdk.procs import children, describe_exit, kill_group
from evolve.sdk.protocol import VALUE_CAP

KINDS = ("raised", "timeout", "crashed", "bad_result")
OUTPUT_CAP = 1 << 20
"""Bytes of the process's stdout and of its stderr that are kept (each)."""

_WIRE = str(Path(wire.__file__).resolve())
_LIVE: set[int] = set()
_LIVE_LOCK = threading.Lock()


class CallError(RuntimeError):
    """The program's function did not give a usable answer; ``kind`` says how: ``raised``
    (it raised, or the program would not load), ``timeout`` (killed with its whole group),
    ``crashed`` (its process died without an answer) or ``bad_result`` (it returned
    something that cannot travel as data)."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        traceback: str = "",
        stdout: str = "",
        stderr: str = "",
        during: str = "call",
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.during = during
        """``load`` (importing the program, finding the function) or ``call``."""
        self.traceback = traceback
        self.stdout = stdout
        self.stderr = stderr


@dataclass(frozen=True)
class CallOutcome:
    """What one call gave: the value, and the wall time from sending the arguments to
    receiving the answer (the process's start-up and the program's import excluded)."""

    value: Any
    seconds: float
    stdout: str = ""
    stderr: str = ""


class Exchange:
    """One call's process: the protocol (load, ready, arguments, answer) and its clean-up."""

    def __init__(self, program: str, function: str, env: dict[str, str], adopt: bool) -> None:
        """``adopt``: this process is the harness's, a subreaper; kill the orphans the
        program leaves to it."""
        self.program = program
        self.function = function
        self.env = env
        self.adopt = adopt
        self.out = bytearray()
        self.err = bytearray()
        self.ready = False

    def text(self, data: bytearray) -> str:
        return data[:OUTPUT_CAP].decode("utf-8", errors="replace")

    def error(self, kind: str, message: str, traceback: str = "") -> CallError:
        return CallError(
            kind,
            message,
            traceback=traceback,
            stdout=self.text(self.out),
            stderr=self.text(self.err),
            during="call" if self.ready else "load",
        )

    def run(self, request: bytes, arguments: bytes, timeout: float) -> CallOutcome:
        before = children() if self.adopt else set()
        read_end, write_end = os.pipe()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", _WIRE, str(write_end)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(write_end,),
                close_fds=True,
                start_new_session=True,
                cwd=os.path.dirname(self.program),
                env=self.env,
            )
        except OSError:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        with _LIVE_LOCK:
            _LIVE.add(proc.pid)
        try:
            return self._talk(proc, read_end, request, arguments, timeout)
        finally:
            kill_group(proc.pid)
            proc.wait()
            with _LIVE_LOCK:
                _LIVE.discard(proc.pid)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
            os.close(read_end)
            if self.adopt:
                _kill_orphans(before)

    def _talk(
        self,
        proc: subprocess.Popen[bytes],
        result_fd: int,
        request: bytes,
        arguments: bytes,
        timeout: float,
    ) -> CallOutcome:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        deadline = time.monotonic() + timeout
        stdin = proc.stdin.fileno()
        os.set_blocking(stdin, False)
        sinks = {proc.stdout.fileno(): self.out, proc.stderr.fileno(): self.err}
        result = bytearray()
        pending = memoryview(request)
        sel = selectors.DefaultSelector()
        sel.register(stdin, selectors.EVENT_WRITE)
        for fd in (*sinks, result_fd):
            sel.register(fd, selectors.EVENT_READ)
        ready, sent_at, answer, answered_at, exited_at = False, 0.0, None, 0.0, None
        try:
            while True:
                now = time.monotonic()
                if answer is not None and (not sinks or now - answered_at > 0.5):
                    break  # the answer is in; its output too, or enough waiting for it
                if answer is None and now >= deadline:
                    raise self.error(
                        "timeout",
                        f"{self.function} did not return within {timeout:.3g}s; "
                        "its process group was killed",
                    )
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                if answer is None and exited_at is not None and now - exited_at > 0.5:
                    raise self._crashed(proc.returncode)
                for key, _ in sel.select(timeout=0.05 if exited_at is not None else 0.5):
                    fd = key.fd
                    if fd == stdin:
                        try:
                            pending = pending[os.write(stdin, pending) :]
                        except BrokenPipeError:
                            pending = memoryview(b"")
                        if not pending:
                            sel.unregister(stdin)
                            if ready:
                                proc.stdin.close()
                        continue
                    chunk = os.read(fd, 1 << 16)
                    if not chunk:
                        sel.unregister(fd)
                        sinks.pop(fd, None)
                        continue
                    if fd == result_fd:
                        result += chunk
                        if len(result) > VALUE_CAP + 1024:
                            raise self.error(
                                "bad_result",
                                f"{self.function} returned more than {VALUE_CAP} bytes",
                            )
                        continue
                    sink = sinks[fd]
                    if len(sink) < OUTPUT_CAP:
                        sink += chunk[: OUTPUT_CAP - len(sink)]
                while answer is None:
                    try:
                        frame = wire.unpack(result, VALUE_CAP)
                    except wire.WireError as exc:
                        raise self.error(
                            "bad_result",
                            f"{self.function}'s process sent a malformed answer: {exc}",
                        ) from None
                    if frame is None:
                        break
                    header, blobs, used = frame
                    del result[:used]
                    if header.get("kind") == "ready" and not ready:
                        ready, sent_at = True, time.monotonic()
                        self.ready = True
                        pending = memoryview(arguments)
                        sel.register(stdin, selectors.EVENT_WRITE)
                    else:
                        answer, answered_at = (header, blobs), time.monotonic()
        finally:
            sel.close()
        return self._outcome(answer[0], answer[1], answered_at - sent_at if ready else 0.0)

    def _crashed(self, code: int | None) -> CallError:
        lines = [ln for ln in self.text(self.err).splitlines() if ln.strip()]
        last = f": {lines[-1].strip()[:300]}" if lines else ""
        return self.error(
            "crashed",
            f"the candidate's process {describe_exit(code)} before {self.function} returned{last}",
        )

    def _outcome(self, header: dict[str, Any], blobs: list[bytes], seconds: float) -> CallOutcome:
        kind = header.get("kind")
        text = str(header.get("error", ""))[:500]
        if kind == "ok" and "value" in header:
            try:
                value = wire.decode(header["value"], blobs)
            except wire.WireError as exc:
                raise self.error(
                    "bad_result", f"{self.function} returned a value that cannot be read: {exc}"
                ) from None
            return CallOutcome(value, seconds, self.text(self.out), self.text(self.err))
        if kind == "raised":
            trace = str(header.get("traceback", ""))
            if header.get("stage") == "missing":
                raise self.error("raised", text)
            if header.get("stage") == "load":
                raise self.error("raised", f"the program failed to load: {text}", trace)
            raise self.error("raised", f"{self.function} raised {text}", trace)
        if kind == "bad_result":
            raise self.error("bad_result", text or f"{self.function} returned an unusable value")
        raise self.error("bad_result", f"{self.function}'s process sent a malformed answer")


def _kill_orphans(before: set[int]) -> None:
    """Kill (and reap) what the program left behind that was handed to us as a subreaper:
    new children of this process that no call of ours started."""
    for _ in range(50):
        with _LIVE_LOCK:
            orphans = children() - before - _LIVE
        if not orphans:
            return
        for pid in orphans:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)
        time.sleep(0.01)
