"""The novelty screen as the proposer uses it: is a child too similar to a program on its
island (``[novelty]``), and what to record about it.

A ``Screen`` asks the run's ``NoveltyCheck`` about the programs the iteration's draw saw on
its island (fixed when it was drawn, so the answer does not depend on which evaluation
finished first). Its verdict goes into the record of the call whose answer made the child:
the call's ``outcome`` says ``too similar to #K (...)`` (K the neighbour's iteration), and a
judge's call becomes a call of the iteration of its own, with the outcome ``novelty judge:
...``. ``RecordedScreen`` answers from those records instead of measuring again, so a
replayed run decides exactly as the recorded one did, whatever embedding model or judge it
used and without calling either.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from evolve.core.records import Candidate, LLMCall
from evolve.novelty.check import NoveltyCheck, NoveltyVerdict
from evolve.proposal import Attempt

SIMILAR = "too similar to"
JUDGE = "novelty judge"


@dataclass(frozen=True)
class Screened:
    """The screen's answer about one child."""

    similar: bool
    reason: str = ""
    """For a similar child: ``too similar to #K (method similarity S)``."""
    neighbour: Candidate | None = None
    judge: Attempt | None = None
    """The judge's call, to be recorded with the iteration's calls."""


class Screen(Protocol):
    reask: bool
    """Ask the model again for a similar child (else the child is stored as ``similar``)."""

    async def __call__(
        self, code: str, neighbours: Sequence[Candidate], key: tuple[int, int]
    ) -> Screened: ...

    async def close(self) -> None: ...


class LiveScreen:
    """Measures with the run's ``NoveltyCheck``."""

    def __init__(self, check: NoveltyCheck, reask: bool) -> None:
        self.check = check
        self.reask = reask

    async def __call__(
        self, code: str, neighbours: Sequence[Candidate], key: tuple[int, int]
    ) -> Screened:
        # The judge's call, if one is made, comes right after the answer's.
        verdict = await self.check.nearest(code, neighbours, key=(key[0], key[1] + 1))
        neighbour = next((n for n in neighbours if n.id == verdict.neighbour_id), None)
        judge = _judge_attempt(verdict, neighbour)
        if not verdict.similar or neighbour is None:
            return Screened(False, judge=judge)
        return Screened(True, _reason(verdict, neighbour), neighbour, judge)

    async def close(self) -> None:
        await self.check.close()


class RecordedScreen:
    """Answers as the recorded run's screen did (by the place of the answer's call)."""

    def __init__(self, calls: Sequence[LLMCall], reask: bool) -> None:
        self.reask = reask
        self.calls = {(c.iteration, c.call_index): c for c in calls if c.program_id}

    async def __call__(
        self, code: str, neighbours: Sequence[Candidate], key: tuple[int, int]
    ) -> Screened:
        recorded = self.calls.get(key)
        after = self.calls.get((key[0], key[1] + 1))
        judge = None
        if after is not None and after.outcome.startswith(JUDGE):
            judge = Attempt(
                after.prompt, after.response, after.seed, after.temperature, after.tokens_in,
                after.tokens_out, after.latency, after.error, after.model, after.fault,
                after.cost, outcome=after.outcome,
            )  # fmt: skip
        found = _NEIGHBOUR.search(recorded.outcome) if recorded is not None else None
        if found is None:
            return Screened(False, judge=judge)
        k = int(found.group(1))
        neighbour = next((n for n in neighbours if n.iteration == k), None)
        reason = recorded.outcome[recorded.outcome.index(SIMILAR) :]  # type: ignore[union-attr]
        return Screened(neighbour is not None, reason, neighbour, judge)

    async def close(self) -> None:
        return None


_NEIGHBOUR = re.compile(re.escape(SIMILAR) + r" #(\d+)")


def _reason(verdict: NoveltyVerdict, neighbour: Candidate) -> str:
    judged = ", judged the same idea" if verdict.judged else ""
    return (
        f"{SIMILAR} #{neighbour.iteration} ({verdict.method} similarity "
        f"{verdict.similarity:.3f}{judged})"
    )


def _judge_attempt(verdict: NoveltyVerdict, neighbour: Candidate | None) -> Attempt | None:
    call = verdict.judge
    if call is None:
        return None
    said = {True: "novel", False: "the same idea", None: "no usable answer"}[call.novel]
    where = f" as #{neighbour.iteration}" if neighbour is not None and call.novel is False else ""
    return Attempt(
        call.prompt,
        call.response,
        call.seed or 0,
        call.temperature,
        call.tokens_in,
        call.tokens_out,
        call.latency,
        call.error,
        call.model,
        call.fault,
        call.cost,
        outcome=f"{JUDGE}: {said}{where}",
    )
