"""Executors: evaluate a candidate, isolated, and judge what comes back as an ``Evaluation``.

The search's Runner sees only ``Executor.evaluate(code) -> Evaluation``: the narrow seam behind
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
from evolve.core.objective import Objective
from evolve.core.status import Verdict
from evolve.evaluation.backend import Backend, Call, RawOutcome
from evolve.evaluation.gpus import GpuPool
from evolve.evaluation.jail import Jail
from evolve.evaluation.process import ProcessBackend
from evolve.problem import EvaluatorTarget, Problem
from evolve.sdk.protocol import Kind


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
        objective: Objective = Objective(),
        gpu_pool: GpuPool | None = None,
    ) -> None:
        self.backend = backend
        self.sandbox = sandbox
        self.primary_metric = primary_metric
        self.stages = tuple(stages)
        self.objective = objective
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
                        f"{self.objective.pick('below', 'above')} its threshold "
                        f"{stage.threshold!r}; the full evaluation did not run"
                    )
                    return Evaluation(
                        Verdict.FILTERED, None, metrics, artifacts, reason, seconds, number
                    )
        return Evaluation(Verdict.OK, result.score, metrics, artifacts, "", seconds, last)

    def _passes(self, score: float | None, threshold: float | None) -> bool:
        return threshold is None or self.objective.meets(score, threshold)

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
        objective: Objective = Objective(),
    ) -> None:
        self.evaluator = evaluator
        backend = ProcessBackend(evaluator, sandbox, language, hidden, jail)
        self.jail = backend.jail
        super().__init__(
            backend,
            sandbox,
            primary_metric,
            stages if stages is not None else cascade(evaluator.function, sandbox),
            objective=objective,
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
        objective=problem.objective,
        gpu_pool=gpu_pool,
    )


def judge(
    outcome: RawOutcome, primary: str, seconds: float, *, memory_mb: int | None = None
) -> Evaluation:
    """Decide the verdict and score of one harness run from its message and output
    (``memory_mb``: the evaluation's memory limit, for the reason when it went over)."""
    message = outcome.message
    artifacts = {k: v for k, v in outcome.output.items() if v}
    if message.traceback:
        artifacts["traceback"] = message.traceback

    def failed(verdict: Verdict, reason: str) -> Evaluation:
        return Evaluation(verdict, None, artifacts=artifacts, reason=reason, seconds=seconds)

    kind = message.kind
    # Over the limit: killed by the kernel or the backend's watcher, or a MemoryError where a
    # per-process address-space limit refused an allocation first.
    if kind is Kind.OUT_OF_MEMORY or (kind is Kind.ERROR and message.exception == "MemoryError"):
        return failed(
            Verdict.ERROR, f"out of memory{f' (limit {memory_mb} MB)' if memory_mb else ''}"
        )
    if kind is Kind.TIMEOUT:
        return failed(
            Verdict.TIMEOUT, f"timed out after {seconds:.1f}s; the process group was killed"
        )
    if kind is Kind.NO_RESULT:
        return failed(Verdict.ERROR, message.error or "the evaluation produced no result")
    if kind is Kind.ERROR:
        return failed(Verdict.ERROR, message.error or "?")
    if kind is Kind.EVALUATOR_ERROR:
        return failed(Verdict.EVALUATOR_ERROR, message.error or "?")
    metrics = {k: (float("nan") if v is None else v) for k, v in message.metrics.items()}
    artifacts.update({f"evaluator:{k}": v for k, v in message.artifacts.items()})
    bad = message.bad_metrics
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
