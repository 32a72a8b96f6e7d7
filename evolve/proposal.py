"""What a proposal is made of: the model calls it took (``Attempt``, recorded in order by a
``CallLog``) and its result (``Proposal``: a child program, or why there is none)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from evolve.config import MutationStyle
from evolve.core.records import LLMCall
from evolve.spending import Tab


@dataclass(frozen=True)
class Attempt:
    """One model call of a proposal, for the record (and for replay)."""

    prompt: str
    response: str
    seed: int
    temperature: float
    tokens_in: int = 0
    tokens_out: int = 0
    latency: float = 0.0
    error: str = ""
    model: str = ""
    fault: str = ""
    """Why the call failed (a ``Fault`` value); empty when the model answered."""
    cost: float = 0.0
    index: int = 0
    """The call's number within its iteration."""
    outcome: str = ""
    """For an answered call: why it gave no child (empty for the one that did)."""


@dataclass(frozen=True)
class Proposal:
    """A child program, or why there is none; and the calls it took."""

    code: str | None
    reason: str
    model: str
    mutation: MutationStyle
    attempts: tuple[Attempt, ...] = field(default_factory=tuple)
    duplicate_of: str | None = None
    """Set when every answer repeated a program the run already has."""
    waited: float = 0.0
    """Seconds of backoff between retries (and of waiting out an outage)."""
    engine_seconds: float = 0.0
    """The engine's own time in it: building prompts, turning answers into programs."""
    similar_to: str | None = None
    """Set when the child is too similar to this program of its island (``[novelty]``)."""

    @property
    def llm_seconds(self) -> float:
        return sum(a.latency for a in self.attempts)

    @property
    def tokens_in(self) -> int:
        return sum(a.tokens_in for a in self.attempts)

    @property
    def tokens_out(self) -> int:
        return sum(a.tokens_out for a in self.attempts)

    @property
    def cost(self) -> float:
        return sum(a.cost for a in self.attempts)


def calls_of(
    run_id: str, iteration: int, program_id: str | None, attempts: Sequence[Attempt]
) -> list[LLMCall]:
    """A proposal's calls as the Store keeps them."""
    return [
        LLMCall(
            run_id=run_id,
            iteration=iteration,
            model=a.model,
            prompt=a.prompt,
            response=a.response,
            program_id=program_id,
            tokens_in=a.tokens_in,
            tokens_out=a.tokens_out,
            latency=a.latency,
            seed=a.seed,
            temperature=a.temperature,
            error=a.error,
            call_index=a.index,
            fault=a.fault,
            outcome=a.outcome,
            cost=a.cost,
        )
        for a in attempts
    ]


class CallLog:
    """The calls of one proposal, numbered in order, the time it waited between them, and its
    account with the budget. The caller makes it and keeps it: when a proposal is cut short
    (``StopSearch``), its calls are still there to be recorded."""

    def __init__(self, iteration: int, tab: Tab | None = None) -> None:
        self.iteration = iteration
        self.tab = tab
        self.attempts: list[Attempt] = []
        self.waited = 0.0
        """Seconds of backoff between retries and of waiting out an outage."""
        self.worked = 0.0
        """Seconds of the engine's own work: prompts built, answers made into programs."""

    def add(self, attempt: Attempt) -> None:
        self.attempts.append(replace(attempt, index=len(self.attempts)))

    def mark_unusable(self, reason: str) -> None:
        self.mark(len(self.attempts) - 1, reason or "unusable")

    def mark(self, index: int, outcome: str) -> None:
        """Record why call ``index``'s answer did not become the child."""
        self.attempts[index] = replace(self.attempts[index], outcome=outcome)
