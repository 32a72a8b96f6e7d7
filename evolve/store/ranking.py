"""The problem's direction in SQL: the best of a column, best-first order and "better
than", each asked of the run's ``Objective`` (the queries' counterpart of
``Objective.better`` / ``Objective.key``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func

from evolve.core.objective import Objective


def best_of(objective: Objective, score: Any) -> Any:
    """The aggregate of the best score (``max`` or ``min``)."""
    return objective.pick(func.max, func.min)(score)


def best_first(objective: Objective, score: Any) -> Any:
    """An ``ORDER BY`` term putting the best score first."""
    return objective.pick(score.desc(), score.asc())


def beats(objective: Objective, score: Any, other: Any) -> Any:
    """``score`` is strictly better than ``other`` (SQL: false when either is NULL)."""
    return objective.pick(score > other, score < other)
