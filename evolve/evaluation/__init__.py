"""Evaluation: the evaluator contract, and running it on a candidate in a sandbox."""

from evolve.evaluation.result import EvaluationResult, Status

__all__ = ["EvaluationResult", "Status"]
