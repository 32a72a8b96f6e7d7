"""The data format between an evaluator and the program's process, and that process's main.

``evolve.sdk.runner`` runs a function of the program being scored in a child process
started as ``python -I -S wire.py RESULT_FD``; arguments go to it and the return value
comes back as *data*, never as pickles, so nothing the program does in its own process can
run code in the evaluator's:

* a frame is ``MAGIC``, an 8-byte header length, a JSON header, a 4-byte blob count and
  length-prefixed blobs; every blob is one ``.npy`` array, read back with
  ``allow_pickle=False``;
* values are JSON trees in which every JSON object is a tag (``tuple``, ``dict``,
  ``complex``, ``bytes``, ``array``, ``scalar``), so a candidate's dict can never pass
  for an array or a tuple;
* decoded arrays are always plain ``numpy.ndarray`` of a bool, integer, float or complex
  dtype in native byte order: never a subclass, an object or a structured array.

Standard library only at import time (numpy is imported when an array is met), so the
child starts in any image that has Python; this file runs as a script and imports nothing
of evolve (the program's process never loads the engine's package).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import os
import struct
import sys
from typing import Any, NoReturn

MAGIC = b"EVW1"
MAX_DEPTH = 64
ARRAY_KINDS = "biufc"
"""numpy dtype kinds that may cross: bool, signed and unsigned integers, floats, complex."""


class WireError(ValueError):
    """A value that cannot be sent, or bytes that are not a well-formed frame."""


# --- values <-> JSON trees and blobs ---------------------------------------------------------


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        raise WireError(
            "numpy arrays were sent but numpy cannot be imported here (install numpy)"
        ) from None
    return numpy


def encode(value: Any) -> tuple[Any, list[bytes]]:
    """``value`` as a JSON-able tree plus the ``.npy`` blobs its arrays became."""
    blobs: list[bytes] = []
    return _encode(value, blobs, 0), blobs


def _encode(value: Any, blobs: list[bytes], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise WireError(f"the value is nested more than {MAX_DEPTH} levels deep")
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if math.isfinite(value) else {"t": "float", "v": repr(value)}
    if kind is complex:
        return {"t": "complex", "v": [_encode(value.real, blobs, 1), _encode(value.imag, blobs, 1)]}
    if kind in (bytes, bytearray):
        return {"t": "bytes", "v": base64.b64encode(bytes(value)).decode("ascii")}
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray | numpy.generic):
        array = numpy.array(value, copy=True, subok=False)  # the data, not its methods
        tag = "scalar" if isinstance(value, numpy.generic) else "array"
        blobs.append(_npy(numpy, array))
        return {"t": tag, "i": len(blobs) - 1}
    if isinstance(value, bool | int | float | str | complex):
        raise WireError(
            f"a {kind.__qualname__} (a subclass of {kind.__mro__[1].__name__}), which cannot "
            "travel as data; return plain numbers, strings, lists, tuples, dicts or numpy arrays"
        )
    if isinstance(value, list):
        return [_encode(v, blobs, depth + 1) for v in list.__iter__(value)]
    if isinstance(value, tuple):
        return {"t": "tuple", "v": [_encode(v, blobs, depth + 1) for v in tuple.__iter__(value)]}
    if isinstance(value, dict):
        pairs = dict.items(value)
        return {
            "t": "dict",
            "v": [[_encode(k, blobs, depth + 1), _encode(v, blobs, depth + 1)] for k, v in pairs],
        }
    raise WireError(
        f"a {kind.__qualname__}, which cannot travel as data; return plain numbers, "
        "strings, lists, tuples, dicts or numpy arrays"
    )


def _npy(numpy: Any, array: Any) -> bytes:
    array = numpy.ndarray.view(array, numpy.ndarray)
    if array.dtype.kind not in ARRAY_KINDS or array.dtype.fields is not None:
        raise WireError(
            f"an array of dtype {array.dtype}, which cannot travel as data; only bool, "
            "integer, float and complex arrays can"
        )
    buffer = io.BytesIO()
    numpy.lib.format.write_array(buffer, array.copy(order="C"), allow_pickle=False)
    return buffer.getvalue()


def decode(tree: Any, blobs: list[bytes]) -> Any:
    """The value a tree and its blobs stand for: plain Python data and plain ndarrays."""
    try:
        return _decode(tree, blobs, 0)
    except RecursionError:
        raise WireError("the value is nested too deeply") from None


def _decode(tree: Any, blobs: list[bytes], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise WireError(f"the value is nested more than {MAX_DEPTH} levels deep")
    kind = type(tree)
    if tree is None or kind in (bool, int, str):
        return tree
    if kind is float:
        return tree
    if kind is list:
        return [_decode(v, blobs, depth + 1) for v in tree]
    if kind is not dict or not isinstance(tree.get("t"), str):
        raise WireError(f"unexpected {kind.__name__} in a value")
    tag, body = tree["t"], tree.get("v")
    if tag == "float" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "complex" and type(body) is list and len(body) == 2:
        parts = [_decode(v, blobs, depth + 1) for v in body]
        if all(type(p) in (int, float) for p in parts):
            return complex(parts[0], parts[1])
    if tag == "bytes" and type(body) is str:
        return base64.b64decode(body.encode("ascii"), validate=True)
    if tag in ("tuple", "dict") and type(body) is list:
        items = [_decode(v, blobs, depth + 1) for v in body]
        if tag == "tuple":
            return tuple(items)
        if all(type(p) is list and len(p) == 2 for p in items):
            try:
                return dict(items)
            except TypeError:
                raise WireError("a dict key that cannot be hashed") from None
    if tag in ("array", "scalar") and type(tree.get("i")) is int and 0 <= tree["i"] < len(blobs):
        array = _array(blobs[tree["i"]])
        if tag == "array":
            return array
        if array.shape == ():
            return array[()]
    raise WireError(f"malformed {tag!r} in a value")


def _array(blob: bytes) -> Any:
    numpy = _numpy()
    try:
        array = numpy.lib.format.read_array(io.BytesIO(blob), allow_pickle=False)
    except (ValueError, TypeError, OSError, SyntaxError, EOFError) as exc:
        raise WireError(f"malformed array: {exc}") from None
    dtype = array.dtype
    if type(array) is not numpy.ndarray or dtype.kind not in ARRAY_KINDS or dtype.fields:
        raise WireError(f"an array of dtype {dtype} is not accepted")
    if not dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))
    return array


# --- frames ------------------------------------------------------------------------------


def pack(header: dict[str, Any], blobs: list[bytes] | None = None) -> bytes:
    """One frame: a JSON header and its blobs."""
    blobs = blobs or []
    head = json.dumps(header, allow_nan=False).encode("utf-8")
    parts = [MAGIC, struct.pack("<Q", len(head)), head, struct.pack("<I", len(blobs))]
    for blob in blobs:
        parts += [struct.pack("<Q", len(blob)), blob]
    return b"".join(parts)


def unpack(data: bytes | bytearray, limit: int) -> tuple[dict[str, Any], list[bytes], int] | None:
    """The first frame in ``data`` as (header, blobs, bytes used); None if incomplete.

    Raises WireError for anything that is not a frame or is larger than ``limit`` bytes."""
    view = memoryview(data)
    if len(view) < 12:
        if bytes(view[:4]) != MAGIC[: len(view[:4])]:
            raise WireError("the stream does not start with a frame")
        return None
    if bytes(view[:4]) != MAGIC:
        raise WireError("the stream does not start with a frame")
    (head_len,) = struct.unpack("<Q", view[4:12])
    pos = 12 + head_len
    if pos + 4 > limit:
        raise WireError(f"the frame is larger than {limit} bytes")
    if len(view) < pos + 4:
        return None
    try:
        header = json.loads(bytes(view[12:pos]).decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, an absurd integer
        raise WireError(f"the frame's header is not JSON: {exc}") from None
    if type(header) is not dict:
        raise WireError("the frame's header is not a JSON object")
    (count,) = struct.unpack("<I", view[pos : pos + 4])
    pos += 4
    blobs: list[bytes] = []
    for _ in range(count):
        if len(view) < pos + 8:
            return None
        (size,) = struct.unpack("<Q", view[pos : pos + 8])
        if pos + 8 + size > limit:
            raise WireError(f"the frame is larger than {limit} bytes")
        if len(view) < pos + 8 + size:
            return None
        blobs.append(bytes(view[pos + 8 : pos + 8 + size]))
        pos += 8 + size
    return header, blobs, pos


def _read_frame(fd: int, limit: int) -> tuple[dict[str, Any], list[bytes]]:
    data = bytearray()
    while True:
        found = unpack(data, limit)
        if found is not None:
            return found[0], found[1]
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            raise WireError("the evaluator closed the stream in the middle of a frame")
        data += chunk


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# --- the child's side ----------------------------------------------------------------------


def harden() -> None:
    """Give up every capability, for good, before candidate code runs (Linux; a no-op
    where there are none to give up): no ptrace of the evaluator, no bypassing file
    permissions, nothing regained through exec or setuid programs."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return
    pr_capbset_drop, pr_cap_ambient, clear_all, no_new_privs = 24, 47, 4, 38
    for cap in range(64):
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0 and ctypes.get_errno() == 22:
            break  # EINVAL: past the last capability this kernel knows
    libc.prctl(pr_cap_ambient, clear_all, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable (x2): all empty
    libc.capset(header, data)
    libc.prctl(no_new_privs, 1, 0, 0, 0)


def _failure(kind: str, exc: BaseException) -> dict[str, Any]:
    import traceback

    lines = f"{type(exc).__name__}: {exc}".strip().splitlines() or [type(exc).__name__]
    return {"kind": kind, "error": lines[0][:500], "traceback": traceback.format_exc()[-8000:]}


def serve(result_fd: int) -> None:
    """The child: load the candidate, say ready, call it on the arguments, send the result."""
    request, _ = _read_frame(0, 1 << 24)
    harden()
    program, function = str(request["program"]), str(request["function"])
    sys.path[:] = [os.path.dirname(program), *[str(p) for p in request.get("sys_path", [])]]
    sys.argv = [program]
    memory = request.get("memory_bytes")
    if memory:
        import resource

        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        if hard != resource.RLIM_INFINITY:
            memory = min(memory, hard)
        resource.setrlimit(resource.RLIMIT_AS, (memory, hard))
    import builtins

    saved = dict(builtins.__dict__)
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location("candidate_program", program)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load a Python module from {program}")
        module = importlib.util.module_from_spec(spec)
        sys.modules["candidate_program"] = module
        spec.loader.exec_module(module)
        target = getattr(module, function, None)
    except BaseException as exc:  # noqa: BLE001 - candidate code raises anything, SystemExit too
        _swap(builtins, saved)
        _finish(result_fd, pack({**_failure("raised", exc), "stage": "load"}))
    if not callable(target):
        error = f"the program defines no function {function!r} (define it, or check its name)"
        _finish(result_fd, pack({"kind": "raised", "stage": "missing", "error": error}))
    # Builtins the candidate replaced (float, isinstance) are its own business, not this
    # code's: it runs with the originals, the candidate with its own.
    theirs = _swap(builtins, saved)
    _write_all(result_fd, pack({"kind": "ready"}))
    header, blobs = _read_frame(0, int(request.get("limit", 1 << 30)))
    args, kwargs = decode(header["args"], blobs), decode(header["kwargs"], blobs)
    _swap(builtins, theirs)
    try:
        value = target(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - candidate code raises anything, SystemExit too
        _swap(builtins, saved)
        _finish(result_fd, pack(_failure("raised", exc)))
    _swap(builtins, saved)
    try:
        tree, out = encode(value)
        frame = pack({"kind": "ok", "value": tree}, out)
    except (WireError, ValueError, TypeError, RecursionError) as exc:
        frame = pack({"kind": "bad_result", "error": f"{function} returned {exc}"[:500]})
    _finish(result_fd, frame)


def _swap(module: Any, contents: dict[str, Any]) -> dict[str, Any]:
    """Give ``module`` exactly ``contents``; return what it had."""
    before = dict(module.__dict__)
    module.__dict__.clear()
    module.__dict__.update(contents)
    return before


def _finish(result_fd: int, frame: bytes) -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    _write_all(result_fd, frame)
    os._exit(0)  # no atexit hooks, no waiting for the candidate's threads


if __name__ == "__main__":
    serve(int(sys.argv[1]))
