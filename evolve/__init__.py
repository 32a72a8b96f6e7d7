"""evolve: LLM-guided evolutionary program search.

Public API for evaluator authors: ``EvaluationResult``. For notebooks: ``open_db(path)``
(``evolve.lineage_db``), loaded on first use so that evaluators do not import the Store.
"""

from typing import Any

from evolve.evaluation.result import EvaluationResult

__all__ = ["EvaluationResult", "LineageDB", "open_db"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("open_db", "LineageDB"):
        from evolve import lineage_db

        return getattr(lineage_db, name)
    raise AttributeError(f"module 'evolve' has no attribute {name!r}")
