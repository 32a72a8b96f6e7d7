"""Model selection: fixed weights, the discounted UCB bandit, Thompson sampling,
cost-awareness, the reward, and exploration on the scale of the run's rewards."""

from __future__ import annotations

import math
import random

import pytest

from evolve.core.objective import Objective
from evolve.llm.selection import VALID_REWARD, ArmStats, Selector, improvement_reward

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
    assert improvement_reward(None, 1.0, MAX, 1.0) == 0.0  # no valid child
    # A valid child no better than its parent: a small credit, no penalty for doing worse.
    assert improvement_reward(0.5, 1.0, MAX, 1.0) == VALID_REWARD
    assert improvement_reward(1.0, 1.0, MAX, 1.0) == VALID_REWARD
    assert improvement_reward(1.5, 1.0, MIN, 1.0) == VALID_REWARD
    assert improvement_reward(1.5, 1.0, MAX, 2.0) == 0.625
    assert improvement_reward(0.5, 1.0, MIN, 2.0) == 0.625  # minimising
    assert improvement_reward(1.0 + 1e-9, 1.0, MAX, 2.0) > 0.5  # small gains still count
    assert improvement_reward(9.0, 1.0, MAX, 2.0) == 1.0  # clipped
    # One improvement outweighs ten valid children: valid credit never drowns improvements.
    assert improvement_reward(1.0 + 1e-9, 1.0, MAX, 2.0) >= 10 * VALID_REWARD


def test_scale_is_the_runs_pooled_mean_reward() -> None:
    selector = Selector([1.0, 1.0], mode="ucb", discount=1.0)
    assert selector.scale == 0.5  # the prior: one call at 0.5
    for _ in range(9):
        selector.update(0, 0.0)
    selector.update(1, 1.0)
    selector.update(1, 0.0)
    assert selector.scale == pytest.approx((1.0 + 0.5) / (11 + 1))
    state = selector.state()
    assert state["scale"] == selector.scale
    assert [a["calls"] for a in state["arms"]] == [9, 2]


def test_the_values_follow_the_documented_formulas() -> None:
    arms = [ArmStats(pulls=3.0, reward=0.0, cost=0.03), ArmStats(pulls=30.0, reward=6.0, cost=3.0)]
    m = (6.0 + 0.5) / (33.0 + 1.0)
    ucb = Selector([1.0, 1.0], mode="ucb", exploration=0.5, cost_weight=0.2, arms=arms)
    assert ucb.scale == pytest.approx(m)
    total = 33.0 + 2
    values = ucb._ucb([2, 0])
    assert values[0] == pytest.approx(m * (0.5 * math.sqrt(2 * math.log(total) / 5) - 0.02))
    assert values[1] == pytest.approx(0.2 + m * (0.5 * math.sqrt(2 * math.log(total) / 30) - 0.2))
    # Thompson: Normal((R + m / 2) / n, exploration * m / sqrt(n)), n = P + 1/2 + pending / 2.
    thompson = Selector([1.0, 1.0], mode="thompson", exploration=0.5, arms=arms)
    rng = random.Random(0)
    draws = [thompson._thompson(rng, [2, 0])[0] for _ in range(20000)]
    n = 3.0 + 0.5 + 1.0
    mean = sum(draws) / len(draws)
    sd = math.sqrt(sum((d - mean) ** 2 for d in draws) / len(draws))
    assert mean == pytest.approx(0.5 * m / n, abs=0.002)
    assert sd == pytest.approx(0.5 * m / math.sqrt(n), rel=0.03)


def test_exploration_is_on_the_scale_of_the_rewards() -> None:
    """A model with nothing to show against one earning 0.2 a call: it is tried again only
    once its discounted count has faded to about one call, whatever the rewards' size (the
    same record with rewards half as large gives the same choices)."""
    for factor in (1.0, 0.5):
        picks = []
        for faded in (0.5, 1.0, 1.5, 2.0):
            arms = [ArmStats(pulls=faded, reward=0.0), ArmStats(pulls=30.0, reward=6.0 * factor)]
            selector = Selector([1.0, 1.0], mode="ucb", arms=arms)
            picks.append(selector.choose(random.Random(0)))
        assert picks == [0, 0, 1, 1], factor
    # A bonus of fixed size outweighed the rewards: the useless arm led at 3 calls.
    log = math.log(33.0)
    old = [0.5 * math.sqrt(2 * log / 3), 0.2 + 0.5 * math.sqrt(2 * log / 30)]
    assert old[0] > old[1]


def _useless(rng: random.Random) -> list[float]:
    return [0.0, 0.0]  # an unusable answer, asked again (llm.attempts = 2)


def _useful(rng: random.Random) -> list[float]:
    """A valid child every time; one in six beats its parent."""
    return [rng.uniform(0.5, 1.0) if rng.random() < 1 / 6 else VALID_REWARD]


def _valid_only(rng: random.Random) -> list[float]:
    return [VALID_REWARD]


def _rare_else_invalid(rng: random.Random) -> list[float]:
    """One child in six beats its parent; the others are invalid."""
    return [rng.uniform(0.5, 1.0) if rng.random() < 1 / 6 else 0.0]


def _calls(mode: str, models: list, proposals: int, seed: int, lag: int = 6) -> list[tuple]:
    """(proposal, arm) of every call; each proposal's calls are told ``lag`` proposals
    later, with the proposals in flight as ``pending`` (as in a run with parallel slots)."""
    selector = Selector([1.0] * len(models), mode=mode)
    rng = random.Random(seed)
    in_flight: list[tuple[int, int]] = []
    calls: list[tuple[int, int]] = []

    def tell(k: int, arm: int) -> None:
        for reward in models[arm](rng):
            selector.update(arm, reward)
            calls.append((k, arm))

    for k in range(1, proposals + 1):
        while in_flight and in_flight[0][0] <= k - lag:
            tell(*in_flight.pop(0))
        pending = [sum(1 for _, a in in_flight if a == i) for i in range(len(models))]
        in_flight.append((k, selector.choose(random.Random(f"{seed}:{k}"), pending)))
    for k, arm in in_flight:
        tell(k, arm)
    return calls


def _late_share(calls: list[tuple], arm: int, after: int = 100) -> float:
    late = [a for k, a in calls if k > after]
    return late.count(arm) / len(late)


@pytest.mark.parametrize("mode", ["ucb", "thompson"])
def test_a_model_that_never_yields_a_valid_child_falls_below_a_tenth(mode: str) -> None:
    for seed in range(5):
        calls = _calls(mode, [_useless, _useful], 300, seed)
        assert _late_share(calls, 0) < 0.1, (seed, _late_share(calls, 0))


@pytest.mark.parametrize("mode", ["ucb", "thompson"])
def test_rare_improvements_outweigh_valid_children(mode: str) -> None:
    # Valid children and one improvement in six, against valid children only.
    for seed in range(5):
        calls = _calls(mode, [_valid_only, _useful], 300, seed)
        assert _late_share(calls, 1) > 0.8, (seed, _late_share(calls, 1))
    # One improvement in six and invalid children otherwise, against valid children only:
    # the improver keeps the larger share on the whole.
    shares = [
        _late_share(_calls(mode, [_valid_only, _rare_else_invalid], 300, s), 1) for s in range(10)
    ]
    assert sum(shares) / len(shares) > 0.5, shares


def test_unknown_mode_rejected() -> None:
    with pytest.raises(ValueError, match="unknown selection mode"):
        Selector([1.0], mode="greedy")
