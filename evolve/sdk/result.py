"""What an evaluator returns.

An evaluator is ``evaluate(program_path) -> dict[str, float] | EvaluationResult``.
``EvaluationResult`` adds artifacts: text the engine stores with the candidate and
shows the model the next time that program is a parent (stderr, feedback, profiles).
Also importable as ``from evolve import EvaluationResult``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EvaluationResult:
    """Metrics (name -> number) and artifacts (name -> text) of one evaluation."""

    metrics: dict[str, float]
    artifacts: dict[str, str] = field(default_factory=dict)
