"""Executors: evaluate a candidate, isolated, and judge what comes back as an ``Evaluation``.

The Controller sees only ``Executor.evaluate(code) -> Evaluation``: the narrow seam behind
which sandbox backends plug in. ``SandboxExecutor`` is the one implementation: it leases
GPUs from the pool (a CPU-only problem never takes one), runs the evaluation cascade
(cheap stages first, the full evaluator only for candidates that pass each stage's
threshold) on a ``Backend`` (``process.py``: a jailed local process group; ``docker``: a
container), and judges each stage's raw message: status, score, metrics, artifacts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from evolve.config import SandboxConfig, StageConfig
from evolve.core.status import Verdict
from evolve.evaluation.backend import Backend, Call, RawOutcome
from evolve.evaluation.gpus import GpuPool
from evolve.evaluation.jail import Jail
from evolve.evaluation.process import ProcessBackend
from evolve.problem import EvaluatorTarget, Problem


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation produced, already judged: status, primary score, metrics, output."""

    status: Verdict
    score: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    seconds: float = 0.0
    stage: int = 1
    """The cascade stage this evaluation reached (1-based; the last is the full evaluator)."""


class Executor(Protocol):
    """Anything that can evaluate program text: the narrow seam for sandbox backends."""

    async def evaluate(self, code: str) -> Evaluation: ...


@dataclass(frozen=True)
class Stage:
    """One step of the cascade: a harness call and the score needed to go on."""

    call: Call
    threshold: float | None = None


def cascade(
    function: str, sandbox: SandboxConfig, stages: Sequence[StageConfig] = ()
) -> tuple[Stage, ...]:
    """The cascade of a problem: its cheap stages in order, then the full evaluator."""
    steps = [Stage(Call(s.function, s.timeout or sandbox.timeout), s.threshold) for s in stages]
    return (*steps, Stage(Call(function, sandbox.timeout)))


class SandboxExecutor:
    """Evaluate on a backend: GPU lease, cascade stages, judging."""

    def __init__(
        self,
        backend: Backend,
        sandbox: SandboxConfig,
        primary_metric: str,
        stages: Sequence[Stage],
        *,
        maximize: bool = True,
        gpu_pool: GpuPool | None = None,
    ) -> None:
        self.backend = backend
        self.sandbox = sandbox
        self.primary_metric = primary_metric
        self.stages = tuple(stages)
        self.maximize = maximize
        self.gpu_pool = gpu_pool if gpu_pool is not None else GpuPool.detect()
        self.gpu_problem = ""
        if sandbox.gpus > self.gpu_pool.size:
            self.gpu_problem = (
                f"the problem asks for {sandbox.gpus} GPU(s) per evaluation but "
                f"{self.gpu_pool.size} are visible on this machine (set EVOLVE_GPUS or "
                "sandbox.gpus = 0)"
            )

    async def evaluate(self, code: str) -> Evaluation:
        if self.gpu_problem:
            return Evaluation(Verdict.ERROR, None, reason=self.gpu_problem)
        started = time.monotonic()
        metrics: dict[str, float] = {}
        artifacts: dict[str, str] = {}
        last = len(self.stages)
        async with self.gpu_pool.lease(self.sandbox.gpus) as devices:
            for number, stage in enumerate(self.stages, start=1):
                outcome = await self.backend.run(code, stage.call, devices)
                result = judge(
                    outcome,
                    self.primary_metric,
                    time.monotonic() - started,
                    memory_mb=self.sandbox.memory_mb,
                )
                metrics.update(result.metrics)
                if number < last:  # earlier stages' output, kept apart from the last one's
                    artifacts.update({f"stage{number}:{k}": v for k, v in result.artifacts.items()})
                else:
                    artifacts.update(result.artifacts)
                seconds = time.monotonic() - started
                if result.status is not Verdict.OK:
                    reason = result.reason if last == 1 else f"stage {number}: {result.reason}"
                    return Evaluation(
                        result.status, None, metrics, artifacts, reason, seconds, number
                    )
                if number < last and not self._passes(result.score, stage.threshold):
                    reason = (
                        f"stage {number} ({stage.call.function}) scored {result.score!r}, "
                        f"{'below' if self.maximize else 'above'} its threshold "
                        f"{stage.threshold!r}; the full evaluation did not run"
                    )
                    return Evaluation(
                        Verdict.FILTERED, None, metrics, artifacts, reason, seconds, number
                    )
        return Evaluation(Verdict.OK, result.score, metrics, artifacts, "", seconds, last)

    def _passes(self, score: float | None, threshold: float | None) -> bool:
        if threshold is None or score is None:
            return threshold is None
        return score >= threshold if self.maximize else score <= threshold

    async def close(self) -> None:
        await self.backend.close()


class ProcessExecutor(SandboxExecutor):
    """A ``SandboxExecutor`` on the process backend, with no cascade: the common case."""

    def __init__(
        self,
        evaluator: EvaluatorTarget,
        sandbox: SandboxConfig,
        primary_metric: str,
        language: str = "python",
        gpu_pool: GpuPool | None = None,
        hidden: tuple[Path, ...] = (),
        jail: Jail | None = None,
        stages: Sequence[Stage] | None = None,
        maximize: bool = True,
    ) -> None:
        self.evaluator = evaluator
        backend = ProcessBackend(evaluator, sandbox, language, hidden, jail)
        self.jail = backend.jail
        super().__init__(
            backend,
            sandbox,
            primary_metric,
            stages if stages is not None else cascade(evaluator.function, sandbox),
            maximize=maximize,
            gpu_pool=gpu_pool,
        )


def build_executor(
    problem: Problem,
    *,
    backend: str | None = None,
    hidden: tuple[Path, ...] = (),
    gpu_pool: GpuPool | None = None,
) -> SandboxExecutor:
    """The executor a problem asks for (``backend`` overrides ``sandbox.backend``)."""
    sandbox = problem.config.sandbox
    name = backend or sandbox.backend
    if name == "docker":
        from evolve.evaluation.docker_backend import DockerBackend

        chosen: Backend = DockerBackend(problem.evaluator, sandbox, problem.language, hidden)
    else:
        chosen = ProcessBackend(problem.evaluator, sandbox, problem.language, hidden)
    stages = cascade(problem.evaluator.function, sandbox, problem.config.evaluator.stages)
    return SandboxExecutor(
        chosen,
        sandbox,
        problem.config.evaluator.primary_metric,
        stages,
        maximize=problem.maximize,
        gpu_pool=gpu_pool,
    )


def judge(
    outcome: RawOutcome, primary: str, seconds: float, *, memory_mb: int | None = None
) -> Evaluation:
    """Decide the status and score of one harness run from its message and output
    (``memory_mb``: the evaluation's memory limit, for the reason when it went over)."""
    raw, output = outcome.message, outcome.output
    artifacts = {k: v for k, v in output.items() if v}
    # Over the limit: killed by the kernel or the backend's watcher, or a MemoryError where a
    # per-process address-space limit refused an allocation first.
    if outcome.out_of_memory or (
        raw is not None and raw.get("kind") == "error" and raw.get("exception") == "MemoryError"
    ):
        if raw is not None and raw.get("traceback"):
            artifacts["traceback"] = raw["traceback"]
        limit = f" (limit {memory_mb} MB)" if memory_mb else ""
        return Evaluation(
            Verdict.ERROR,
            None,
            artifacts=artifacts,
            reason=f"out of memory{limit}",
            seconds=seconds,
        )
    if raw is None or raw.get("kind") == "no_result":
        reason = (raw or {}).get("error", "the evaluation produced no result")
        return Evaluation(Verdict.ERROR, None, artifacts=artifacts, reason=reason, seconds=seconds)
    kind = raw.get("kind")
    if kind == "timeout":
        return Evaluation(
            Verdict.TIMEOUT,
            None,
            artifacts=artifacts,
            seconds=seconds,
            reason=f"timed out after {seconds:.1f}s; the process group was killed",
        )
    if kind in ("error", "evaluator_error"):
        if raw.get("traceback"):
            artifacts["traceback"] = raw["traceback"]
        status = Verdict.ERROR if kind == "error" else Verdict.EVALUATOR_ERROR
        return Evaluation(
            status, None, artifacts=artifacts, reason=raw.get("error", "?"), seconds=seconds
        )
    metrics = {k: (float("nan") if v is None else float(v)) for k, v in raw["metrics"].items()}
    artifacts.update({f"evaluator:{k}": v for k, v in raw.get("artifacts", {}).items()})
    bad = raw.get("bad_metrics", {})
    for key, why in bad.items():
        if key not in metrics:
            artifacts[f"metric:{key}"] = why
    failure = ""
    if primary in bad:
        failure = f"primary metric {primary!r} is {bad[primary]}"
    elif primary not in metrics:
        names = ", ".join(sorted(metrics)) or "none"
        failure = f"the evaluator returned no {primary!r} metric (it returned: {names})"
    if failure:
        return Evaluation(Verdict.ERROR, None, metrics, artifacts, failure, seconds)
    return Evaluation(Verdict.OK, metrics[primary], metrics, artifacts, seconds=seconds)
