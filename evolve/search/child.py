"""Making the candidate record of an iteration from what happened to it: its draw, the
model's proposal, and (when it was evaluated) the evaluation's verdict."""

from __future__ import annotations

import time
import uuid

from evolve.code.diff import unified_diff
from evolve.core.records import Candidate
from evolve.core.status import CandidateStatus, Verdict
from evolve.evaluation.executor import Evaluation
from evolve.proposal import Proposal
from evolve.search.draw import Draw


def new_id() -> str:
    return uuid.uuid4().hex


def outcome(evaluation: Evaluation) -> tuple[CandidateStatus, str]:
    """A candidate's status and reason from its evaluation (the evaluator's own failure is
    the candidate's error, said so)."""
    if evaluation.status is Verdict.EVALUATOR_ERROR:
        return CandidateStatus.ERROR, f"evaluator failed: {evaluation.reason}"
    return evaluation.status.candidate_status(), evaluation.reason


def initial(run_id: str, code: str, evaluation: Evaluation) -> Candidate:
    """Iteration 0: the problem's own program."""
    status, reason = outcome(evaluation)
    return Candidate(
        id=new_id(),
        run_id=run_id,
        iteration=0,
        code=code,
        island=0,
        generation=0,
        status=status,
        score=evaluation.score,
        metrics=evaluation.metrics,
        artifacts=evaluation.artifacts,
        reason=reason,
        mutation="initial",
        stage=evaluation.stage,
        eval_seconds=evaluation.seconds,
        created_at=time.time(),
    )


def child(
    run_id: str,
    candidate_id: str,
    draw: Draw,
    proposal: Proposal,
    status: CandidateStatus,
    reason: str,
    evaluation: Evaluation | None = None,
    duplicate_of: str | None = None,
    wait_seconds: float = 0.0,
    engine_seconds: float = 0.0,
) -> Candidate:
    """Iteration ``draw.iteration``'s candidate. Without a program (invalid) it keeps its
    parent's code, so every row holds a runnable program."""
    parent = draw.parent
    code = proposal.code if proposal.code is not None else parent.code
    return Candidate(
        id=candidate_id,
        run_id=run_id,
        iteration=draw.iteration,
        code=code,
        island=draw.island,
        generation=parent.generation + 1,
        status=status,
        score=evaluation.score if evaluation else None,
        metrics=evaluation.metrics if evaluation else {},
        artifacts=evaluation.artifacts if evaluation else {},
        reason=reason,
        parent_id=parent.id,
        mate_id=draw.mate.id if draw.mate is not None else None,
        inspiration_ids=tuple(p.id for p in draw.inspirations),
        diff=unified_diff(parent.code, code) if proposal.code is not None else "",
        model=proposal.model,
        selected_model=draw.member.spec,
        mutation=proposal.mutation.value,
        tokens_in=proposal.tokens_in,
        tokens_out=proposal.tokens_out,
        cost=proposal.cost,
        llm_seconds=proposal.llm_seconds,
        eval_seconds=evaluation.seconds if evaluation else 0.0,
        wait_seconds=wait_seconds,
        engine_seconds=engine_seconds,
        duplicate_of=duplicate_of,
        stage=evaluation.stage if evaluation else 0,
        created_at=time.time(),
    )
