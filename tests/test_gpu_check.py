"""``bench/gpu_check.py``, run as the lead runs it (``python bench/gpu_check.py`` from the
repository's root): on a machine without an NVIDIA GPU it says so, and what it looked for,
and exits 0; on a machine with GPUs every check it makes holds (exit 0)."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, GpuHost


def test_gpu_check(gpu_host: GpuHost) -> None:
    out = subprocess.run(
        [sys.executable, "bench/gpu_check.py", "--hold", "1.0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    if not gpu_host.has_gpus:
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("no NVIDIA GPU here: nothing to check (looked for ")
        for looked_for in ("/dev/nvidia[0-9]*", "`nvidia-smi -L`", "libcuda.so.1"):
            assert looked_for in out.stdout
        assert not out.stderr
        strict = subprocess.run(
            [sys.executable, "bench/gpu_check.py", "--require-gpu"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
        assert strict.returncode == 3
        return
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.rstrip().endswith("all checks hold")
    assert "FAIL" not in out.stdout
    for gpu in gpu_host.gpus:  # every GPU was reached from inside a sandbox
        assert out.stdout.count(gpu.uuid) >= 2, out.stdout
