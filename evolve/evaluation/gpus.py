"""The GPU pool: hands each evaluation its own devices, so parallel evaluations never share.

Devices come from ``$EVOLVE_GPUS`` (comma-separated indices) or ``nvidia-smi -L``. A
problem that needs no GPU gets none (and ``CUDA_VISIBLE_DEVICES`` is set empty). The
indices are ``nvidia-smi``'s, which count in PCI bus order; the sandbox sets
``CUDA_DEVICE_ORDER=PCI_BUS_ID`` so that CUDA counts the same way.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

_GPU_LINE = re.compile(r"^GPU (\d+): (.*?)(?: \(UUID: (GPU-[0-9a-fA-F-]+)\))?\s*$")


@dataclass(frozen=True)
class NvidiaGpu:
    """One GPU as ``nvidia-smi -L`` lists it."""

    index: int
    name: str
    uuid: str


def nvidia_smi_gpus() -> list[NvidiaGpu]:
    """The GPUs ``nvidia-smi -L`` lists (none where there is no ``nvidia-smi`` or it fails:
    a machine without a working NVIDIA driver has no GPU to lease)."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return []
    try:
        out = subprocess.run([tool, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    found = []
    for line in out.stdout.splitlines():
        match = _GPU_LINE.match(line)
        if match:  # MIG instances are indented lines of their GPU: not devices of their own
            found.append(NvidiaGpu(int(match[1]), match[2], match[3] or ""))
    return found


def nvidia_device_files() -> list[Path]:
    """The per-GPU device files (``/dev/nvidia0``, ``/dev/nvidia1``, ...): what the driver
    made for the GPUs it drives (``nvidiactl``, ``nvidia-uvm`` are shared, not GPUs)."""
    return sorted(
        (p for p in Path("/dev").glob("nvidia*") if re.fullmatch(r"nvidia\d+", p.name)),
        key=lambda p: int(p.name[len("nvidia") :]),
    )


class GpuPool:
    def __init__(self, devices: list[int]) -> None:
        self._free = list(devices)
        self.size = len(devices)
        self._changed = asyncio.Condition()

    @classmethod
    def detect(cls) -> GpuPool:
        env = os.environ.get("EVOLVE_GPUS")
        if env is not None:
            return cls([int(x) for x in env.split(",") if x.strip()])
        return cls([gpu.index for gpu in nvidia_smi_gpus()])

    @asynccontextmanager
    async def lease(self, count: int) -> AsyncIterator[list[int]]:
        """Wait for ``count`` free devices, hold them for the block, then give them back."""
        if count == 0:
            yield []
            return
        if count > self.size:
            raise ValueError(f"{count} GPUs requested, {self.size} in the pool")
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._free) >= count)
            taken, self._free = self._free[:count], self._free[count:]
        try:
            yield taken
        finally:
            async with self._changed:
                self._free.extend(taken)
                self._free.sort()
                self._changed.notify_all()
