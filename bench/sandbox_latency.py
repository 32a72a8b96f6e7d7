"""Latency of one trivial evaluation, by where it runs: p50 and p95 over N evaluations.

    python bench/sandbox_latency.py [--n 40] [--gap 0.0] [--modes bare process cold warm]

* ``bare``: a plain subprocess, ``python -c`` importing the evaluator and calling it on
  the program (no sandbox at all): the floor.
* ``process``: the process sandbox (``SandboxExecutor`` on ``ProcessBackend``: bubblewrap
  jail, pids cgroup, rlimits, the harness).
* ``cold``: the docker sandbox with no warm pool (``warm = 0``): a container started,
  used and removed per evaluation.
* ``warm``: the docker sandbox with its warm pool (``warm = 2``): a pre-started container
  per evaluation, replaced in the background.

Evaluations run one after another, ``--gap`` seconds apart (not counted; 0: back to back,
so the warm pool's replacements compete with the evaluations for the CPU). Goals: process
p50 within 2x of bare, warm p50 within 3x. Needs a docker engine and evolve-sandbox:cpu
for the docker modes (sandbox/build_image.sh).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from evolve.config import DockerConfig, SandboxConfig
from evolve.core.status import Verdict
from evolve.evaluation.executor import SandboxExecutor, cascade
from evolve.evaluation.gpus import GpuPool
from evolve.evaluation.process import ProcessBackend
from evolve.problem import EvaluatorTarget

EVALUATOR = """
import runpy


def evaluate(program_path):
    return runpy.run_path(program_path, run_name="candidate")["run"]()
"""

PROGRAM = "def run():\n    return {'score': 1.0}\n"

BARE = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location('ev', sys.argv[1])\n"
    "module = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(module)\n"
    "print(module.evaluate(sys.argv[2]))\n"
)


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p95) in seconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def measure(run_once: Callable[[], None], n: int, gap: float) -> list[float]:
    run_once()  # warm-up: imports, page cache, the first pool fill
    samples = []
    for _ in range(n):
        if gap:
            time.sleep(gap)
        start = time.perf_counter()
        run_once()
        samples.append(time.perf_counter() - start)
    return samples


def bare(folder: Path) -> Callable[[], None]:
    evaluator, program = folder / "evaluator.py", folder / "program.py"

    def once() -> None:
        done = subprocess.run(
            [sys.executable, "-c", BARE, str(evaluator), str(program)],
            capture_output=True,
            check=True,
        )
        assert b"score" in done.stdout

    return once


def sandboxed(executor: SandboxExecutor) -> Callable[[], None]:
    def once() -> None:
        result = asyncio.run(executor.evaluate(PROGRAM))
        assert result.status is Verdict.OK, result.reason

    return once


def make_executor(mode: str, folder: Path) -> SandboxExecutor:
    target = EvaluatorTarget(function="evaluate", path=folder / "evaluator.py")
    if mode == "process":
        sandbox = SandboxConfig(timeout=30.0)
        backend: object = ProcessBackend(target, sandbox)
    else:
        from evolve.evaluation.docker_backend import DockerBackend

        warm = 0 if mode == "cold" else 2
        sandbox = SandboxConfig(backend="docker", timeout=30.0, docker=DockerConfig(warm=warm))
        backend = DockerBackend(target, sandbox)
    return SandboxExecutor(
        backend,  # type: ignore[arg-type]
        sandbox,
        "score",
        cascade("evaluate", sandbox),
        gpu_pool=GpuPool([]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=40, help="evaluations per mode")
    parser.add_argument("--gap", type=float, default=0.0, help="seconds between evaluations")
    parser.add_argument("--modes", nargs="+", default=["bare", "process", "cold", "warm"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="evolve-bench-") as name:
        folder = Path(name)
        folder.chmod(0o755)  # the docker sandbox's user reads it
        (folder / "evaluator.py").write_text(EVALUATOR, encoding="utf-8")
        (folder / "program.py").write_text(PROGRAM, encoding="utf-8")
        results: dict[str, tuple[float, float]] = {}
        for mode in args.modes:
            if mode == "bare":
                samples = measure(bare(folder), args.n, args.gap)
            else:
                executor = make_executor(mode, folder)
                if mode == "warm":
                    time.sleep(2.0)  # let the pool fill before the first evaluation
                try:
                    samples = measure(sandboxed(executor), args.n, args.gap)
                finally:
                    asyncio.run(executor.close())
            results[mode] = percentiles(samples)
            p50, p95 = results[mode]
            print(f"{mode:8s} p50 {p50 * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms", flush=True)
        if "bare" in results:
            base = results["bare"][0]
            for mode, goal in (("process", 2.0), ("warm", 3.0)):
                if mode in results:
                    ratio = results[mode][0] / base
                    verdict = "meets" if ratio <= goal else "misses"
                    print(f"{mode} p50 / bare p50 = {ratio:.2f} ({verdict} the {goal:g}x goal)")


if __name__ == "__main__":
    main()
