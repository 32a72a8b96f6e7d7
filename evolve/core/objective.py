"""Which of two scores is better: the problem's direction, compared in this one place.

Everything that ranks candidates (the archive, the model selector, a cascade's thresholds,
the target score, the CLI, the UI, the statistics queries) asks an ``Objective``; nothing
else looks at the direction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Scored(Protocol):
    """Anything with a score and an iteration (a candidate, a row of the database)."""

    @property
    def score(self) -> float | None: ...

    @property
    def iteration(self) -> int: ...


S = TypeVar("S", bound=Scored)


@dataclass(frozen=True)
class Objective:
    """The direction of the problem's primary metric."""

    maximize: bool = True

    @classmethod
    def of(cls, direction: str) -> Objective:
        """From ``"maximize"`` or ``"minimize"`` (the problem file's ``evaluator.direction``)."""
        value = getattr(direction, "value", direction)
        if value not in ("maximize", "minimize"):
            raise ValueError(f"direction must be 'maximize' or 'minimize', not {direction!r}")
        return cls(value == "maximize")

    @classmethod
    def of_config(cls, config: dict[str, Any]) -> Objective:
        """From a stored run configuration (``runs.config``)."""
        return cls.of(config.get("evaluator", {}).get("direction", "maximize"))

    @property
    def direction(self) -> str:
        return "maximize" if self.maximize else "minimize"

    def better(self, a: float | None, b: float | None) -> bool:
        """True when score ``a`` is strictly better than ``b``; a missing or NaN score is worse
        than any number."""
        if not _real(a):
            return False
        if not _real(b):
            return True
        return a > b if self.maximize else a < b  # type: ignore[operator]

    def meets(self, score: float | None, threshold: float) -> bool:
        """True when ``score`` is at least as good as ``threshold`` (a target, a cascade stage)."""
        if not _real(score):
            return False
        return score >= threshold if self.maximize else score <= threshold  # type: ignore[operator]

    def gain(self, child: float, parent: float) -> float:
        """How much better ``child`` is than ``parent`` (negative when worse)."""
        return child - parent if self.maximize else parent - child

    def key(self, score: float | None) -> float:
        """A sort key: ascending order is best first; missing scores sort last."""
        if not _real(score):
            return math.inf
        return -score if self.maximize else score  # type: ignore[operator]

    def rank_key(self, item: Scored) -> tuple[float, int]:
        """Best first, ties broken by age (older first), so every ranking is deterministic."""
        return (self.key(item.score), item.iteration)

    def ranked(self, items: Iterable[S]) -> list[S]:
        """``items`` with a score, best first (ties: older first)."""
        return sorted((i for i in items if _real(i.score)), key=self.rank_key)

    def best(self, items: Iterable[S]) -> S | None:
        """The best of ``items`` with a score (ties: the oldest), or None."""
        return min((i for i in items if _real(i.score)), key=self.rank_key, default=None)

    def pick(self, if_maximizing: T, if_minimizing: T) -> T:
        """The one of two direction-specific things that applies (``max``/``min``,
        ``"below"``/``"above"``, an SQL aggregate)."""
        return if_maximizing if self.maximize else if_minimizing


def _real(score: float | None) -> bool:
    return score is not None and not math.isnan(score)
