"""A stand-in for the ``openevolve`` package, written by ``evolve convert openevolve``.

It holds only what an OpenEvolve evaluator imports (``EvaluationResult``), so the evaluator
runs under evolve without OpenEvolve installed. It sits beside the evaluator, which is first
on the import path, so it is used even where OpenEvolve is installed.
"""

from .evaluation_result import EvaluationResult

__all__ = ["EvaluationResult"]
