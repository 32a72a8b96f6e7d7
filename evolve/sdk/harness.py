"""Runs one evaluation inside the sandbox and reports its outcome as one message.

Every backend starts this file the same way, as a script, in a fresh process group with a
private working directory and an allow-listed environment:

* ``process``: ``python -I -S .../evolve/sdk/harness.py SPEC_FILE``; the message goes to
  the pipe whose descriptor the spec names (``Spec.result_fd``);
* ``docker``: ``python3 -I .../evolve/sdk/harness.py -``, ahead of time in a warm
  container, waiting for its spec on stdin (with the program's text, which it writes to
  ``program_path``). The spec names no descriptor: before any evaluator code loads, the
  harness keeps its original stdout on a private close-on-exec descriptor and gives the
  evaluation a pipe as fd 1 instead; a thread forwards what the evaluation prints, and the
  message goes last, as frames on the private stdout: one kind byte (``o``: the
  evaluation's stdout, ``r``: the message), a 4-byte big-endian length, then the bytes.
  Nothing the evaluation starts holds that descriptor, so no program of the candidate's
  can write a message there.

The harness applies the spec's rlimits to itself, sets the evaluation's clock for the
function runner (``evolve.sdk.context``), imports the evaluator (by file path or module
name), calls it on the program and writes exactly one ``HarnessMessage``
(``evolve.sdk.protocol``). Standard library only, so it runs in any image with Python.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import os
import resource
import select
import sys
import threading
import time
import traceback
from typing import Any

if __name__ == "__main__" and not __package__:
    # Run as a file: its own folder heads the import path, which would make the sdk's
    # modules top-level names. The folder that holds the evolve package replaces it (at
    # the end, as the engine's import path would have it), so the harness and the
    # evaluator share one evolve.sdk, and with it one evaluation context.
    del sys.path[0]
    _root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if _root not in sys.path:
        sys.path.append(_root)

from evolve.sdk import context
from evolve.sdk.procs import age
from evolve.sdk.protocol import (
    ARTIFACT_CHARS,
    MESSAGE_CAP,
    HarnessMessage,
    Kind,
    Limits,
    Spec,
)


def _limit(kind: int, value: int) -> None:
    hard = resource.getrlimit(kind)[1]
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))


def apply_limits(limits: Limits) -> None:
    """Set the spec's rlimits on this process (inherited by all it starts)."""
    # Address space: 0 where a cgroup bounds the whole evaluation's memory (and for GPU
    # evaluations): that counts what is used, and RLIMIT_AS would only break runtimes that
    # reserve more address space than they use (CUDA, JVMs, V8).
    if limits.memory_bytes:
        _limit(resource.RLIMIT_AS, limits.memory_bytes)
    if limits.cpu_seconds:
        soft = limits.cpu_seconds
        hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        resource.setrlimit(
            resource.RLIMIT_CPU, (soft, soft + 1 if hard == resource.RLIM_INFINITY else hard)
        )
    if limits.file_bytes:
        _limit(resource.RLIMIT_FSIZE, limits.file_bytes)
    if limits.open_files:
        _limit(resource.RLIMIT_NOFILE, limits.open_files)
    _limit(resource.RLIMIT_CORE, 0)


def load_evaluator(spec: Spec) -> Any:
    """The evaluator function the spec names, from its file or its module."""
    if spec.evaluator_path:
        path = spec.evaluator_path
        folder = os.path.dirname(path)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        module_spec = importlib.util.spec_from_file_location("evolve_user_evaluator", path)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules["evolve_user_evaluator"] = module
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(str(spec.evaluator_module))
    function = getattr(module, spec.function, None)
    if not callable(function):
        where = spec.evaluator_path or spec.evaluator_module
        raise AttributeError(f"{where} has no function {spec.function!r}")
    return function


def _number(value: Any) -> float | str:
    """A metric as a float, or a description of why it is not a number."""
    if isinstance(value, bool | int | float):
        return float(value)
    # numpy scalars and 0-d arrays, without importing numpy
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) in ((), None):
        try:
            inner = item()
        except (TypeError, ValueError):
            inner = None
        if isinstance(inner, bool | int | float):
            return float(inner)
    return f"not a number: {type(value).__name__} {str(value)[:80]!r}"


def normalise(result: Any) -> HarnessMessage:
    """The message for what the evaluator returned: a dict of metrics, or an
    ``EvaluationResult``-like object with ``metrics`` and ``artifacts``."""
    artifacts: dict[str, str] = {}
    if isinstance(result, dict):
        raw_metrics = result
    elif hasattr(result, "metrics"):
        raw_metrics = result.metrics
        raw_artifacts = getattr(result, "artifacts", None) or {}
        if not isinstance(raw_artifacts, dict):
            raise TypeError("EvaluationResult.artifacts must be a dict of name -> text")
        artifacts = {str(k): str(v)[:ARTIFACT_CHARS] for k, v in raw_artifacts.items()}
    else:
        raise TypeError(
            f"the evaluator returned {type(result).__name__}; expected a dict of metrics "
            "or an EvaluationResult"
        )
    if not isinstance(raw_metrics, dict):
        raise TypeError("metrics must be a dict of name -> number")
    metrics: dict[str, float | None] = {}
    bad: dict[str, str] = {}
    for key, value in raw_metrics.items():
        number = _number(value)
        if isinstance(number, str):
            bad[str(key)] = number
        elif math.isfinite(number):
            metrics[str(key)] = number
        else:
            metrics[str(key)] = None
            bad[str(key)] = repr(number)
    return HarnessMessage(Kind.OK, metrics, bad, artifacts)


def failure(kind: Kind, exc: BaseException) -> HarnessMessage:
    """The message for an exception (call within its ``except`` block, for the traceback)."""
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return HarnessMessage(
        kind,
        error=(text[0] if text else type(exc).__name__)[:500],
        exception=type(exc).__name__,  # MemoryError reads as out of memory
        traceback=traceback.format_exc()[-8000:],
    )


def capped(message: HarnessMessage) -> bytes:
    """The message's bytes, or, over ``MESSAGE_CAP``, an error that says so."""
    data = message.encode()
    if len(data) <= MESSAGE_CAP:
        return data
    return HarnessMessage(
        Kind.ERROR,
        error=(
            f"the evaluation's result is {len(data)} bytes as JSON, over the {MESSAGE_CAP}-byte "
            "cap (return fewer or shorter metrics and artifacts)"
        ),
    ).encode()


class FramedStdout:
    """``result_fd`` None: the harness's stdout, made private, carries the evaluation's
    stdout and then the message, as frames (see the module docstring)."""

    def __init__(self) -> None:
        sys.stdout.flush()
        self.fd = os.dup(1)  # close-on-exec: no program the evaluation starts inherits it
        self.read_end, write_end = os.pipe()
        os.dup2(write_end, 1)  # the evaluation's stdout from now on
        os.close(write_end)
        self.wake_read, self.wake_write = os.pipe()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._forward, daemon=True)
        self.thread.start()

    def _frame(self, kind: bytes, data: bytes) -> None:
        view = memoryview(kind + len(data).to_bytes(4, "big") + data)
        with self.lock:
            while view:
                view = view[os.write(self.fd, view) :]

    def _forward(self) -> None:
        stopping = 0
        try:
            while stopping < 8:  # once told to stop: what is already there, then no more
                ready, _, _ = select.select(
                    [self.read_end, self.wake_read], [], [], 0 if stopping else None
                )
                if self.wake_read in ready or stopping:
                    stopping += 1
                if self.read_end not in ready:
                    if stopping:
                        return
                    continue
                chunk = os.read(self.read_end, 65536)
                if not chunk:
                    return
                self._frame(b"o", chunk)
        except OSError:  # the engine stopped reading: nothing left to forward to
            return

    def send(self, data: bytes) -> None:
        """The message: after what the evaluation printed so far."""
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        os.write(self.wake_write, b"x")
        self.thread.join(timeout=1.0)
        self._frame(b"r", data)


class ResultPipe:
    """``result_fd`` N: the message goes to that descriptor, which nothing the evaluation
    starts inherits."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_inheritable(fd, False)

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]


def read_spec(argument: str) -> tuple[Spec, float]:
    """The spec, from its file or (``-``) from stdin with the program written out, and when
    the evaluation started on the monotonic clock."""
    if argument != "-":
        with open(argument, "rb") as fh:
            spec = Spec.decode(fh.read())
        return spec, time.monotonic() - age()  # the backend's clock started with this process
    spec = Spec.decode(sys.stdin.buffer.read())
    started = time.monotonic()  # a harness waits for its spec in a warm container
    if spec.program_code is not None:
        with open(spec.program_path, "w", encoding="utf-8") as fh:
            fh.write(spec.program_code)
    return spec, started


def main(argument: str) -> None:
    """Run the evaluation ``argument`` names (a spec file, or ``-``: stdin) and exit."""
    spec, started = read_spec(argument)
    out = FramedStdout() if spec.result_fd is None else ResultPipe(spec.result_fd)
    for entry in spec.sys_path:
        if entry not in sys.path:
            sys.path.append(entry)
    apply_limits(spec.limits)
    context.configure(spec.timeout, started=started, harness=True)
    try:
        function = load_evaluator(spec)
    except BaseException as exc:  # noqa: BLE001 - an unusable evaluator, whatever it raised
        message = failure(Kind.EVALUATOR_ERROR, exc)
    else:
        try:
            result = function(spec.program_path, **spec.options)
            message = normalise(result)
        except BaseException as exc:  # noqa: BLE001 - candidate code raises anything, SystemExit too
            message = failure(Kind.ERROR, exc)
    data = capped(message)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    out.send(data)
    os._exit(0)  # no atexit hooks, no waiting for threads the evaluation left


if __name__ == "__main__":
    main(sys.argv[1])
