"""The repair step (``llm.repair``): a child that failed when run (an error or a timeout) is
sent back once to the model that wrote it, with the change it made and the error, before it
is given up. The repair is one more call of the same iteration (recorded, costed and
budgeted like any other); its answer, if it is a new program, is evaluated in place of the
failed one, and the candidate keeps what the first child was and why it failed in its
artifacts (``repair:first_reason``, ``repair:first_diff``).

The first answer's call is marked (its ``outcome``) as failed when run, so the model
selector credits the repaired child to the repair call, and a replay finds the same calls at
the same places.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from evolve.code.diff import unified_diff
from evolve.core.records import Candidate, code_hash
from evolve.core.status import CandidateStatus
from evolve.evaluation.executor import Evaluation
from evolve.prompts import redact
from evolve.proposal import CallLog, Proposal
from evolve.proposer import Proposer
from evolve.search.child import outcome
from evolve.search.draw import Draw
from evolve.search.failures import failure_of
from evolve.search.search import Search
from evolve.spending import Budget, BudgetSpent

REPAIRABLE = frozenset({CandidateStatus.ERROR, CandidateStatus.TIMEOUT})


@dataclass(frozen=True)
class Repair:
    """A repaired proposal and what to remember of the first child."""

    proposal: Proposal
    artifacts: dict[str, str]


async def repair(
    proposer: Proposer,
    budget: Budget,
    draw: Draw,
    proposal: Proposal,
    log: CallLog,
    status: CandidateStatus,
    reason: str,
    artifacts: dict[str, str],
    known: Callable[[str], str | None],
) -> Repair | None:
    """Ask once for a fix of ``proposal``'s program, which failed with ``status`` and
    ``reason``. None when the model gave no new program (its call is still in ``log``, and
    the caller keeps it); the proposal's calls then include the repair call either way."""
    assert proposal.code is not None
    parent = draw.parent
    failed = Candidate(
        id="",
        run_id="",
        iteration=draw.iteration,
        code=proposal.code,
        island=draw.island,
        generation=parent.generation + 1,
        status=status,
        reason=reason,
        parent_id=parent.id,
        diff=unified_diff(parent.code, proposal.code),
        artifacts=artifacts,
    )
    failure = failure_of(failed, redact)
    assert failure is not None
    producer = max(i for i, a in enumerate(log.attempts) if not a.fault and not a.outcome)
    log.mark(producer, f"{failure.label}; sent back for repair")
    redraw = replace(draw, failures=(*draw.failures, failure))
    log.tab = budget.tab(draw.iteration) if budget.limit is not None else None
    try:
        # The failed program itself is no fix: an answer repeating it is unusable.
        def seen(digest: str) -> str | None:
            return "the failed child" if digest == failed.code_hash else known(digest)

        second = await proposer.propose(redraw, log, seen, answers=1)
    except BudgetSpent:
        second = None
    finally:
        if log.tab is not None:
            log.tab.close()
    if second is None or second.code is None or second.duplicate_of is not None:
        return None
    kept = {
        "repair:first_reason": failure.reason,
        "repair:first_diff": failure.diff,
    }
    calls = second.attempts
    merged = replace(
        second,
        waited=proposal.waited + second.waited,
        engine_seconds=proposal.engine_seconds + second.engine_seconds,
        attempts=calls,
    )
    return Repair(merged, kept)


def unrepaired(proposal: Proposal, log: CallLog) -> Proposal:
    """``proposal`` with every call its iteration made, the failed repair's included."""
    return replace(proposal, attempts=tuple(log.attempts))


class Repairer:
    """The repair step as the Runner uses it: ask for a fix, claim and evaluate it."""

    def __init__(
        self,
        proposer: Proposer,
        budget: Budget,
        search: Search,
        evaluate: Callable[[str], Awaitable[tuple[Evaluation, float]]],
    ) -> None:
        self.proposer = proposer
        self.budget = budget
        self.search = search
        self.evaluate = evaluate

    async def run(
        self,
        draw: Draw,
        proposal: Proposal,
        log: CallLog,
        candidate_id: str,
        evaluation: Evaluation,
    ) -> tuple[Proposal, Evaluation, float]:
        """The fixed program's proposal and evaluation (the first child's reason and diff
        in its artifacts, both evaluations' time in its seconds), or the failed one as it
        was; with the calls of both, and the seconds spent waiting for a slot."""
        assert proposal.code is not None
        status, reason = outcome(evaluation)
        k = draw.iteration
        fixed = await repair(
            self.proposer, self.budget, draw, proposal, log, status, reason,
            evaluation.artifacts, lambda digest: self.search.known(digest, draw.view),
        )  # fmt: skip
        code = fixed.proposal.code if fixed is not None else None
        if fixed is None or code is None or self.search.earlier(code_hash(code)) is not None:
            return unrepaired(proposal, log), evaluation, 0.0  # no fix, or a twin in flight
        self.search.release(k, code_hash(proposal.code))
        self.search.claim(k, code_hash(code), candidate_id)
        second, waited = await self.evaluate(code)
        second = replace(
            second,
            artifacts={**second.artifacts, **fixed.artifacts},
            seconds=evaluation.seconds + second.seconds,
        )
        return fixed.proposal, second, waited
