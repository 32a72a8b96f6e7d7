"""The GPU pool: hands each evaluation its own devices, so parallel evaluations never share.

Devices come from ``$EVOLVE_GPUS`` (comma-separated indices) or ``nvidia-smi -L``. A
problem that needs no GPU gets none (and ``CUDA_VISIBLE_DEVICES`` is set empty).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


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
        tool = shutil.which("nvidia-smi")
        if tool is None:
            return cls([])
        try:
            out = subprocess.run([tool, "-L"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return cls([])
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("GPU ")]
        return cls(list(range(len(lines))))

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
