"""What an evaluator returns, and what the engine makes of it.

An evaluator is ``evaluate(program_path) -> dict[str, float] | EvaluationResult``.
``EvaluationResult`` adds artifacts: text the engine stores with the candidate and
shows the model the next time that program is a parent (stderr, feedback, profiles).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class EvaluationResult:
    """Metrics (name -> number) and artifacts (name -> text) of one evaluation."""

    metrics: dict[str, float]
    artifacts: dict[str, str] = field(default_factory=dict)


class Status(StrEnum):
    """The outcome of evaluating one candidate."""

    OK = "ok"
    ERROR = "error"
    """The program (or the evaluator on it) raised, crashed or returned a bad primary metric."""
    TIMEOUT = "timeout"
    INVALID = "invalid"
    """The proposal could not be turned into a program (diff did not apply, touched code
    outside the EVOLVE-BLOCKs, syntax error); never evaluated."""
    DUPLICATE = "duplicate"
    """Same code as a program already evaluated in this run; not evaluated again."""
    EVALUATOR_ERROR = "evaluator_error"
    """The evaluator itself could not be loaded: a problem-file error, not the candidate's."""
    FILTERED = "filtered"
    """Stopped by an evaluation cascade: a cheap stage ran without error but its score
    missed the stage's threshold, so the full evaluation never ran. Its metrics are that
    stage's; it does not join the archive."""


EVALUATED = frozenset({Status.OK, Status.ERROR, Status.TIMEOUT, Status.FILTERED})
"""The statuses of candidates that were really evaluated (a twin of one is a duplicate)."""
