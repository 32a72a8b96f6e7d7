"""The models section (``[llm]``, ``[[llm.models]]``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from evolve.config.base import MutationStyle, Temperature, _non_empty_list, _Strict


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
    """How the model of each proposal is chosen: by fixed weights, by a discounted UCB
    bandit, or by Thompson sampling. The bandits learn from every call: 0 when it gave no
    valid child, 0.05 for a valid, novel child no better than its parent, 0.5 + 0.5 *
    min(1, gain / spread of the run's scores) for an improvement. UCB's value of model i is
    mean_i + m * (exploration * sqrt(2 ln N / n_i) - cost_weight * cost_i / dearest);
    Thompson draws Normal(mean_i, exploration * m / sqrt(n_i)) (with a prior of half a call
    at m), less the same cost term; m is the run's mean reward per call, so exploration is
    on the scale of the rewards (``evolve.llm.selection``)."""
    exploration: Annotated[float, Field(ge=0)] = 0.5
    """Bandits: the weight of exploration, in units of the run's mean reward per call m:
    UCB's bonus is exploration * m * sqrt(2 ln N / n_i), Thompson's spread exploration * m /
    sqrt(n_i). Higher keeps more calls on models that have not yet shown their worth (at
    0.5 a model that never gives a valid child gets about one call in twenty, one in
    fifteen with ``attempts = 3``)."""
    discount: Annotated[float, Field(gt=0, le=1)] = 0.97
    """Bandits: each new call's result multiplies the weight of older ones by this (a
    memory of about 1 / (1 - discount) calls), so a model that stops helping loses its
    lead and one left aside is tried again."""
    cost_weight: Annotated[float, Field(ge=0)] = 0.0
    """Bandits: how much a model's cost per call (relative to the dearest) lowers its value,
    in units of the run's mean reward per call (1: the dearest model gives up one mean
    reward)."""
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
    failures: Annotated[int, Field(ge=0, le=10)] = 3
    """How many of the parent's latest failed children each prompt shows (the change tried
    and why it failed: the error with the end of its traceback, a timeout, an unusable or
    repeated answer), together with this proposal's own unusable answers; 0 shows none.
    Chat prompts list them; completion prompts show them as commented-out attempts."""
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
    repair: bool = False
    """Send a child that failed when run (an error or a timeout) back once to the model that
    wrote it, with its change and the error, before giving it up: one more call (recorded,
    costed and budgeted like any other), whose program, if new, is evaluated instead."""
    diverge: bool = True
    """Completion prompts that give the start of the parent's body: the model's first token
    may not be blank nor begin what the parent has there, so the answer departs from the
    parent where the prompt was cut instead of copying it (the embedded model; clients that
    cannot mask tokens ignore it)."""
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
