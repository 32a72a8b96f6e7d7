"""The run's LLM spending and ``--budget-usd``: what has been spent, what the calls in flight
will likely cost, and whether a proposal may still make its first call.

One ``Budget`` per run; each proposal gets a ``Tab`` (``Budget.tab(iteration)``) and reports
every call through it, before it goes (``call``) and once answered (``answered``; a failed
call costs nothing), and ``close`` when it ends. The accounting:

- **A call's estimate** is taken at the moment of the call, from the prompt being sent:
  its length in tokens (characters divided by the model's observed characters per prompt
  token, 4 before it has answered) priced at the model's input price, plus the 90th
  percentile of the completion tokens the model has returned so far (its ``max_tokens``
  before it has returned any) at its output price.
- **A proposal in flight holds** one estimate per answer it may still ask for (``llm.attempts``
  answers; failed calls cost nothing), so that an unusable answer's second try is already
  counted.
- **A proposal is admitted at its first call**, in iteration order. It goes at once when the
  spend, the holds of the proposals in flight and its own hold fit in the budget. Otherwise
  it waits for proposals in flight to finish and settle at their real cost. When none is
  left, it goes if one call fits, with as many answers as fit; if not even one call fits,
  the budget is spent: it and every proposal waiting behind it raise ``BudgetSpent`` (the run
  ends; those iterations are redone by a resume with a higher budget).

Every admitted call fitted when it was admitted, so the run ends within one call of the
cap, as far as the estimates hold (a call longer than the 90th percentile goes over by the
difference). An admitted proposal is never cut off, so each kept iteration is the same
whatever the timing; only the last proposals, admitted one at a time, may get fewer answers,
and then from the spend of all the iterations before them. Which iteration is the last can
move with timing only where an estimate of a call in flight was too low.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from dataclasses import dataclass, field

from evolve.core.status import RunStatus
from evolve.llm.ensemble import Member
from evolve.llm.retry import StopSearch

_CHARS_PER_TOKEN = 4.0
"""Prompt characters per token before a model has answered (English and code average)."""

_OUTPUT_QUANTILE = 0.9
"""Which of a model's observed completion lengths a call is assumed to return: high, so that
the calls in flight are seldom underestimated, but not the single longest."""


class BudgetSpent(StopSearch):
    """Not even one more call fits in ``--budget-usd``: the run ends (resumable)."""

    status = RunStatus.COMPLETED


@dataclass
class _Usage:
    """What one model's answered calls looked like."""

    chars: int = 0
    tokens_in: int = 0
    outputs: Counter[int] = field(default_factory=Counter)
    """How many answered calls had each completion length: bounded by the distinct lengths
    (at most ``max_tokens`` + 1), not by the number of calls, however long the run."""
    answered: int = 0
    _quantile: int | None = None

    def add(self, tokens_out: int) -> None:
        self.outputs[tokens_out] += 1
        self.answered += 1
        self._quantile = None

    def output_quantile(self) -> int:
        """The ``_OUTPUT_QUANTILE`` quantile of the completion lengths seen (lower value)."""
        if self._quantile is None:
            rank = max(1, math.ceil(_OUTPUT_QUANTILE * self.answered))
            seen = 0
            for length in sorted(self.outputs):
                seen += self.outputs[length]
                if seen >= rank:
                    self._quantile = length
                    break
        assert self._quantile is not None
        return self._quantile


@dataclass
class _Waiter:
    member: Member
    prompt: str
    admitted: asyncio.Future[int]


class Budget:
    """The run's spend and, when ``limit`` is set, the gate every proposal's first call
    passes. ``attempts``: the answers one proposal may ask for (``llm.attempts``)."""

    def __init__(self, limit: float | None, attempts: int = 1) -> None:
        self.limit = limit
        self.attempts = attempts
        self.spent = 0.0
        self.closed = False
        """The budget is spent: no proposal is admitted any more."""
        self._usage: dict[str, _Usage] = {}
        self._holds: dict[int, float] = {}
        """Admitted proposals still proposing -> what they may still spend."""
        self._waiting: dict[int, _Waiter] = {}
        self._message = ""

    def tab(self, iteration: int) -> Tab:
        """The account of iteration ``iteration``'s proposal."""
        return Tab(self, iteration)

    def observe(self, spec: str, prompt: str, tokens_in: int, tokens_out: int) -> None:
        """Learn from one answered call of model ``spec`` (also fed the stored calls on
        resume, so that a resumed run estimates as the original would have)."""
        usage = self._usage.setdefault(spec, _Usage())
        if tokens_in > 0:
            usage.chars += len(prompt)
            usage.tokens_in += tokens_in
        usage.add(max(0, tokens_out))

    def estimate(self, member: Member, prompt: str) -> float:
        """What one call of ``member`` sending ``prompt`` will likely cost (USD)."""
        usage = self._usage.get(member.spec)
        per_token = _CHARS_PER_TOKEN
        if usage is not None and usage.tokens_in > 0 and usage.chars > 0:
            per_token = usage.chars / usage.tokens_in
        tokens_in = math.ceil(len(prompt) / per_token)
        tokens_out = member.max_tokens
        if usage is not None and usage.answered:
            tokens_out = usage.output_quantile()
        return member.price.cost(tokens_in, tokens_out)

    @property
    def held(self) -> float:
        """What the proposals in flight may still spend, by their estimates."""
        return sum(self._holds.values())

    # the gate ---------------------------------------------------------------------------------
    async def _admit(self, iteration: int, member: Member, prompt: str) -> int:
        """Wait until the first call of ``iteration`` may go; the answers it may ask for."""
        if self.limit is None:
            return self.attempts
        if self.closed:
            raise BudgetSpent(self._message)
        admitted: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting[iteration] = _Waiter(member, prompt, admitted)
        self._review()
        try:
            return await admitted
        finally:
            if self._waiting.pop(iteration, None) is not None:  # cancelled while waiting
                self._review()

    def _fits(self, member: Member, prompt: str) -> int:
        """How many answers a proposal starting now may ask for; 0: it must wait (or, with
        nothing in flight, it does not fit at all)."""
        assert self.limit is not None
        each = self.estimate(member, prompt)
        room = self.limit - self.spent
        if self.spent + self.held + self.attempts * each <= self.limit:
            return self.attempts
        if self._holds or each > room:
            return 0
        # Alone, with room for fewer answers than a proposal may ask for: take those.
        return min(self.attempts, math.floor(room / each)) if each > 0 else self.attempts

    def _review(self) -> None:
        """Admit waiting proposals, lowest iteration first, while they fit; when nothing is
        in flight and the first of them does not fit, the budget is spent."""
        assert self.limit is not None
        while self._waiting:
            k = min(self._waiting)
            waiter = self._waiting[k]
            if waiter.admitted.done():  # cancelled (the run is abandoned), not yet unwound
                del self._waiting[k]
                continue
            allowed = self._fits(waiter.member, waiter.prompt)
            if allowed:
                del self._waiting[k]
                self._holds[k] = allowed * self.estimate(waiter.member, waiter.prompt)
                waiter.admitted.set_result(allowed)
            elif self._holds:
                return  # wait for the proposals in flight to settle
            else:
                each = self.estimate(waiter.member, waiter.prompt)
                self.closed = True
                self._message = (
                    f"budget of ${self.limit:g} reached: spent ${self.spent:.4f}, and the "
                    f"next call would cost about ${each:.4f}"
                )
                for rest in self._waiting.values():
                    if not rest.admitted.done():
                        rest.admitted.set_exception(BudgetSpent(self._message))
                self._waiting.clear()

    def _hold(self, iteration: int, amount: float) -> None:
        """An admitted proposal may still spend ``amount``."""
        if iteration in self._holds:
            self._holds[iteration] = amount
            self._review()

    def _release(self, iteration: int) -> None:
        if self._holds.pop(iteration, None) is not None:
            self._review()


class Tab:
    """One proposal's account: it reports each call before and after, and closes at the end."""

    def __init__(self, budget: Budget, iteration: int) -> None:
        self.budget = budget
        self.iteration = iteration
        self.allowed = budget.attempts
        """Answers this proposal may ask for (fewer than ``llm.attempts`` only when the last
        of the budget leaves no room for more)."""
        self._admitted = False
        self._answers = 0

    async def call(self, member: Member, prompt: str) -> None:
        """A call of ``member`` with ``prompt`` is about to go. The first waits for the
        budget (raising ``BudgetSpent`` when it is spent); a later one (a retry, another
        attempt, a fallback model) goes at once and updates what the proposal holds."""
        if not self._admitted:
            self.allowed = await self.budget._admit(self.iteration, member, prompt)
            self._admitted = True
        else:
            self._hold_rest(member, prompt)

    def answered(
        self, member: Member, prompt: str, tokens_in: int, tokens_out: int, cost: float
    ) -> None:
        """The call was answered and cost ``cost``. (A failed call costs nothing and
        changes nothing: the proposal still holds what its next call may cost.)"""
        self.budget.spent += cost
        self.budget.observe(member.spec, prompt, tokens_in, tokens_out)
        self._answers += 1
        self._hold_rest(member, prompt)

    def close(self) -> None:
        """The proposal ended (or was dropped): it holds nothing any more."""
        self.budget._release(self.iteration)

    def _hold_rest(self, member: Member, prompt: str) -> None:
        left = max(0, self.allowed - self._answers)
        self.budget._hold(self.iteration, left * self.budget.estimate(member, prompt))
