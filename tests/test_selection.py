"""Model selection: fixed weights, the discounted asymmetric UCB bandit, Thompson sampling,
cost-awareness, and the reward."""

from __future__ import annotations

import random

import pytest

from evolve.core.objective import Objective
from evolve.llm.selection import Selector, improvement_reward

MAX, MIN = Objective(maximize=True), Objective(maximize=False)


def _simulate(selector: Selector, quality: list[float], rounds: int, seed: int = 0) -> list[int]:
    """Each arm i improves with probability quality[i]; returns the arms chosen."""
    rng = random.Random(seed)
    chosen = []
    for _ in range(rounds):
        arm = selector.choose(rng)
        chosen.append(arm)
        selector.update(arm, 1.0 if rng.random() < quality[arm] else 0.0)
    return chosen


@pytest.mark.parametrize("mode", ["ucb", "thompson"])
def test_bandit_moves_to_the_better_model(mode: str) -> None:
    selector = Selector([1.0, 1.0], mode=mode, discount=0.99)
    chosen = _simulate(selector, [0.1, 0.6], 400)
    late = chosen[200:]
    assert late.count(1) / len(late) > 0.7, late.count(1)
    assert selector.state()["arms"][1]["calls"] > selector.state()["arms"][0]["calls"]


def test_fixed_weights_ignore_results() -> None:
    selector = Selector([3.0, 1.0], mode="fixed")
    chosen = _simulate(selector, [0.0, 1.0], 4000)
    assert 0.72 < chosen.count(0) / len(chosen) < 0.78


def test_discount_lets_a_model_that_stopped_helping_lose_its_lead() -> None:
    selector = Selector([1.0, 1.0], mode="ucb", discount=0.9, exploration=0.5)
    _simulate(selector, [0.9, 0.1], 200, seed=1)
    chosen = _simulate(selector, [0.0, 0.6], 200, seed=2)
    assert chosen[100:].count(1) > 60


def test_ucb_tries_every_arm_first_and_counts_pending() -> None:
    selector = Selector([1.0, 1.0, 1.0], mode="ucb")
    rng = random.Random(0)
    # Nothing known: an arm already in flight is not chosen again while others are untried.
    assert selector.choose(rng, pending=[1, 0, 0]) in (1, 2)
    assert selector.choose(rng, pending=[1, 1, 0]) == 2
    for arm in range(3):
        selector.update(arm, 0.5)
    # Same record: the arm with fewer proposals in flight gets the larger bonus.
    assert selector.choose(rng, pending=[5, 0, 5]) == 1


def test_cost_weight_prefers_the_cheaper_of_equal_models() -> None:
    selector = Selector([1.0, 1.0], mode="ucb", cost_weight=1.0, exploration=0.1)
    for _ in range(20):
        selector.update(0, 0.5, cost=1.0)
        selector.update(1, 0.5, cost=0.1)
    assert selector.choose(random.Random(0)) == 1
    blind = Selector([1.0, 1.0], mode="ucb", cost_weight=0.0, exploration=0.1)
    blind.arms = selector.arms
    values = blind._ucb([0, 0])
    assert values[0] == pytest.approx(values[1], abs=0.01)  # equal but for discount order


def test_same_stream_same_choices() -> None:
    def picks(seed: int) -> list[int]:
        selector = Selector([1.0, 2.0, 1.0], mode="thompson")
        return _simulate(selector, [0.2, 0.3, 0.5], 100, seed=seed)

    assert picks(7) == picks(7)
    assert picks(7) != picks(8)


def test_improvement_reward() -> None:
    assert improvement_reward(None, 1.0, MAX, 1.0) == 0.0  # failed child
    assert improvement_reward(0.5, 1.0, MAX, 1.0) == 0.0  # worse: asymmetric, no penalty
    assert improvement_reward(1.5, 1.0, MAX, 2.0) == 0.625
    assert improvement_reward(0.5, 1.0, MIN, 2.0) == 0.625  # minimising
    assert improvement_reward(1.0 + 1e-9, 1.0, MAX, 2.0) > 0.5  # small gains still count
    assert improvement_reward(9.0, 1.0, MAX, 2.0) == 1.0  # clipped


def test_unknown_mode_rejected() -> None:
    with pytest.raises(ValueError, match="unknown selection mode"):
        Selector([1.0], mode="greedy")
