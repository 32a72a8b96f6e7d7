"""The interface every model client implements, and the messages it takes and returns."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class ModelKind(StrEnum):
    BASE = "base"
    """Continues text: gets completion (versioned-function) prompts."""
    CHAT = "chat"
    """Follows instructions: gets SEARCH/REPLACE or rewrite prompts."""


@dataclass(frozen=True)
class LLMRequest:
    """One call. Base models read ``prompt``; chat models read ``system`` and ``prompt``."""

    prompt: str
    system: str = ""
    temperature: float = 0.8
    max_tokens: int = 1024
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class LLMResponse:
    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    latency: float = 0.0
    finish_reason: str = ""


class LLMError(RuntimeError):
    """A call that failed (network, provider error, empty answer); the run goes on."""


class LLMClient(Protocol):
    spec: str
    kind: ModelKind

    async def complete(self, request: LLMRequest) -> LLMResponse: ...
