"""evolve: LLM-guided evolutionary program search.

Public API for evaluator authors: ``EvaluationResult``. For scripts and notebooks:
``run(problem, iterations=..., ...)`` and ``run_async`` (``evolve.api``), ``Problem`` (a
problem built in code, ``evolve.problem_builder``), and ``open_db(path)``
(``evolve.lineage_db``). Those are loaded on first use, so that an evaluator importing
``evolve`` does not import the engine or the Store.
"""

from typing import Any

from evolve.sdk.result import EvaluationResult

__all__ = ["EvaluationResult", "LineageDB", "Problem", "Run", "open_db", "run", "run_async"]
__version__ = "0.1.0"

_LAZY = {
    "open_db": "evolve.lineage_db",
    "LineageDB": "evolve.lineage_db",
    "run": "evolve.api",
    "run_async": "evolve.api",
    "Run": "evolve.api",
    "Problem": "evolve.problem_builder",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'evolve' has no attribute {name!r}")
