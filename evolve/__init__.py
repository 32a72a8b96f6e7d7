"""evolve: LLM-guided evolutionary program search.

Public API for evaluator authors: ``EvaluationResult``.
"""

from evolve.evaluation.result import EvaluationResult

__all__ = ["EvaluationResult"]
__version__ = "0.1.0"
