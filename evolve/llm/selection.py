"""Choosing the model of each proposal: fixed weights, or a bandit that learns which model
produces improvements.

A bandit is told, in iteration order, how each proposal went (``update``): the reward is the
child's improvement over its parent, normalised to [0, 1] (``improvement_reward``), and 0
for anything that failed (an unusable answer, a failed call, a child no better than its
parent: the reward is asymmetric). Old results fade by ``discount`` per update, so a model that stops helping
loses its lead. Choices count the proposals still in flight (``pending``), so many parallel
draws do not all go to the arm that looked best a moment ago.

State is a plain dict (``state``/``load``) so the Store can keep it and a resumed run can
check it; it is also a pure function of the ordered updates, which is how resume rebuilds it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evolve.core.objective import Objective


@dataclass
class ArmStats:
    """Discounted sums for one model."""

    pulls: float = 0.0
    reward: float = 0.0
    cost: float = 0.0
    calls: int = 0
    """Undiscounted count of updates, for the record."""

    @property
    def mean(self) -> float:
        return self.reward / self.pulls if self.pulls > 0 else 0.0

    @property
    def mean_cost(self) -> float:
        return self.cost / self.pulls if self.pulls > 0 else 0.0


@dataclass
class Selector:
    """Base: weights, discounting, bookkeeping. ``mode`` picks the rule in ``choose``."""

    weights: Sequence[float]
    mode: str = "fixed"
    exploration: float = 0.5
    discount: float = 0.97
    cost_weight: float = 0.0
    arms: list[ArmStats] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mode not in ("fixed", "ucb", "thompson"):
            raise ValueError(f"unknown selection mode {self.mode!r}")
        if not self.arms:
            self.arms = [ArmStats() for _ in self.weights]

    # learning --------------------------------------------------------------------------
    def update(self, arm: int, reward: float, cost: float = 0.0) -> None:
        """One proposal's outcome: ``reward`` in [0, 1] for model ``arm``, at ``cost`` USD."""
        reward = min(1.0, max(0.0, reward))
        for stats in self.arms:
            stats.pulls *= self.discount
            stats.reward *= self.discount
            stats.cost *= self.discount
        stats = self.arms[arm]
        stats.pulls += 1.0
        stats.reward += reward
        stats.cost += cost
        stats.calls += 1

    # choosing --------------------------------------------------------------------------
    def choose(self, rng: random.Random, pending: Sequence[int] = ()) -> int:
        """The arm for the next proposal; ``pending[i]``: proposals of arm i in flight."""
        n = len(self.weights)
        if n == 1:
            return 0
        if self.mode == "fixed":
            return rng.choices(range(n), weights=list(self.weights), k=1)[0]
        pending = list(pending) or [0] * n
        values = self._ucb(pending) if self.mode == "ucb" else self._thompson(rng, pending)
        best = max(values)
        ties = [i for i, v in enumerate(values) if v >= best - 1e-12]
        if len(ties) == 1:
            return ties[0]
        return rng.choices(ties, weights=[self.weights[i] for i in ties], k=1)[0]

    def _cost_penalty(self) -> list[float]:
        costs = [a.mean_cost for a in self.arms]
        top = max(costs)
        if self.cost_weight <= 0 or top <= 0:
            return [0.0] * len(costs)
        return [self.cost_weight * c / top for c in costs]

    def _ucb(self, pending: Sequence[int]) -> list[float]:
        seen = [a.pulls + p for a, p in zip(self.arms, pending, strict=True)]
        untried = [i for i, s in enumerate(seen) if s <= 0]
        if untried:  # every arm once before any bonus is computed
            return [1.0 if i in untried else 0.0 for i in range(len(seen))]
        total = sum(seen)
        penalty = self._cost_penalty()
        return [
            a.mean + self.exploration * math.sqrt(2.0 * math.log(max(total, 1.0)) / s) - c
            for a, s, c in zip(self.arms, seen, penalty, strict=True)
        ]

    def _thompson(self, rng: random.Random, pending: Sequence[int]) -> list[float]:
        penalty = self._cost_penalty()
        values = []
        for a, p, c in zip(self.arms, pending, penalty, strict=True):
            # Proposals in flight count as half a failure each until they report.
            alpha = 1.0 + a.reward
            beta = 1.0 + (a.pulls - a.reward) + 0.5 * p
            values.append(rng.betavariate(alpha, beta) - c)
        return values

    # persistence -----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "arms": [
                {"pulls": a.pulls, "reward": a.reward, "cost": a.cost, "calls": a.calls}
                for a in self.arms
            ],
        }

    def shares(self) -> list[float]:
        """Each arm's share of the (undiscounted) updates so far."""
        total = sum(a.calls for a in self.arms)
        return [a.calls / total if total else 0.0 for a in self.arms]


def improvement_reward(
    child: float | None, parent: float | None, objective: Objective, scale: float
) -> float:
    """0 for a failed child or one no better than its parent (asymmetric: no penalty for
    doing worse); an improving child earns 0.5, plus up to 0.5 for the size of its gain as
    a share of ``scale`` (the spread of scores seen so far). The fixed half keeps late,
    small improvements worth choosing a model for."""
    if child is None or parent is None:
        return 0.0
    gain = objective.gain(child, parent)
    if gain <= 0:
        return 0.0
    if scale <= 0 or not math.isfinite(scale):
        return 1.0
    return 0.5 + 0.5 * min(1.0, gain / scale)
