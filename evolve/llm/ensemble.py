"""The ensemble: which models a run may use, and the choice of one for each proposal.

Model specs are checked (provider known, key present) before a run starts, so a missing key
is one clear line, not a failure an hour in. The choice itself is a ``Selector`` (fixed
weights or a bandit, ``evolve.llm.selection``); the draw comes from the proposal's own
seeded random stream, so a run is reproducible.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

from evolve.config import LLMConfig, ModelConfig, MutationStyle
from evolve.errors import UserError
from evolve.llm.base import LLMClient, ModelKind
from evolve.llm.local import EMBEDDED, LocalLlama
from evolve.llm.pricing import FREE, Price, import_litellm, price_of
from evolve.llm.providers import KEY_VARIABLES, AnthropicChat, LiteLLMChat, OpenAIChat
from evolve.llm.selection import Selector

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
    temperatures: tuple[float, ...]
    max_tokens: int
    client: LLMClient
    price: Price = FREE
    index: int = 0

    @property
    def temperature(self) -> float:
        return self.temperatures[0]

    def draw_temperature(self, rng: random.Random) -> float:
        """The temperature of one call (drawn only when there is a choice)."""
        if len(self.temperatures) == 1:
            return self.temperatures[0]
        return rng.choice(self.temperatures)


class Ensemble:
    def __init__(self, members: list[Member], selector: Selector | None = None) -> None:
        if not members:
            raise UserError("no models configured")
        self.members = [m if m.index == i else _reindex(m, i) for i, m in enumerate(members)]
        self.selector = selector or Selector([m.weight for m in members])

    def choose(self, rng: random.Random, pending: Sequence[int] = ()) -> Member:
        """The member for one proposal; ``pending[i]``: proposals of member i in flight."""
        return self.members[self.selector.choose(rng, pending)]

    def fallbacks(self, first: Member, rng: random.Random) -> list[Member]:
        """The order in which the other members stand in when ``first`` keeps failing:
        a weighted shuffle (drawn only when there is more than one to order)."""
        rest = [m for m in self.members if m is not first]
        order: list[Member] = []
        while len(rest) > 1:
            pick = rng.choices(rest, weights=[m.weight for m in rest], k=1)[0]
            order.append(pick)
            rest.remove(pick)
        return order + rest

    def index_of(self, spec: str) -> int | None:
        for m in self.members:
            if m.spec == spec:
                return m.index
        return None

    async def close(self) -> None:
        """Let go of what the clients hold (the embedded model's process): a call still in
        flight ends at once instead of keeping the engine from exiting."""
        for member in self.members:
            close = getattr(member.client, "close", None)
            if close is not None:
                await close()


def _reindex(member: Member, index: int) -> Member:
    return replace(member, index=index)


def key_variable(model: ModelConfig) -> str | None:
    provider = model.name.split("/", 1)[0]
    return model.api_key_env or KEY_VARIABLES.get(provider)


def check_spec(spec: str, base_url: str | None = None, api_key_env: str | None = None) -> None:
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
    variable = api_key_env or KEY_VARIABLES.get(provider)
    if variable and not (base_url and not api_key_env) and not os.environ.get(variable):
        raise UserError(
            f"model {spec!r} needs the environment variable {variable} (set it, or set base_url "
            "for a server that needs no key)"
        )
    if provider == "litellm" and not base_url and not api_key_env:
        missing = _litellm_missing_keys(name)
        if missing:
            raise UserError(
                f"model {spec!r} needs the environment variable {' or '.join(missing)} "
                "(litellm's check; set api_key_env to name another, or base_url for a proxy)"
            )


def _litellm_missing_keys(model: str) -> list[str]:
    """The variables litellm says ``model`` needs and that are not set ([] when unsure)."""
    try:
        report = import_litellm().validate_environment(model)
    except Exception:  # noqa: BLE001 - an unknown provider: let the call itself tell
        return []
    if report.get("keys_in_environment"):
        return []
    return [str(k) for k in report.get("missing_keys") or []]


def make_client(model: ModelConfig, timeout: float) -> LLMClient:
    check_spec(model.name, model.base_url, model.api_key_env)
    provider = model.name.split("/", 1)[0]
    if provider == "local":
        return LocalLlama(model.name)
    if provider == "openai":
        return OpenAIChat(
            model.name,
            base_url=model.base_url,
            timeout=timeout,
            api_key_env=model.api_key_env,
            reasoning_effort=model.reasoning_effort,
        )
    if provider == "anthropic":
        return AnthropicChat(
            model.name,
            base_url=model.base_url,
            timeout=timeout,
            api_key_env=model.api_key_env,
            thinking_budget=model.thinking_budget,
        )
    return LiteLLMChat(
        model.name,
        base_url=model.base_url,
        timeout=timeout,
        api_key_env=model.api_key_env,
        reasoning_effort=model.reasoning_effort,
    )


def resolve_models(config: LLMConfig) -> tuple[list[ModelConfig], str]:
    """The configured models, or the embedded one (with a notice saying how to do better)."""
    if config.models:
        return list(config.models), ""
    return [ModelConfig(name=EMBEDDED)], EMBEDDED_NOTICE


def client_kind(spec: str) -> ModelKind:
    return ModelKind.BASE if spec.startswith("local/") else ModelKind.CHAT


def build_ensemble(config: LLMConfig, clients: dict[str, LLMClient] | None = None) -> Ensemble:
    """The run's ensemble. ``clients`` replaces the real client of a spec (replay)."""
    models, _ = resolve_models(config)
    specs = [m.name for m in models]
    if len(set(specs)) != len(specs):
        dupe = next(s for s in specs if specs.count(s) > 1)
        raise UserError(f"llm.models: {dupe!r} is listed twice (give it one weight)")
    members = []
    for index, model in enumerate(models):
        if clients is not None and model.name in clients:
            client = clients[model.name]
        else:
            client = make_client(model, config.timeout)
        price = price_of(model)
        if config.budget_usd is not None and not price.known:
            raise UserError(
                f"model {model.name!r}: no price is known, so --budget-usd cannot be kept; set "
                "price_in and price_out (USD per million tokens) in its [[llm.models]] table"
            )
        style = model.mutation
        if style is MutationStyle.AUTO:
            style = (
                MutationStyle.COMPLETION if client.kind is ModelKind.BASE else MutationStyle.DIFF
            )
        temperature = model.temperature if model.temperature is not None else config.temperature
        temperatures = tuple(temperature) if isinstance(temperature, list) else (temperature,)
        members.append(
            Member(
                spec=model.name,
                weight=model.weight,
                mutation=style,
                temperatures=temperatures,
                max_tokens=model.max_tokens or config.max_tokens,
                client=client,
                price=price,
                index=index,
            )
        )
    selector = Selector(
        [m.weight for m in members],
        mode=config.selection,
        exploration=config.exploration,
        discount=config.discount,
        cost_weight=config.cost_weight,
    )
    return Ensemble(members, selector)
