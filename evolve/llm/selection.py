"""Choosing the model of each proposal: fixed weights, or a bandit that learns which model
produces improvements.

Rewards. A bandit is told, in iteration order, how each call went (``update``), with a
reward in [0, 1] (``improvement_reward``, applied by ``evolve.llm.feedback``):

* ``0`` for a call that gave no valid child: a failed call, an unusable answer, a repeat, a
  child that is invalid or failed its evaluation;
* ``VALID_REWARD`` (0.05) for the call whose answer became a valid, novel child (evaluated
  ``ok``) no better than its parent: doing worse is not punished;
* ``0.5 + 0.5 * min(1, gain / spread)`` for one that improved on its parent (``gain``: the
  objective's gain, ``spread``: the range of scores seen so far in the run), so one
  improvement is worth ten to twenty merely valid children: valid children tell a working
  model from a useless one, and never drown improvements.

Each update multiplies every arm's sums by ``discount`` (a window of about
``1 / (1 - discount)`` calls), so a model that stops helping loses its lead. Per arm ``i``:
``P_i`` discounted calls, ``R_i`` discounted reward, ``mean_i = R_i / P_i``.

Scale. Improvements are rare, so rewards are small, and a bonus of fixed size would
outweigh them and keep a useless model at a large share. So the exploration is measured in
the run's own reward level, the pooled discounted mean reward per call

    m = (sum_i R_i + 0.5) / (sum_i P_i + 1)

(a prior of one call at 0.5: the level before any result, and a floor that keeps the scale
from chasing rewards that have all but faded). Equivalently: rewards are normalised per
run by ``m`` and the exploration stays on the scale of 1.

UCB (``ucb``), with ``s_i = P_i + pending_i`` and ``N = sum_i s_i``:

    value_i = mean_i + m * (exploration * sqrt(2 ln N / s_i) - cost_weight * c_i / c_max)

Thompson (``thompson``), a normal posterior of the arm's mean with a prior of half a call
at ``m`` and noise of ``exploration * m`` per call, with ``n_i = P_i + 0.5 + pending_i / 2``:

    theta_i ~ Normal((R_i + 0.5 m) / n_i, exploration * m / sqrt(n_i))
    value_i = theta_i - m * cost_weight * c_i / c_max

``c_i`` is arm i's discounted mean cost per call. Proposals still in flight (``pending``)
count as calls (UCB) or half a failure each (Thompson) until they report, so parallel draws
do not all go to the arm that looked best a moment ago. The largest value wins, ties broken
by the configured weights; UCB tries every arm once before any bonus is computed.

With the defaults (``exploration`` 0.5, ``discount`` 0.97) a model that never yields a
valid child gets about one call in twenty (one in fifteen with ``llm.attempts = 3``) once
another has shown its worth: it is tried again when its discounted count has faded to
about one call.

State is a plain dict (``state``) kept in ``runs.selection`` for inspection; it is a pure
function of the ordered updates, which is how resume rebuilds it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evolve.core.objective import Objective

VALID_REWARD = 0.05
"""The reward of a valid, novel child that is no better than its parent."""
IMPROVEMENT_REWARD = 0.5
"""The least reward of an improving child (plus up to as much again for the gain's size)."""
PRIOR_MEAN = 0.5
"""The run's reward level before any result."""
PRIOR_CALLS = 1.0
"""How many calls' weight that prior has in the run's reward level."""
THOMPSON_PRIOR_CALLS = 0.5
"""How many calls' weight each arm's prior (at the run's level) has under Thompson sampling."""


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
        """One call's outcome: ``reward`` in [0, 1] for model ``arm``, at ``cost`` USD."""
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

    @property
    def scale(self) -> float:
        """The run's reward level ``m``: the pooled discounted mean reward per call, with a
        prior of ``PRIOR_CALLS`` calls at ``PRIOR_MEAN``; in (0, 1)."""
        reward = sum(a.reward for a in self.arms)
        pulls = sum(a.pulls for a in self.arms)
        return (reward + PRIOR_MEAN * PRIOR_CALLS) / (pulls + PRIOR_CALLS)

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
        """``cost_weight * c_i / c_max`` per arm (on the scale of 1, like the bonus)."""
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
        m = self.scale
        penalty = self._cost_penalty()
        return [
            a.mean + m * (self.exploration * math.sqrt(2.0 * math.log(max(total, 1.0)) / s) - c)
            for a, s, c in zip(self.arms, seen, penalty, strict=True)
        ]

    def _thompson(self, rng: random.Random, pending: Sequence[int]) -> list[float]:
        m = self.scale
        penalty = self._cost_penalty()
        values = []
        for a, p, c in zip(self.arms, pending, penalty, strict=True):
            # One prior call at the run's level m; proposals in flight count as half a
            # failure each until they report.
            n = a.pulls + THOMPSON_PRIOR_CALLS + 0.5 * p
            mean = (a.reward + THOMPSON_PRIOR_CALLS * m) / n
            values.append(rng.gauss(mean, self.exploration * m / math.sqrt(n)) - m * c)
        return values

    # persistence -----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """What the selector knows, for ``runs.selection``: per arm the discounted calls
        (``pulls``), reward and cost, and the undiscounted ``calls``; ``scale``: the run's
        reward level ``m`` that the exploration is measured in."""
        return {
            "mode": self.mode,
            "scale": self.scale,
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
    """The reward of a call whose answer became a child evaluated ``ok`` with score
    ``child`` (None: no valid child, 0). A child no better than its parent is still a valid,
    novel program: ``VALID_REWARD`` (no penalty for doing worse). An improving one earns
    ``IMPROVEMENT_REWARD`` (0.5) plus up to 0.5 for the size of its gain as a share of
    ``scale`` (the spread of scores seen so far); the fixed half keeps late, small
    improvements worth choosing a model for, and far above a merely valid child."""
    if child is None or parent is None:
        return 0.0
    gain = objective.gain(child, parent)
    if not gain > 0:
        return VALID_REWARD
    if scale <= 0 or not math.isfinite(scale):
        return 1.0
    return IMPROVEMENT_REWARD + (1.0 - IMPROVEMENT_REWARD) * min(1.0, gain / scale)
