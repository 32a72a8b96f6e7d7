"""What a call costs: prices per token, from problem.toml or litellm's model price map.

Local models cost nothing. A model with no known price costs nothing too, and says so once
(``Price.known``), except when a budget is set: then an unknown price is an error before
the run starts, since the budget could not be kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from evolve.config import ModelConfig


@dataclass(frozen=True)
class Price:
    """USD per token."""

    input: float = 0.0
    output: float = 0.0
    known: bool = True
    source: str = ""

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return tokens_in * self.input + tokens_out * self.output


FREE = Price(source="local model")


def price_of(model: ModelConfig) -> Price:
    """The price of ``model``: its ``price_in``/``price_out`` (USD per million tokens), else
    litellm's map, else unknown."""
    if model.price_in is not None and model.price_out is not None:
        return Price(model.price_in / 1e6, model.price_out / 1e6, source="problem.toml")
    provider, _, name = model.name.partition("/")
    if provider == "local":
        return FREE
    entry = _litellm_entry(provider, name)
    if entry is None:
        return Price(known=False, source="unknown")
    return Price(
        float(entry.get("input_cost_per_token") or 0.0),
        float(entry.get("output_cost_per_token") or 0.0),
        source="litellm price map",
    )


def import_litellm() -> Any:
    """litellm, told to use its bundled price map instead of fetching one at import (which,
    offline, stalls for seconds)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    return litellm


def _litellm_entry(provider: str, name: str) -> dict | None:
    table = import_litellm().model_cost
    candidates = [name, f"{provider}/{name}"]
    if provider == "litellm":
        candidates.append(name.split("/", 1)[-1])
    for key in candidates:
        entry = table.get(key)
        if isinstance(entry, dict) and (
            entry.get("input_cost_per_token") is not None
            or entry.get("output_cost_per_token") is not None
        ):
            return entry
    return None
