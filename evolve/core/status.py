"""Statuses: of one evaluation (``Verdict``), of a candidate (``CandidateStatus``), of a run
(``RunStatus``). Their values are what the database stores.

A candidate's status says where its life ended: it was evaluated (its verdict: ``ok``,
``error``, ``timeout``, ``filtered``), or it never was (``invalid``: no program could be made
of the model's answer; ``duplicate``: the same code as an earlier candidate; ``similar``: too close to a program on
its island). An evaluation
has one more verdict, ``evaluator_error``, which is the problem's fault and never a
candidate's: a candidate that meets it is stored as ``error`` (``Verdict.candidate_status``).
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    """The outcome of evaluating one program."""

    OK = "ok"
    ERROR = "error"
    """The program (or the evaluator on it) raised, crashed, ran out of memory or returned a
    bad primary metric."""
    TIMEOUT = "timeout"
    FILTERED = "filtered"
    """A cheap cascade stage ran without error but its score missed the stage's threshold,
    so the full evaluation never ran."""
    EVALUATOR_ERROR = "evaluator_error"
    """The evaluator itself could not be loaded or run: a problem-file error."""

    def candidate_status(self) -> CandidateStatus:
        """The status of a candidate whose evaluation ended with this verdict."""
        if self is Verdict.EVALUATOR_ERROR:
            return CandidateStatus.ERROR
        return CandidateStatus(self.value)


class CandidateStatus(StrEnum):
    """Where a candidate's life ended."""

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    FILTERED = "filtered"
    """Stopped by an evaluation cascade; its metrics are that stage's; it does not join the
    archive."""
    INVALID = "invalid"
    """The model's answer could not be made into a program (the diff did not apply, it
    touched code outside the EVOLVE-BLOCKs, it does not parse, ...); never evaluated."""
    DUPLICATE = "duplicate"
    """The same code as an earlier candidate of the run; not evaluated again."""
    SIMILAR = "similar"
    """Too similar to a program on its island (``[novelty]``); not evaluated;
    ``duplicate_of`` names that nearest neighbour."""

    @classmethod
    def _missing_(cls, value: object) -> CandidateStatus | None:
        # Databases written before statuses were split stored the evaluator's own failure
        # as a candidate status; such a candidate is an error.
        return cls.ERROR if value == "evaluator_error" else None

    @property
    def evaluated(self) -> bool:
        """True when the candidate was really evaluated (a twin of it is a duplicate)."""
        return self not in (
            CandidateStatus.INVALID,
            CandidateStatus.DUPLICATE,
            CandidateStatus.SIMILAR,
        )


class RunStatus(StrEnum):
    """Where a run stands."""

    RUNNING = "running"
    COMPLETED = "completed"
    """It reached its end: the iteration budget, the target score or the spending budget."""
    INTERRUPTED = "interrupted"
    """It was stopped before its end (Ctrl-C, SIGTERM, a model outage, the embedded model
    crashing); ``evolve run --resume`` continues it."""
    FAILED = "failed"
    """It could not start: the initial program or the evaluator failed."""
