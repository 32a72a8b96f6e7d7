"""Check, on a machine with NVIDIA GPUs, that GPU evaluations really get their own GPU.

    python bench/gpu_check.py [--hold 2.0] [--image evolve-sandbox:cpu] [--require-gpu]

What it looks for first: the driver's per-GPU device files (``/dev/nvidia0``, ...),
``nvidia-smi -L`` and ``libcuda.so.1``. Without device files and GPUs listed it prints "no
NVIDIA GPU here: nothing to check" (and what it found) and exits 0 (3 with
``--require-gpu``); with only some of the three it says which is missing and exits 1.

With GPUs it runs, on each backend it can, a candidate that uses the GPU through the CUDA
driver API by ctypes (``evolve.evaluation.cuda_probe``: cuInit, cuDeviceGet*, a context,
cuMemAlloc, cuMemsetD32, cuMemcpyDtoH, every byte checked) for a problem with
``sandbox.gpus = 1``, as many evaluations at once as there are GPUs, plus one. It checks:

* the host: ``nvidia-smi``'s GPU i is CUDA's device i (PCI order) for every GPU;
* each evaluation: it succeeded, saw exactly one device, ``CUDA_VISIBLE_DEVICES`` inside
  is its lease (the process backend: the host's index; docker: ``0``, the container's only
  GPU) and the device it reached (UUID) is the leased one;
* together: no two evaluations used one GPU at the same time (start and end times taken
  inside), every GPU was used, and with several GPUs evaluations ran side by side; on a
  one-GPU machine each waited for the lease of the one before.

Backends: ``process`` always (in the jail this machine allows: bubblewrap, else
``unshare``, which the report names); ``docker`` when an engine answers and the image is
there: with the NVIDIA Container Toolkit the same checks, without it the check that a GPU
evaluation fails with the clear reason instead of running on the CPU. It prints a report
(devices, UUIDs, per-backend results and timings) and exits 0 when every check holds, 1
otherwise. Needs only ``pip install -e .`` (no CUDA framework, no language model).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import itertools
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
try:
    import evolve  # noqa: F401
except ImportError:  # run from a checkout that is not installed
    sys.path.insert(0, str(ROOT))

from evolve.core.status import Verdict  # noqa: E402
from evolve.errors import UserError  # noqa: E402
from evolve.evaluation.executor import Evaluation, SandboxExecutor, build_executor  # noqa: E402
from evolve.evaluation.gpus import GpuPool, NvidiaGpu, nvidia_device_files, nvidia_smi_gpus  # noqa: E402
from evolve.problem import load_problem  # noqa: E402

NO_GPU = 0
FAILED = 1
NO_GPU_REQUIRED = 3
"""Exit code with ``--require-gpu`` on a machine without an NVIDIA GPU."""

EVALUATOR = """
import runpy


def evaluate(program_path):
    return runpy.run_path(program_path, run_name="candidate")["run"]()
"""

CANDIDATE = """
from evolve import EvaluationResult
from evolve.evaluation.cuda_probe import probe


def run():
    seen = probe(hold={hold})
    return EvaluationResult(
        metrics={{
            "score": 1.0,
            "devices_visible": seen["count"],
            "bytes_checked": seen["bytes_checked"],
            "start": seen["start"],
            "end": seen["end"],
        }},
        artifacts={{
            "name": seen["name"],
            "uuid": seen["uuid"],
            "pci_bus_id": seen["pci_bus_id"],
            "cuda_visible_devices": seen["visible"],
        }},
    )
"""

HOST_PROBE = (
    "import json; from evolve.evaluation.cuda_probe import probe; print(json.dumps(probe()))"
)


@dataclass
class Report:
    """The checks so far: each holds or not, with a line saying what was checked."""

    failed: int = 0

    def check(self, holds: bool, text: str) -> bool:
        self.failed += not holds
        print(f"  {'ok  ' if holds else 'FAIL'} {text}", flush=True)
        return holds

    def note(self, text: str) -> None:
        print(f"  {text}", flush=True)


def libcuda() -> str:
    """Whether the CUDA driver library loads here, in words."""
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        return f"not loadable ({exc})"
    return "loadable"


def host_devices(gpus: list[NvidiaGpu], report: Report) -> None:
    """Check CUDA's view of each GPU, one process per GPU (``CUDA_VISIBLE_DEVICES=i``, PCI
    order), against ``nvidia-smi``'s."""
    for gpu in gpus:
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": str(gpu.index)}
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        out = subprocess.run(
            [sys.executable, "-c", HOST_PROBE],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        if out.returncode != 0:
            tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
            report.check(False, f"GPU {gpu.index}: CUDA on the host failed: {tail}")
            continue
        info = json.loads(out.stdout)
        report.check(
            info["uuid"] == gpu.uuid,
            f"GPU {gpu.index}: {info['name']} {info['uuid']} at {info['pci_bus_id']}: "
            f"CUDA's device {gpu.index} is nvidia-smi's ({gpu.uuid})",
        )


def make_problem(folder: Path, hold: float, image: str) -> None:
    (folder / "evaluator.py").write_text(textwrap.dedent(EVALUATOR), encoding="utf-8")
    (folder / "program.py").write_text(CANDIDATE.format(hold=hold), encoding="utf-8")
    (folder / "problem.toml").write_text(
        'name = "gpu_check"\ninitial_program = "program.py"\n'
        '[evaluator]\npath = "evaluator.py"\nprimary_metric = "score"\n'
        "[sandbox]\ngpus = 1\ntimeout = 300.0\nmemory_mb = 8192\n"
        f'[sandbox.docker]\nimage = "{image}"\n',
        encoding="utf-8",
    )
    folder.chmod(0o755)  # a container's unprivileged user must read it


async def evaluate_together(executor: SandboxExecutor, code: str, n: int) -> list[Evaluation]:
    return list(await asyncio.gather(*(executor.evaluate(code) for _ in range(n))))


def check_backend(
    name: str,
    executor: SandboxExecutor,
    code: str,
    gpus: list[NvidiaGpu],
    report: Report,
) -> None:
    """Run ``len(gpus) + 1`` GPU evaluations at once and check each and all together."""
    pool = executor.gpu_pool
    n = max(2, pool.size + 1)
    began = time.time()
    results = asyncio.run(evaluate_together(executor, code, n))
    took = time.time() - began
    by_uuid = {gpu.uuid: gpu for gpu in gpus}
    used: list[tuple[float, float, str]] = []
    for k, result in enumerate(results):
        if not report.check(
            result.status is Verdict.OK,
            f"evaluation {k}: {result.status.value}"
            + (f" ({result.reason})" if result.reason else ""),
        ):
            for key in ("traceback", "stderr"):
                if result.artifacts.get(key):
                    report.note(textwrap.indent(result.artifacts[key].strip()[-2000:], "      "))
            continue
        m, a = result.metrics, result.artifacts
        uuid, visible = a["evaluator:uuid"], a["evaluator:cuda_visible_devices"]
        start, end = m["start"] - began, m["end"] - began
        report.note(
            f"evaluation {k}: {a['evaluator:name']} {uuid} ({a['evaluator:pci_bus_id']}), "
            f"CUDA_VISIBLE_DEVICES={visible}, {int(m['bytes_checked'])} bytes set and read "
            f"back, on the GPU from {start:.2f}s to {end:.2f}s, {result.seconds:.2f}s in all"
        )
        report.check(m["devices_visible"] == 1, f"evaluation {k}: sees exactly one device")
        if name == "process":
            leased = by_uuid.get(uuid)
            report.check(
                leased is not None and visible == str(leased.index),
                f"evaluation {k}: CUDA_VISIBLE_DEVICES={visible} is the GPU it reached "
                f"(nvidia-smi's GPU {leased.index if leased else '?'})",
            )
        else:
            report.check(
                visible == "0" and uuid in by_uuid,
                f"evaluation {k}: CUDA_VISIBLE_DEVICES=0 is its only GPU, one of this "
                f"machine's (nvidia-smi's GPU {by_uuid[uuid].index if uuid in by_uuid else '?'})",
            )
        used.append((m["start"], m["end"], uuid))
    if len(used) != n:
        return
    clashes = [
        (i, j)
        for i in range(n)
        for j in range(i + 1, n)
        if used[i][2] == used[j][2] and used[i][0] < used[j][1] and used[j][0] < used[i][1]
    ]
    report.check(not clashes, f"no two evaluations used one GPU at the same time {clashes or ''}")
    distinct = {u for _, _, u in used}
    report.check(
        len(distinct) == min(pool.size, n),
        f"{len(distinct)} of the {pool.size} GPU(s) of the pool were used",
    )
    if pool.size == 1:
        ordered = sorted(used)
        waits = [later[0] - earlier[1] for earlier, later in itertools.pairwise(ordered)]
        report.check(
            all(w >= 0 for w in waits),
            "one GPU: each evaluation started on it only after the one before had finished "
            f"(gaps {', '.join(f'{w:.2f}s' for w in waits)})",
        )
    else:
        side_by_side = any(
            used[i][0] < used[j][1] and used[j][0] < used[i][1]
            for i in range(n)
            for j in range(i + 1, n)
        )
        report.check(side_by_side, "evaluations ran side by side on different GPUs")
    report.note(f"{name}: {n} evaluations in {took:.2f}s")


def check_process(folder: Path, code: str, gpus: list[NvidiaGpu], report: Report) -> None:
    print("\nprocess backend", flush=True)
    executor = build_executor(
        load_problem(str(folder)), backend="process", gpu_pool=GpuPool.detect()
    )
    jail = getattr(executor.backend, "jail", None)
    if jail is not None:
        report.note(f"jail: {jail.kind}" + (f" ({jail.lost})" if jail.lost else ""))
    try:
        check_backend("process", executor, code, gpus, report)
    finally:
        asyncio.run(executor.close())


def check_docker(
    folder: Path, code: str, gpus: list[NvidiaGpu], image: str, report: Report
) -> None:
    print("\ndocker backend", flush=True)
    try:
        from evolve.evaluation.docker_pool import connect, gpu_support
    except ImportError as exc:
        report.note(f"not checked: the docker SDK is not installed ({exc})")
        return
    try:
        support = gpu_support(connect())
        executor = build_executor(
            load_problem(str(folder)), backend="docker", gpu_pool=GpuPool.detect()
        )
    except UserError as exc:
        report.note(f"not checked: {exc}")
        return
    try:
        if support:
            report.note(f"the engine gives GPUs by: {support}; image {image}")
            check_backend("docker", executor, code, gpus, report)
        else:
            report.note("the engine has no NVIDIA runtime (no nvidia runtime, hook or CDI device)")
            result = asyncio.run(executor.evaluate(code))
            report.check(
                result.status is Verdict.ERROR
                and result.score is None
                and "NVIDIA Container Toolkit" in result.reason,
                f"a GPU evaluation fails with the reason, not on the CPU: {result.reason}",
            )
    finally:
        asyncio.run(executor.close())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--hold", type=float, default=2.0, help="seconds each evaluation holds its GPU"
    )
    parser.add_argument("--image", default="evolve-sandbox:cpu", help="the docker backend's image")
    parser.add_argument(
        "--require-gpu", action="store_true", help=f"exit {NO_GPU_REQUIRED} where there is no GPU"
    )
    args = parser.parse_args()

    files, gpus, driver = nvidia_device_files(), nvidia_smi_gpus(), libcuda()
    looked = (
        f"GPU device files /dev/nvidia[0-9]*: {', '.join(map(str, files)) or 'none'}; "
        f"`nvidia-smi -L`: {len(gpus)} GPU(s); libcuda.so.1: {driver}"
    )
    if not files and not gpus:
        print(f"no NVIDIA GPU here: nothing to check (looked for {looked})")
        return NO_GPU_REQUIRED if args.require_gpu else NO_GPU
    print(f"looked for {looked}")
    report = Report()
    if not report.check(
        bool(files) and bool(gpus) and driver == "loadable",
        "device files, nvidia-smi and libcuda all present",
    ):
        return FAILED
    if os.environ.get("EVOLVE_GPUS") is not None:
        report.note(f"EVOLVE_GPUS={os.environ['EVOLVE_GPUS']} sets the pool")

    print("\nthe host", flush=True)
    host_devices(gpus, report)

    with tempfile.TemporaryDirectory(prefix="evolve-gpu-check-") as tmp:
        folder = Path(tmp)
        make_problem(folder, args.hold, args.image)
        code = (folder / "program.py").read_text(encoding="utf-8")
        check_process(folder, code, gpus, report)
        check_docker(folder, code, gpus, args.image, report)

    print()
    if report.failed:
        print(f"{report.failed} check(s) failed")
        return FAILED
    print("all checks hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
