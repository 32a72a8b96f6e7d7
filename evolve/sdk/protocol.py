"""The harness protocol: what the engine and the sandbox harness say to each other, and the
limits both sides hold, defined here once for both.

A backend sends the harness a ``Spec`` (what to call, on which file, under which limits);
the harness answers with one ``HarnessMessage`` on a channel of its own. Backends build
messages of the same type for what only they can see (a timeout, an evaluation killed for
its memory, no answer at all), so the engine's ``judge`` reads one type whoever wrote it.
A message that comes off the wire is decoded strictly: anything malformed, over the size
cap, or claiming a state only a backend may report is rejected with the reason.

Standard library only: the harness imports this inside the sandbox (``python -I -S``) and
in minimal container images.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from evolve.sdk.procs import describe_exit

VERSION = 1
"""The protocol's version: every message and spec carries it."""

MESSAGE_CAP = 16 * 1024 * 1024
"""Bytes a harness message may take (metrics and artifacts, as JSON). The harness replaces a
larger one with an error saying so; a backend never accepts more."""

ARTIFACT_CHARS = 20_000
"""Characters of each artifact an evaluator returns that are kept (the rest is cut)."""

VALUE_CAP = 1 << 30
"""Bytes of a function's arguments, or of its return value, that the function runner
(``evolve.sdk.runner``) sends or accepts."""

ENGINE_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
"""The engine's environment variables an evaluation inherits (an allow-list: no keys)."""

SANDBOX_ENV = (
    "HOME",
    "TMPDIR",
    "PYTHONHASHSEED",
    "PYTHONDONTWRITEBYTECODE",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
)
"""The variables a backend sets for each evaluation (its home, threads, leased GPUs)."""

RUNTIME_ENV = ("NVIDIA_VISIBLE_DEVICES", "LD_LIBRARY_PATH")
"""Variables a container runtime or image may set that a GPU program needs."""

EVALUATION_ENV = ENGINE_ENV + SANDBOX_ENV + RUNTIME_ENV
"""Every variable an evaluation's environment can hold: what the function runner passes on
to the program's process (and nothing an evaluator added besides)."""


class ProtocolError(ValueError):
    """Bytes that are not a well-formed message or spec of this protocol."""


class Kind(StrEnum):
    """What a message reports."""

    OK = "ok"
    """The evaluator returned metrics (and maybe artifacts)."""
    ERROR = "error"
    """The evaluation raised: the program, or the evaluator on it."""
    EVALUATOR_ERROR = "evaluator_error"
    """The evaluator could not be loaded or called: the problem's fault."""
    TIMEOUT = "timeout"
    """Backend only: the wall-time limit ended the evaluation."""
    OUT_OF_MEMORY = "out_of_memory"
    """Backend only: the evaluation was killed for going over its memory limit."""
    NO_RESULT = "no_result"
    """Backend only: the evaluation ended, or could not start, without a message."""


FROM_HARNESS = frozenset({Kind.OK, Kind.ERROR, Kind.EVALUATOR_ERROR})
"""The kinds a harness may send; the others are a backend's to report."""


@dataclass(frozen=True)
class HarnessMessage:
    """The outcome of one harness run, as the harness or the backend reports it."""

    kind: Kind
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    """Numbers by name; None for one that is NaN or infinite (JSON has neither)."""
    bad_metrics: Mapping[str, str] = field(default_factory=dict)
    """Why each metric that is not a finite number is not (by name)."""
    artifacts: Mapping[str, str] = field(default_factory=dict)
    error: str = ""
    """One line: what went wrong (every kind but ``ok``)."""
    exception: str = ""
    """The name of the exception's type, for ``error`` (a ``MemoryError`` is out of memory)."""
    traceback: str = ""

    @classmethod
    def timeout(cls) -> HarnessMessage:
        return cls(Kind.TIMEOUT)

    @classmethod
    def out_of_memory(cls, traceback: str = "") -> HarnessMessage:
        return cls(Kind.OUT_OF_MEMORY, traceback=traceback)

    @classmethod
    def no_result(cls, reason: str) -> HarnessMessage:
        return cls(Kind.NO_RESULT, error=reason)

    def encode(self) -> bytes:
        """The message as JSON (UTF-8), as it travels."""
        body = {"v": VERSION, **asdict(self), "kind": self.kind.value}
        body.update(metrics=dict(self.metrics), bad_metrics=dict(self.bad_metrics))
        body["artifacts"] = dict(self.artifacts)
        return json.dumps(body, allow_nan=False).encode("utf-8")

    @classmethod
    def decode(cls, data: bytes) -> HarnessMessage:
        """A message a harness sent; ``ProtocolError`` (with the reason) for anything else."""
        if len(data) > MESSAGE_CAP:
            raise ProtocolError(f"it is over the {MESSAGE_CAP}-byte cap")
        body = _json_object(data)
        kind = _kind(body.get("kind"))
        if kind not in FROM_HARNESS:
            raise ProtocolError(
                f"kind {kind.value!r} is the backend's to report, not the harness's"
            )
        return cls(
            kind,
            metrics=_mapping(body, "metrics", _metric),
            bad_metrics=_mapping(body, "bad_metrics", _text),
            artifacts=_mapping(body, "artifacts", _text),
            error=_field(body, "error"),
            exception=_field(body, "exception"),
            traceback=_field(body, "traceback"),
        )

    @classmethod
    def received(cls, data: bytes, returncode: int | None) -> HarnessMessage:
        """What a backend makes of the bytes a harness left (``returncode``: how its process
        ended, for the reason when it left none): the message, or ``no_result`` saying why."""
        if not data:
            how = describe_exit(returncode)
            return cls.no_result(f"the evaluation {how} without reporting a result")
        try:
            return cls.decode(data)
        except ProtocolError as exc:
            return cls.no_result(f"the evaluation reported a malformed result: {exc}")


_MESSAGE_FIELDS = frozenset(f.name for f in fields(HarnessMessage)) | {"v"}


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"it is not JSON ({exc})") from None
    if type(body) is not dict:
        raise ProtocolError(f"it is a JSON {type(body).__name__}, not an object")
    if body.get("v") != VERSION:
        raise ProtocolError(f"protocol version {body.get('v')!r}, expected {VERSION}")
    unknown = sorted(set(body) - _MESSAGE_FIELDS)
    if unknown:
        raise ProtocolError(f"unknown fields {unknown}")
    return body


def _kind(value: Any) -> Kind:
    try:
        return Kind(value)
    except ValueError:
        raise ProtocolError(f"unknown kind {value!r}") from None


def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name, "")
    if type(value) is not str:
        raise ProtocolError(f"{name} is a {type(value).__name__}, not text")
    return value


def _metric(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ProtocolError(f"metric {name!r} is {value!r}, not a finite number")
    return float(value)


def _text(name: str, value: Any) -> str:
    if type(value) is not str:
        raise ProtocolError(f"{name!r} is a {type(value).__name__}, not text")
    return value


def _mapping(body: dict[str, Any], name: str, check: Any) -> dict[str, Any]:
    value = body.get(name, {})
    if type(value) is not dict:
        raise ProtocolError(f"{name} is a {type(value).__name__}, not an object")
    return {key: check(key, item) for key, item in value.items()}


@dataclass(frozen=True)
class Limits:
    """The rlimits the harness sets on itself before any evaluator code loads (0: none)."""

    memory_bytes: int = 0
    """Address space; 0 where a cgroup or container bounds the evaluation's real memory."""
    cpu_seconds: int = 0
    file_bytes: int = 0
    open_files: int = 0


@dataclass(frozen=True)
class Spec:
    """What a backend asks of the harness: which evaluator function, on which program file,
    under which limits, and where to write the message."""

    program_path: str
    function: str
    timeout: float
    """The evaluation's wall-time limit in seconds (the backend enforces it from outside;
    the function runner reads what is left of it)."""
    result_fd: int | None
    """The descriptor to write the message to; None: frames on the harness's own stdout
    (the docker backend; see ``evolve.sdk.harness``)."""
    evaluator_path: str | None = None
    evaluator_module: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    """Keyword arguments for the evaluator function (``[evaluator.options]``)."""
    limits: Limits = field(default_factory=Limits)
    sys_path: tuple[str, ...] = ()
    """Folders appended to the harness's import path (what the evaluator may import)."""
    program_code: str | None = None
    """The program's text, for the harness to write to ``program_path`` (when the program
    cannot be written there from outside: a container)."""

    def encode(self) -> bytes:
        body = {"v": VERSION, **asdict(self)}
        body.update(options=dict(self.options), sys_path=list(self.sys_path))
        return json.dumps(body).encode("utf-8")

    @classmethod
    def decode(cls, data: bytes) -> Spec:
        try:
            body = json.loads(data.decode("utf-8"))
            if type(body) is not dict or body.pop("v", None) != VERSION:
                raise ProtocolError(f"not a version-{VERSION} spec")
            limits = Limits(**body.pop("limits", {}))
            sys_path = tuple(str(p) for p in body.pop("sys_path", ()))
            spec = cls(**body, limits=limits, sys_path=sys_path)
        except (UnicodeDecodeError, ValueError, TypeError) as exc:
            raise ProtocolError(f"malformed harness spec: {exc}") from None
        if not isinstance(spec.program_path, str) or not isinstance(spec.function, str):
            raise ProtocolError("malformed harness spec: no program_path or function")
        return spec
