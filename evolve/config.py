"""The problem file schema: what a `problem.toml` may say, validated strictly.

Every section is a pydantic model with ``extra="forbid"`` and ``strict=True``, so a
misspelled key or a string where a number belongs is an error naming the key, never
silently ignored. Loading (paths, bundled names, error messages) is in ``problem.py``.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Direction(StrEnum):
    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


class MutationStyle(StrEnum):
    """How a model is asked for a change.

    ``diff``: SEARCH/REPLACE blocks (instruction-tuned chat models).
    ``rewrite``: the whole evolvable region, rewritten (chat models).
    ``completion``: FunSearch-style versioned functions for base models to continue.
    ``auto``: ``completion`` for base models (the embedded one), ``diff`` otherwise.
    """

    AUTO = "auto"
    DIFF = "diff"
    REWRITE = "rewrite"
    COMPLETION = "completion"


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


class SearchConfig(_Strict):
    islands: Annotated[int, Field(ge=1, le=256)] = 4
    migration_interval: Annotated[int, Field(ge=1)] = 20
    """Migrate elites around the ring of islands every this many candidates."""
    migration_rate: Annotated[float, Field(ge=0, le=1)] = 0.1
    """Share of an island's elites sent to its neighbour at each migration."""
    max_in_flight: Annotated[int, Field(ge=1, le=1024)] = 2
    """Proposals waiting for a model's answer at once (evaluations: ``sandbox.parallel``)."""
    iterations: Annotated[int, Field(ge=0)] = 100
    target_score: float | None = None
    seed: int = 0
    exploration_ratio: Annotated[float, Field(ge=0, le=1)] = 0.2
    """Chance that a parent is drawn uniformly from the island's grid (exploration)."""
    exploitation_ratio: Annotated[float, Field(ge=0, le=1)] = 0.7
    """Chance that a parent is drawn from the island's top programs by score."""
    elite_pool: Annotated[int, Field(ge=1)] = 5
    """How many top programs of an island exploitation draws from."""
    num_inspirations: Annotated[int, Field(ge=0, le=16)] = 2
    population_size: Annotated[int, Field(ge=1, le=1_000_000)] = 1000
    """Programs an island holds at most. Past it, the island evicts its worst-ranked program
    that is neither an elite of its MAP-Elites grid nor its best (ties on the score: the
    oldest first), so memory and the cost of a draw stay bounded however long the run. An
    island whose grid has more elites than this keeps its elites (and its best) only."""

    @model_validator(mode="after")
    def _ratios(self) -> SearchConfig:
        if self.exploration_ratio + self.exploitation_ratio > 1:
            raise ValueError("exploration_ratio + exploitation_ratio must be at most 1")
        return self

    @model_validator(mode="after")
    def _population(self) -> SearchConfig:
        if self.population_size < self.elite_pool:
            raise ValueError(
                f"population_size ({self.population_size}) must be at least elite_pool "
                f"({self.elite_pool})"
            )
        return self


Temperature = Annotated[float, Field(ge=0, le=2)]


def _non_empty_list(v: object) -> object:
    if isinstance(v, list) and not v:
        raise ValueError("give at least one temperature")
    return v


class ModelConfig(_Strict):
    name: str
    """A model spec: ``local/gemma-3-270m``, ``openai/gpt-4.1``, ``anthropic/...``,
    ``litellm/<provider>/<model>``."""
    weight: Annotated[float, Field(gt=0)] = 1.0
    """Share of proposals under ``selection = "fixed"``; the tie-break order otherwise."""
    mutation: Annotated[MutationStyle, Field(strict=False)] = MutationStyle.AUTO
    base_url: str | None = None
    """An OpenAI-compatible server (vLLM, Ollama, llama.cpp, OpenRouter) or a proxy."""
    api_key_env: str | None = None
    """The environment variable holding this model's key, when not the provider's usual one."""
    temperature: Temperature | list[Temperature] | None = None
    """One value, or a list to draw from for every call."""
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    """OpenAI reasoning models (o-series, gpt-5): sent instead of a temperature."""
    thinking_budget: Annotated[int, Field(ge=1024)] | None = None
    """Anthropic extended thinking: tokens the model may think before answering."""
    price_in: Annotated[float, Field(ge=0)] | None = None
    """USD per million input tokens; default: litellm's price map (local models cost 0)."""
    price_out: Annotated[float, Field(ge=0)] | None = None
    """USD per million output tokens."""

    _some_temperature = field_validator("temperature")(_non_empty_list)

    @model_validator(mode="after")
    def _prices_together(self) -> ModelConfig:
        if (self.price_in is None) != (self.price_out is None):
            raise ValueError("give both price_in and price_out (USD per million tokens)")
        return self


class LLMConfig(_Strict):
    models: list[ModelConfig] = Field(default_factory=list)
    selection: Literal["fixed", "ucb", "thompson"] = "ucb"
    """How the model of each proposal is chosen: by fixed weights, by a discounted
    asymmetric UCB bandit, or by Thompson sampling (rewarded by improvement over the parent)."""
    exploration: Annotated[float, Field(ge=0)] = 0.5
    """UCB: weight of the exploration bonus."""
    discount: Annotated[float, Field(gt=0, le=1)] = 0.97
    """Bandits: each new result multiplies the weight of older ones by this."""
    cost_weight: Annotated[float, Field(ge=0)] = 0.0
    """Bandits: how much a model's cost per call (relative to the dearest) lowers its value."""
    budget_usd: Annotated[float, Field(gt=0)] | None = None
    """Stop starting proposals once spent plus in-flight estimates reach this (USD)."""
    retries: Annotated[int, Field(ge=0, le=20)] = 4
    """Retries of a failed call (timeout, 429, 5xx, dropped, malformed) before another model."""
    backoff: Annotated[float, Field(ge=0)] = 1.0
    """Seconds before the first retry; doubled each time, with jitter."""
    backoff_max: Annotated[float, Field(ge=0)] = 60.0
    outage_seconds: Annotated[float, Field(gt=0)] = 600.0
    """Stop the run (resumable) when every model has failed for this long."""
    ancestry: Annotated[int, Field(ge=0, le=20)] = 3
    """Chat prompts: how many ancestors of the parent to describe (change and effect)."""
    templates: str | None = None
    """A folder of prompt templates (relative to problem.toml) overriding the built-in ones."""
    temperature: Temperature | list[Temperature] = 0.8
    max_tokens: Annotated[int, Field(ge=16)] = 1024
    timeout: Annotated[float, Field(gt=0)] = 300.0
    """Seconds before one LLM call is abandoned."""
    attempts: Annotated[int, Field(ge=1, le=10)] = 2
    """Calls per proposal while the answer is unusable (unchanged, unparsable, not applicable)."""
    continue_ratio: Annotated[float, Field(ge=0, le=1)] = 0.7
    """Completion prompts: share of calls that give the model the start of the parent's body
    (cut at a random line or token) to continue, instead of a whole new body."""
    hints: list[str] | None = None
    """Endings for the new version's docstring in completion prompts (e.g. " with more
    samples."); one is drawn per call. Default: a generic list."""

    _some_temperature = field_validator("temperature")(_non_empty_list)

    @field_validator("models", mode="before")
    @classmethod
    def _strings_are_names(cls, v: object) -> object:
        if isinstance(v, list):
            return [{"name": m} if isinstance(m, str) else m for m in v]
        return v


class BenchmarkConfig(_Strict):
    """What ``evolve bench`` and ``evolve problems`` say about a problem: the number to
    compare a run with, where it comes from, and which named suites hold the problem."""

    best_known: float | None = None
    """The best value published for the quoted metric, under this problem's verifier."""
    source: str = ""
    """Where ``best_known`` comes from (paper or repository, and which of several values)."""
    metric: str | None = None
    """The metric a benchmark quotes for a run's best candidate (default: the primary
    metric). A problem that searches on training instances quotes its held-out one here."""
    suites: list[str] = Field(default_factory=list)
    """Named suites the problem belongs to (``math``, ``algorithms``, ``smoke``...)."""

    @field_validator("suites")
    @classmethod
    def _suite_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"suite name {name!r} must be letters, digits, - or _")
        return v


class ProblemConfig(_Strict):
    name: str
    description: str = ""
    initial_program: str
    language: str | None = None
    """Inferred from the initial program's extension when not given."""
    evaluator: EvaluatorConfig
    features: list[FeatureConfig] = Field(
        default_factory=lambda: [FeatureConfig(name="code_length")]
    )
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    prompt: str = ""
    """Task description shown to the model in every prompt."""
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig)

    @model_validator(mode="after")
    def _features_unique(self) -> ProblemConfig:
        names = [f.name for f in self.features]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"feature {sorted(dupes)[0]!r} is listed twice")
        return self
