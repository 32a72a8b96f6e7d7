"""The evaluator, its cascade, the MAP-Elites features and the sandbox sections."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from evolve.config.base import Direction, _Strict


class StageConfig(_Strict):
    """One cheap stage of an evaluation cascade, run before the evaluator's ``function``."""

    function: str
    """The evaluator file's function for this stage (same signature as ``evaluate``)."""
    timeout: Annotated[float, Field(gt=0, le=86400)] | None = None
    """Seconds for this stage (default: ``sandbox.timeout``)."""
    threshold: float | None = None
    """The stage's primary metric must reach this (at least, or at most when minimizing)
    for the candidate to go on to the next stage; none: passing without error is enough."""

    @field_validator("threshold")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("threshold must be a finite number")
        return v


class EvaluatorConfig(_Strict):
    path: str | None = None
    """A Python file defining the evaluation function (relative to problem.toml)."""
    plugin: str | None = None
    """Or: the name of an evaluator plugin (entry point group ``evolve.evaluators``)."""
    function: str = "evaluate"
    primary_metric: str = "score"
    direction: Direction = Direction.MAXIMIZE
    options: dict[str, str | int | float | bool | list[str] | list[float]] = Field(
        default_factory=dict
    )
    """Settings handed to a plugin evaluator."""
    stages: list[StageConfig] = Field(default_factory=list)
    """An evaluation cascade: cheap stages that run first, in order; only a candidate that
    passes every stage's threshold gets the full ``function`` (stored as ``filtered``
    otherwise, with the stage it reached)."""

    @field_validator("direction", mode="before")
    @classmethod
    def _direction(cls, v: object) -> object:
        if isinstance(v, str):
            try:
                return Direction(v.lower())
            except ValueError:
                raise ValueError("must be 'maximize' or 'minimize'") from None
        return v

    @model_validator(mode="after")
    def _one_source(self) -> EvaluatorConfig:
        if (self.path is None) == (self.plugin is None):
            raise ValueError("give exactly one of 'path' (a Python file) or 'plugin' (a name)")
        return self


class FeatureConfig(_Strict):
    """One MAP-Elites dimension: a built-in descriptor or any metric the evaluator returns."""

    name: str
    bins: Annotated[int, Field(ge=1, le=1000)] = 10
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _range(self) -> FeatureConfig:
        for v in (self.min, self.max):
            if v is not None and not math.isfinite(v):
                raise ValueError("min and max must be finite numbers")
        if self.min is not None and self.max is not None and self.max <= self.min:
            raise ValueError(f"max ({self.max}) must be greater than min ({self.min})")
        return self


class DockerConfig(_Strict):
    """``[sandbox.docker]``: the container backend's settings (``sandbox.backend = "docker"``)."""

    image: str = "evolve-sandbox:cpu"
    """The image evaluations run in: a local image with Python 3.11 or newer and numpy
    (``sandbox/build_image.sh`` builds ``evolve-sandbox:cpu``; ``sandbox/Dockerfile.cuda``
    is the GPU one). The harness, evolve and the problem's folder are mounted into it."""
    python: str = "python3"
    """The image's Python interpreter (a name on the image's PATH, or a path)."""
    warm: Annotated[int, Field(ge=0, le=64)] = 2
    """Containers started ahead and kept ready, so an evaluation does not wait for one to
    start. Each serves one evaluation, is removed, and is replaced in the background; 0:
    start one per evaluation. GPU problems always start one per evaluation, with the
    evaluation's own GPUs."""


class SandboxConfig(_Strict):
    backend: Literal["process", "docker"] = "process"
    """Where evaluations run: ``process`` (a jailed local process group) or ``docker``."""
    timeout: Annotated[float, Field(gt=0, le=86400)] = 60.0
    """Seconds of wall time for one evaluation; the whole process tree is killed after it."""
    memory_mb: Annotated[int, Field(ge=16)] = 2048
    cpus: Annotated[int, Field(ge=1)] = 1
    gpus: Annotated[int, Field(ge=0)] = 0
    network: bool = False
    max_processes: Annotated[int, Field(ge=1, le=100000)] = 256
    """Processes (and threads) one evaluation may have at once, where a pids cgroup can be
    made; a fork bomb stops there."""
    parallel: Annotated[int, Field(ge=1, le=1024)] | None = None
    """Evaluations running at once (default: ``search.max_in_flight``). Proposals waiting
    for an LLM answer and candidates being evaluated are counted apart, so slow evaluations
    do not leave the models idle."""
    max_output_bytes: Annotated[int, Field(ge=1024)] = 65536
    docker: DockerConfig = Field(default_factory=DockerConfig)
    """The ``docker`` backend's image and warm pool (unused by the ``process`` backend)."""
