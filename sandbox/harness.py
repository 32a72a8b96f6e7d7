"""Runs one evaluation inside the sandbox and reports the result as JSON on a pipe.

Started by the engine as ``python -I -S harness.py SPEC_JSON`` in a fresh process group with a
private working directory and a scrubbed environment. It applies the resource limits to
itself before any evaluator or candidate code is loaded, imports the evaluator (by file
path or module name), calls it on the program, and writes exactly one JSON object to the
file descriptor named in the spec. Standard library only, so it runs in any image.

In a container (the docker backend) it is started as ``python3 -I harness.py -``, ahead
of time in a warm container, and waits for its spec: it comes on stdin, with the program's text under ``program_code`` (written to
``program_path``; the spec itself is saved beside it, with the private result descriptor's
number, for ``evolve.candidate``). There the
spec says ``"result_fd": "stdout"``: before any evaluator code loads, the harness keeps its
original stdout on a private close-on-exec descriptor and gives the evaluation a pipe as
fd 1 instead; a thread forwards what the evaluation prints, and the result goes last, as
frames on the private stdout: one kind byte (``o``: the evaluation's stdout, ``r``: the
result message), a 4-byte big-endian length, then the bytes. Nothing the evaluation starts
holds that descriptor, so no program of the candidate's can write a result there.

Result objects::

    {"kind": "ok", "metrics": {...}, "artifacts": {...}}
    {"kind": "error", "error": "one line", "traceback": "..."}           # evaluation raised
    {"kind": "evaluator_error", "error": "one line", "traceback": "..."} # evaluator unusable

(both with ``"exception"``: the name of the exception's type).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import math
import os
import resource
import select
import sys
import threading
import time
import traceback
from typing import Any

MAX_ARTIFACT_CHARS = 20000


def _limit(kind: int, value: int) -> None:
    hard = resource.getrlimit(kind)[1]
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))


def apply_limits(limits: dict[str, int]) -> None:
    # Address space: 0 where a cgroup bounds the whole evaluation's memory (and for GPU
    # evaluations): that counts what is used, and RLIMIT_AS would only break runtimes that
    # reserve more address space than they use (CUDA, JVMs, V8).
    if limits.get("memory_bytes"):
        _limit(resource.RLIMIT_AS, limits["memory_bytes"])
    if limits.get("cpu_seconds"):
        soft = limits["cpu_seconds"]
        _hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        resource.setrlimit(
            resource.RLIMIT_CPU, (soft, soft + 1 if _hard == resource.RLIM_INFINITY else _hard)
        )
    if limits.get("file_bytes"):
        _limit(resource.RLIMIT_FSIZE, limits["file_bytes"])
    if limits.get("open_files"):
        _limit(resource.RLIMIT_NOFILE, limits["open_files"])
    _limit(resource.RLIMIT_CORE, 0)


def load_evaluator(spec: dict[str, Any]) -> Any:
    if spec.get("evaluator_path"):
        path = spec["evaluator_path"]
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
        module = importlib.import_module(spec["evaluator_module"])
    function = getattr(module, spec["function"], None)
    if not callable(function):
        where = spec.get("evaluator_path") or spec.get("evaluator_module")
        raise AttributeError(f"{where} has no function {spec['function']!r}")
    return function


def _number(value: Any) -> float | str:
    """A metric as a float, or a description of why it is not a number."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int):
        return float(value)
    if isinstance(value, float):
        return value
    # numpy scalars and 0-d arrays, without importing numpy
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) in ((), None):
        try:
            inner = item()
        except (TypeError, ValueError):
            inner = None
        if isinstance(inner, bool | int | float) and not isinstance(inner, complex):
            return float(inner)
    return f"not a number: {type(value).__name__} {str(value)[:80]!r}"


def normalise(result: Any) -> dict[str, Any]:
    """Turn a dict or an EvaluationResult-like object into the JSON result message."""
    artifacts: dict[str, str] = {}
    if isinstance(result, dict):
        raw_metrics = result
    elif hasattr(result, "metrics"):
        raw_metrics = result.metrics
        raw_artifacts = getattr(result, "artifacts", None) or {}
        if not isinstance(raw_artifacts, dict):
            raise TypeError("EvaluationResult.artifacts must be a dict of name -> text")
        artifacts = {str(k): str(v)[:MAX_ARTIFACT_CHARS] for k, v in raw_artifacts.items()}
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
    return {"kind": "ok", "metrics": metrics, "bad_metrics": bad, "artifacts": artifacts}


def _error(kind: str, exc: BaseException) -> dict[str, Any]:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    tb = traceback.format_exc()
    return {
        "kind": kind,
        "exception": type(exc).__name__,  # MemoryError reads as out of memory
        "error": (text[0] if text else type(exc).__name__)[:500],
        "traceback": tb[-8000:],
    }


class FramedStdout:
    """``"result_fd": "stdout"``: the harness's stdout, made private, carries the
    evaluation's stdout and then the result, as frames (see the module docstring)."""

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

    def write(self, text: str) -> None:
        """The result: after what the evaluation printed so far."""
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        os.write(self.wake_write, b"x")
        self.thread.join(timeout=1.0)
        self._frame(b"r", text.encode("utf-8"))

    def flush(self) -> None:
        """Frames are written whole; nothing is buffered."""


def read_spec(argument: str) -> dict[str, Any]:
    """The spec from its file, or (``-``) from stdin, with the program written out."""
    if argument != "-":
        with open(argument, encoding="utf-8") as fh:
            return json.load(fh)
    spec = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    # A harness may wait for its spec in a warm container: the evaluation starts now.
    spec["started"] = time.monotonic()
    code = spec.pop("program_code", None)
    if code is not None:
        with open(spec["program_path"], "w", encoding="utf-8") as fh:
            fh.write(code)
    return spec


def save_spec(spec: dict[str, Any], result_fd: int) -> None:
    """Keep a spec that came on stdin as a file beside the program, where
    ``evolve.candidate`` looks (``sys.argv[1]``) for the time limit and the result fd."""
    saved = os.path.join(os.path.dirname(spec["program_path"]), ".evolve-spec.json")
    with open(saved, "w", encoding="utf-8") as fh:
        json.dump({**spec, "result_fd": result_fd}, fh)
    sys.argv[1] = saved


def main() -> None:
    spec = read_spec(sys.argv[1])
    if spec["result_fd"] == "stdout":
        out: Any = FramedStdout()
        fd = out.fd
    else:
        out = os.fdopen(int(spec["result_fd"]), "w", encoding="utf-8")
        fd = out.fileno()
    if sys.argv[1] == "-":
        save_spec(spec, fd)
    for entry in spec.get("sys_path") or ():
        if entry not in sys.path:
            sys.path.append(entry)
    apply_limits(spec.get("limits", {}))
    options = spec.get("options") or {}
    try:
        function = load_evaluator(spec)
    except BaseException as exc:  # the evaluator is unusable: report it, whatever it raised
        message = _error("evaluator_error", exc)
    else:
        try:
            args = (spec["program_path"],)
            result = function(*args, **options) if options else function(*args)
            message = normalise(result)
        except BaseException as exc:  # candidate code may raise anything, SystemExit included
            message = _error("error", exc)
    sys.stderr.flush()
    out.write(json.dumps(message, allow_nan=False))
    out.flush()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
