"""The problem file schema: what a `problem.toml` may say, validated strictly.

Every section is a pydantic model with ``extra="forbid"`` and ``strict=True``, so a
misspelled key or a string where a number belongs is an error naming the key, never
silently ignored. Loading (paths, bundled names, error messages) is in ``problem.py``.

One module per part of the file: ``base`` (what they share), ``evaluation`` (evaluator,
features, sandbox), ``search`` (search, novelty), ``llm`` (models); the whole file and the
benchmark facts here.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from evolve.config.base import (
    Direction,
    MutationStyle,
    Temperature,
    _Strict,
)
from evolve.config.evaluation import (
    DockerConfig,
    EvaluatorConfig,
    FeatureConfig,
    SandboxConfig,
    StageConfig,
)
from evolve.config.llm import LLMConfig, ModelConfig
from evolve.config.search import NotesConfig, NoveltyConfig, SearchConfig

__all__ = [
    "BenchmarkConfig",
    "Direction",
    "DockerConfig",
    "EvaluatorConfig",
    "FeatureConfig",
    "LLMConfig",
    "ModelConfig",
    "MutationStyle",
    "NotesConfig",
    "NoveltyConfig",
    "ProblemConfig",
    "SandboxConfig",
    "SearchConfig",
    "StageConfig",
    "Temperature",
]


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
    novelty: NoveltyConfig = Field(default_factory=NoveltyConfig)
    notes: NotesConfig = Field(default_factory=NotesConfig)
    """Run notes written by a model every few candidates, and by users."""
    """Rejecting (or asking again for) children too similar to a program on their island."""

    @model_validator(mode="after")
    def _features_unique(self) -> ProblemConfig:
        names = [f.name for f in self.features]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"feature {sorted(dupes)[0]!r} is listed twice")
        return self
