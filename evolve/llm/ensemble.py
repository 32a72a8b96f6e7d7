"""The ensemble: which models a run may use, and the choice of one for each proposal.

Selection here is by fixed weights, drawn from the proposal's own seeded random stream so
a run is reproducible. Model specs are checked (provider known, key present) before a run
starts, so a missing key is one clear line, not a failure an hour in.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

from evolve.config import LLMConfig, ModelConfig, MutationStyle
from evolve.errors import UserError
from evolve.llm.base import LLMClient, ModelKind
from evolve.llm.local import EMBEDDED, LocalLlama
from evolve.llm.providers import KEY_VARIABLES, AnthropicChat, LiteLLMChat, OpenAIChat

PROVIDERS = ("local", "openai", "anthropic", "litellm")

EMBEDDED_NOTICE = (
    "Using the embedded model local/gemma-3-270m (small, CPU). For better proposals use a "
    "real provider: --model openai/gpt-4.1-mini (OPENAI_API_KEY), "
    "--model anthropic/claude-sonnet-4-5 (ANTHROPIC_API_KEY), or --model litellm/<provider>/<model>."
)


@dataclass(frozen=True)
class Member:
    """One model of the ensemble, with the settings its proposals use."""

    spec: str
    weight: float
    mutation: MutationStyle
    temperature: float
    max_tokens: int
    client: LLMClient


class Ensemble:
    def __init__(self, members: list[Member]) -> None:
        if not members:
            raise UserError("no models configured")
        self.members = members

    def choose(self, rng: random.Random) -> Member:
        """A member drawn with probability proportional to its weight."""
        if len(self.members) == 1:
            return self.members[0]
        weights = [m.weight for m in self.members]
        return rng.choices(self.members, weights=weights, k=1)[0]


def check_spec(spec: str, base_url: str | None = None) -> None:
    """Raise UserError when a model spec cannot be used as written."""
    provider, sep, name = spec.partition("/")
    if not sep or not name:
        raise UserError(
            f"model {spec!r}: write it as PROVIDER/MODEL with PROVIDER one of "
            f"{', '.join(PROVIDERS)} (e.g. openai/gpt-4.1-mini)"
        )
    if provider not in PROVIDERS:
        raise UserError(
            f"model {spec!r}: unknown provider {provider!r} (use one of {', '.join(PROVIDERS)}; "
            "litellm/<provider>/<model> reaches the rest)"
        )
    variable = KEY_VARIABLES.get(provider)
    if variable and not base_url and not os.environ.get(variable):
        raise UserError(
            f"model {spec!r} needs the environment variable {variable} (set it, or set base_url)"
        )


def make_client(model: ModelConfig, timeout: float) -> LLMClient:
    check_spec(model.name, model.base_url)
    provider = model.name.split("/", 1)[0]
    if provider == "local":
        return LocalLlama(model.name)
    if provider == "openai":
        return OpenAIChat(model.name, base_url=model.base_url, timeout=timeout)
    if provider == "anthropic":
        return AnthropicChat(model.name, base_url=model.base_url, timeout=timeout)
    return LiteLLMChat(model.name, base_url=model.base_url, timeout=timeout)


def resolve_models(config: LLMConfig) -> tuple[list[ModelConfig], str]:
    """The configured models, or the embedded one (with a notice saying how to do better)."""
    if config.models:
        return list(config.models), ""
    return [ModelConfig(name=EMBEDDED)], EMBEDDED_NOTICE


def build_ensemble(config: LLMConfig) -> Ensemble:
    models, _ = resolve_models(config)
    members = []
    for model in models:
        client = make_client(model, config.timeout)
        style = model.mutation
        if style is MutationStyle.AUTO:
            style = (
                MutationStyle.COMPLETION if client.kind is ModelKind.BASE else MutationStyle.DIFF
            )
        members.append(
            Member(
                spec=model.name,
                weight=model.weight,
                mutation=style,
                temperature=model.temperature
                if model.temperature is not None
                else config.temperature,
                max_tokens=model.max_tokens or config.max_tokens,
                client=client,
            )
        )
    return Ensemble(members)
