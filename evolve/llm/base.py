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
    stop_pattern: str = ""
    """A regular expression that ends the answer where it first matches (the end of the
    evolved function); clients that cannot apply it return longer answers, which the
    caller cuts the same way."""
    key: tuple[int, int] | None = None
    """(iteration, call number): where this call sits in the run, for record and replay."""
    avoid: str = ""
    """Completion models: text the answer must not begin with (nor with blanks), so that it
    departs from the parent where the prompt cut it. The embedded model honours it; other
    clients ignore it (an answer that copies the parent is then asked again)."""


def shown_prompt(request: LLMRequest) -> str:
    """The request as one text, the way it is recorded (and checked on replay)."""
    if not request.system:
        return request.prompt
    return f"SYSTEM:\n{request.system}\n\nUSER:\n{request.prompt}"


@dataclass(frozen=True)
class LLMResponse:
    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    latency: float = 0.0
    finish_reason: str = ""


class Fault(StrEnum):
    """Why a call failed. Transient faults are retried on the same model with backoff;
    the others go straight to another model of the ensemble."""

    RATE_LIMIT = "rate_limit"
    SERVER = "server"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    MALFORMED = "malformed"
    EMPTY = "empty"
    REFUSAL = "refusal"
    AUTH = "auth"
    BAD_REQUEST = "bad_request"
    CRASHED = "crashed"
    """The model's own process died (the embedded model: a native crash)."""
    OTHER = "other"

    @property
    def transient(self) -> bool:
        return self in _TRANSIENT


_TRANSIENT = frozenset(
    {
        Fault.RATE_LIMIT,
        Fault.SERVER,
        Fault.TIMEOUT,
        Fault.CONNECTION,
        Fault.MALFORMED,
        Fault.EMPTY,
        Fault.CRASHED,
    }
)


class LLMError(RuntimeError):
    """A call that failed; the run goes on (retry, another model, or an invalid candidate)."""

    def __init__(
        self,
        message: str,
        fault: Fault = Fault.OTHER,
        retry_after: float | None = None,
        stops_run: bool = False,
    ) -> None:
        super().__init__(message)
        self.fault = fault
        self.retry_after = retry_after
        self.stops_run = stops_run
        """The model cannot go on (it crashed again after a restart): the run stops cleanly,
        to be resumed, rather than spend its iterations on a broken model."""


class LLMClient(Protocol):
    spec: str
    kind: ModelKind

    async def complete(self, request: LLMRequest) -> LLMResponse: ...
