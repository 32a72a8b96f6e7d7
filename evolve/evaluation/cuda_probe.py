"""Reach a GPU through the CUDA driver API (``libcuda.so.1``, by ctypes) and say which one.

Standard library only, so that a candidate or an evaluator can import it inside either
sandbox (the process backend's jail, a container) to show that an evaluation really
reached the GPU it was leased, and which: ``probe()`` initialises the driver, counts the
devices it may see, creates a context on the first, allocates device memory, fills it with
``cuMemsetD32``, copies it back and checks every byte; it returns the device's name, UUID
(as ``nvidia-smi -L`` writes it) and PCI bus id, and when the work started and ended (wall
clock, comparable across processes and containers of one host). ``bench/gpu_check.py`` and
the GPU tests use it.
"""

from __future__ import annotations

import ctypes
import os
import time
from typing import Any

PATTERN = 0x5EED_C0DE
"""The 32-bit word written to the whole allocation and expected back."""


class CudaError(RuntimeError):
    """A CUDA driver call failed: which one, and the driver's error name and code."""


def _driver() -> ctypes.CDLL:
    try:
        return ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        raise CudaError(f"libcuda.so.1 cannot be loaded ({exc}): no NVIDIA driver here") from None


def _check(lib: ctypes.CDLL, call: str, result: int) -> None:
    if result == 0:
        return
    name = ctypes.c_char_p()
    text = "?"
    if lib.cuGetErrorName(result, ctypes.byref(name)) == 0 and name.value:
        text = name.value.decode()
    raise CudaError(f"{call} failed: {text} ({result})")


def _uuid(raw: bytes) -> str:
    h = raw.hex()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def probe(hold: float = 0.0, words: int = 1 << 20) -> dict[str, Any]:
    """Use the first visible GPU for real (``words`` 32-bit words set on the device and
    read back, the context held ``hold`` seconds more) and describe it. Raises
    ``CudaError`` naming the call that failed."""
    start = time.time()
    lib = _driver()
    lib.cuMemAlloc_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t]
    lib.cuMemsetD32_v2.argtypes = [ctypes.c_uint64, ctypes.c_uint, ctypes.c_size_t]
    lib.cuMemcpyDtoH_v2.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_size_t]
    lib.cuMemFree_v2.argtypes = [ctypes.c_uint64]
    lib.cuCtxDestroy_v2.argtypes = [ctypes.c_void_p]
    _check(lib, "cuInit", lib.cuInit(0))
    count = ctypes.c_int()
    _check(lib, "cuDeviceGetCount", lib.cuDeviceGetCount(ctypes.byref(count)))
    if count.value < 1:
        raise CudaError("cuDeviceGetCount: no device visible")
    device = ctypes.c_int()
    _check(lib, "cuDeviceGet", lib.cuDeviceGet(ctypes.byref(device), 0))
    name = ctypes.create_string_buffer(256)
    _check(lib, "cuDeviceGetName", lib.cuDeviceGetName(name, 256, device))
    uuid = ctypes.create_string_buffer(16)
    get_uuid = getattr(lib, "cuDeviceGetUuid_v2", None) or lib.cuDeviceGetUuid
    _check(lib, "cuDeviceGetUuid", get_uuid(uuid, device))
    bus = ctypes.create_string_buffer(64)
    _check(lib, "cuDeviceGetPCIBusId", lib.cuDeviceGetPCIBusId(bus, 64, device))
    context = ctypes.c_void_p()
    _check(lib, "cuCtxCreate", lib.cuCtxCreate_v2(ctypes.byref(context), 0, device))
    try:
        size = words * 4
        pointer = ctypes.c_uint64()
        _check(lib, "cuMemAlloc", lib.cuMemAlloc_v2(ctypes.byref(pointer), size))
        try:
            _check(lib, "cuMemsetD32", lib.cuMemsetD32_v2(pointer.value, PATTERN, words))
            _check(lib, "cuCtxSynchronize", lib.cuCtxSynchronize())
            host = ctypes.create_string_buffer(size)
            _check(lib, "cuMemcpyDtoH", lib.cuMemcpyDtoH_v2(host, pointer.value, size))
            if host.raw != PATTERN.to_bytes(4, "little") * words:
                raise CudaError("cuMemcpyDtoH: the bytes read back differ from those set")
            if hold > 0:
                time.sleep(hold)
        finally:
            lib.cuMemFree_v2(pointer.value)
    finally:
        lib.cuCtxDestroy_v2(context)
    return {
        "count": count.value,
        "name": name.value.decode(errors="replace"),
        "uuid": _uuid(uuid.raw),
        "pci_bus_id": bus.value.decode(errors="replace"),
        "bytes_checked": size,
        "visible": os.environ.get("CUDA_VISIBLE_DEVICES", "(unset)"),
        "start": start,
        "end": time.time(),
    }
