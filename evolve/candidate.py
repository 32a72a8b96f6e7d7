"""Run a candidate's function in a process of its own and get its return value back as data.

For evaluator authors: the code that computes a score must not share a process with the
code being scored, or the candidate can patch numpy, builtins or the evaluator itself.
``call(program_path, "run", *args, **kwargs)`` starts a fresh ``python -I -S`` child in
its own process group, sends the arguments, runs the function there and returns what it
returned, as plain data (JSON-like values and plain numpy arrays, never unpickled; see
``evolve.wire``)::

    from evolve.candidate import CandidateError, call

    def evaluate(program_path):
        centers, radii = call(program_path, "construct_packing", timeout=30)
        ...  # check and score here, in the evaluator's own process

Anything that goes wrong on the candidate's side raises ``CandidateError`` with a ``kind``:
``raised`` (it raised, or would not load), ``timeout`` (killed with its whole group),
``crashed`` (its process died without an answer) or ``bad_result`` (it returned something
that cannot travel as data). Let it propagate and the candidate fails with its message.

The evaluator's process is protected from its child: it is made non-dumpable (the child
cannot ptrace it nor open ``/proc/<pid>/mem`` or ``/proc/<pid>/fd``), no descriptor but
the child's own pipes is inherited (the harness's result pipe never is), the child gets an
allow-listed environment and gives up every capability before candidate code runs;
rlimits are inherited. Under the sandbox harness a call without a ``timeout`` runs until
the evaluation's own time limit (``sandbox.timeout``) ends it, and the candidate is marked
``timeout``; a ``timeout`` given is cut to what is left of that limit less a margin, so
the evaluator can still report (``remaining_time()``).

Standard library only at import time; numpy is needed only where arrays are exchanged.
"""

from __future__ import annotations

import contextlib
import json
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

from evolve import wire
from evolve.procs import age, children, describe_exit, kill_group

__all__ = ["CandidateError", "Outcome", "call", "remaining_time", "run"]

KINDS = ("raised", "timeout", "crashed", "bad_result")
DEFAULT_TIMEOUT = 300.0
"""Seconds a call may take outside the sandbox harness, when none is given."""
OUTPUT_CAP = 1 << 20
"""Bytes of the child's stdout and of its stderr that are kept (each)."""
RESULT_CAP = 1 << 30
"""Bytes of a return value (or of the arguments) at most."""
PASSED_ENV = (
    "PATH",
    "LANG",
    "LC_ALL",
    "TZ",
    "HOME",
    "TMPDIR",
    "PYTHONHASHSEED",
    "PYTHONDONTWRITEBYTECODE",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "LD_LIBRARY_PATH",
)
"""The only variables of the evaluator's environment the candidate's process sees."""

_WIRE = str(Path(wire.__file__).resolve())
_LIVE: set[int] = set()
_LIVE_LOCK = threading.Lock()
_PROTECTED = False


class CandidateError(RuntimeError):
    """The candidate's function did not give a usable answer; ``kind`` says how."""

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
class Outcome:
    """What one call gave: the value, and the wall time from sending the arguments to
    receiving the answer (the child's start-up and the program's import excluded)."""

    value: Any
    seconds: float
    stdout: str = ""
    stderr: str = ""


def _harness_budget() -> tuple[float | None, int | None, float | None]:
    """(seconds the evaluation may take, the harness's result fd, when the evaluation
    started on the monotonic clock, if the spec says) when run by the harness."""
    seconds: float | None = None
    with contextlib.suppress(ValueError):
        seconds = float(os.environ.get("EVOLVE_CANDIDATE_TIMEOUT", "") or "nan")
    seconds = seconds if seconds == seconds else None  # NaN: not set
    main = getattr(sys.modules.get("__main__"), "__file__", None) or ""
    spec: Any = None
    if os.path.basename(main) == "harness.py" and len(sys.argv) >= 2:
        with contextlib.suppress(OSError, ValueError), open(sys.argv[1], encoding="utf-8") as fh:
            spec = json.load(fh)
    if not isinstance(spec, dict):
        return seconds, None, None
    timeout, fd, started = spec.get("timeout"), spec.get("result_fd"), spec.get("started")
    if isinstance(timeout, int | float) and timeout > 0:
        seconds = float(timeout)
    started = float(started) if isinstance(started, int | float) else None
    return seconds, fd if isinstance(fd, int) else None, started


_BUDGET, _HARNESS_FD, _STARTED = _harness_budget()
# The evaluation started when the harness got its spec (a harness started ahead, waiting in
# a warm container, says when), else when the harness process started.
if _STARTED is None or not 0 <= time.monotonic() - _STARTED < 86400 * 2:
    _STARTED = time.monotonic() - age()
_DEADLINE = None if _BUDGET is None else _STARTED + _BUDGET
if _HARNESS_FD is not None:  # whatever the evaluator starts, its result pipe stays here
    with contextlib.suppress(OSError):
        os.set_inheritable(_HARNESS_FD, False)


def remaining_time() -> float | None:
    """Seconds left for candidate calls in this evaluation (None: no overall limit): the
    evaluation's time limit, less what has passed since the harness started and a margin
    for the evaluator to report."""
    if _DEADLINE is None or _BUDGET is None:
        return None
    margin = max(0.5, min(3.0, 0.15 * _BUDGET))
    return _DEADLINE - margin - time.monotonic()


def call(
    program_path: str | os.PathLike[str],
    function: str,
    *args: Any,
    timeout: float | None = None,
    **kwargs: Any,
) -> Any:
    """Run ``function(*args, **kwargs)`` of the candidate file in a fresh process; return
    its value (plain data). Raises ``CandidateError``. ``timeout``: seconds (default: the
    evaluation's own time limit under the sandbox, else ``DEFAULT_TIMEOUT``)."""
    return run(program_path, function, args, kwargs, timeout=timeout).value


def run(
    program_path: str | os.PathLike[str],
    function: str,
    args: tuple[Any, ...] | list[Any] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    timeout: float | None = None,
    memory_mb: int | None = None,
    env: dict[str, str] | None = None,
    echo: bool = True,
) -> Outcome:
    """Like ``call``, with the details: the ``Outcome`` (value, seconds, output), a memory
    cap for the child, extra environment variables, and ``echo`` (copy the child's output
    to this process's stdout and stderr, where the evaluation's output is kept)."""
    _protect()
    program = os.path.abspath(os.fspath(program_path))
    if not os.path.isfile(program):
        raise FileNotFoundError(f"{program}: no such candidate file (check program_path)")
    left = remaining_time()
    if timeout is not None:  # the evaluator's own limit, leaving it time to report
        limit = timeout if left is None else min(timeout, left)
    elif left is None:
        limit = DEFAULT_TIMEOUT
    else:  # none given: the sandbox's own time limit decides (status "timeout")
        limit = left + 60.0
    try:
        payload, blobs = wire.encode([tuple(args), dict(kwargs or {})])
    except wire.WireError as exc:
        raise TypeError(
            f"arguments for {function} cannot be sent to the candidate: {exc}"
        ) from None
    request = {
        "program": program,
        "function": function,
        "sys_path": [p for p in sys.path if p and os.path.isdir(p)],
        "limit": RESULT_CAP,
        "memory_bytes": memory_mb * 1024 * 1024 if memory_mb else None,
    }
    arguments = wire.pack({"args": payload[0], "kwargs": payload[1]}, blobs)
    if len(arguments) > RESULT_CAP:
        raise ValueError(f"arguments for {function} exceed {RESULT_CAP} bytes")
    child = _Child(program, function, _child_env(env))
    try:
        outcome = child.run(wire.pack(request), arguments, max(limit, 0.05))
    except CandidateError as exc:
        if echo:  # the candidate's own traceback, for whoever reads the evaluation's output
            _echo(exc.stdout, sys.stdout)
            _echo(exc.stderr + exc.traceback, sys.stderr)
        raise
    if echo:
        _echo(outcome.stdout, sys.stdout)
        _echo(outcome.stderr, sys.stderr)
    return outcome


def _echo(text: str, stream: Any) -> None:
    if text:
        with contextlib.suppress(OSError, ValueError):
            stream.write(text)
            stream.flush()


def _child_env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(extra or {})
    return env


def _protect() -> None:
    """Make this process non-dumpable (no ptrace, no /proc/<pid>/mem or fd for the child);
    under the harness, also adopt the candidate's orphans so that they can be killed."""
    global _PROTECTED
    if _PROTECTED or not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return
    pr_set_dumpable, pr_set_child_subreaper = 4, 36
    libc.prctl(pr_set_dumpable, 0, 0, 0, 0)
    if _HARNESS_FD is not None:
        libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0)
    _PROTECTED = True


class _Child:
    """One child process: the protocol (load, ready, arguments, answer) and its clean-up."""

    def __init__(self, program: str, function: str, env: dict[str, str]) -> None:
        self.program = program
        self.function = function
        self.env = env
        self.out = bytearray()
        self.err = bytearray()
        self.ready = False

    def text(self, data: bytearray) -> str:
        return data[:OUTPUT_CAP].decode("utf-8", errors="replace")

    def error(self, kind: str, message: str, traceback: str = "") -> CandidateError:
        return CandidateError(
            kind,
            message,
            traceback=traceback,
            stdout=self.text(self.out),
            stderr=self.text(self.err),
            during="call" if self.ready else "load",
        )

    def run(self, request: bytes, arguments: bytes, timeout: float) -> Outcome:
        before = children() if _HARNESS_FD is not None else set()
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
            if _HARNESS_FD is not None:
                _kill_orphans(before)

    def _talk(
        self,
        proc: subprocess.Popen[bytes],
        result_fd: int,
        request: bytes,
        arguments: bytes,
        timeout: float,
    ) -> Outcome:
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
                        if len(result) > RESULT_CAP + 1024:
                            raise self.error(
                                "bad_result",
                                f"{self.function} returned more than {RESULT_CAP} bytes",
                            )
                        continue
                    sink = sinks[fd]
                    if len(sink) < OUTPUT_CAP:
                        sink += chunk[: OUTPUT_CAP - len(sink)]
                while answer is None:
                    try:
                        frame = wire.unpack(result, RESULT_CAP)
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

    def _crashed(self, code: int | None) -> CandidateError:
        lines = [ln for ln in self.text(self.err).splitlines() if ln.strip()]
        last = f": {lines[-1].strip()[:300]}" if lines else ""
        return self.error(
            "crashed",
            f"the candidate's process {describe_exit(code)} before {self.function} returned{last}",
        )

    def _outcome(self, header: dict[str, Any], blobs: list[bytes], seconds: float) -> Outcome:
        kind = header.get("kind")
        text = str(header.get("error", ""))[:500]
        if kind == "ok" and "value" in header:
            try:
                value = wire.decode(header["value"], blobs)
            except wire.WireError as exc:
                raise self.error(
                    "bad_result", f"{self.function} returned a value that cannot be read: {exc}"
                ) from None
            return Outcome(value, seconds, self.text(self.out), self.text(self.err))
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
    """Kill (and reap) what the candidate left behind that was handed to us as a subreaper:
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
