"""Evaluator for the learning_dynamics problem: an update rule for regret minimisation in
two-player self-play, scored by the exploitability of the average strategies it reaches.

Three fresh processes of the candidate's own run (``evolve.sdk.call``: nothing the
candidate does there reaches this process, and what comes back is plain data):

1. ``self_play(games, STEPS)``: both players of each game use the candidate's
   ``next_strategy`` for ``STEPS`` simultaneous rounds; the strategies played come back.
2. ``replay(regrets)``, once per player (row, column), each in a process of its own: this
   process recomputes, from the strategies played and the payoffs, the cumulative regrets
   that player had before each step, and feeds them to ``next_strategy`` again with a fresh
   state, without the game. The strategies must be the same as those played (within
   ``REPLAY_TOLERANCE``): a strategy may depend on the player's own regrets and the state
   the rule kept, not on the payoff matrices, the opponent or anything kept outside
   ``state``.

Every strategy must be a finite, nonnegative vector of the player's number of actions whose
sum is within ``TOLERANCE`` of 1; it is then divided by its sum. The first violation
raises ``ValueError`` naming the step, the player and the game. Regrets, average
strategies and exploitability are all computed here, from the strategies alone:

* zero-sum game (A, -A): NashConv of the average profile (x̄, ȳ),
  ``max_i (A ȳ)_i - min_j (x̄ᵀ A)_j`` (the sum of both players' best-response gains);
* general-sum game (A, B): the coarse-correlated-equilibrium gap of the empirical play,
  ``Σ_p max(0, best fixed action's average payoff - average payoff received)``.

The score ``exploitability`` is the mean over the games (minimize).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from evolve import EvaluationResult
from evolve.sdk import call

STEPS: int = 1000
TOLERANCE: float = 1e-9
"""How far from 1 a strategy's sum may be."""
REPLAY_TOLERANCE: float = 1e-9
"""How far (largest entry difference) a replayed strategy may be from the one played."""

ZERO_SUM: tuple[tuple[int, int, int], ...] = (
    (3, 3, 0),
    (5, 5, 1),
    (8, 8, 2),
    (12, 12, 3),
    (20, 20, 4),
    (6, 10, 5),
)
"""(rows, columns, seed) of the random zero-sum games."""
GENERAL_SUM: tuple[tuple[int, int, int], ...] = ((4, 4, 100), (8, 8, 101))
"""(rows, columns, seed) of the random general-sum games."""


class Game(NamedTuple):
    label: str
    a: np.ndarray
    """Row player's payoffs."""
    b: np.ndarray
    """Column player's payoffs (-a for a zero-sum game)."""
    zero_sum: bool


def make_games() -> list[Game]:
    """The fixed instances: payoffs drawn uniformly from [-1, 1] with ``default_rng(seed)``."""
    games = []
    for m, n, seed in ZERO_SUM:
        a = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(m, n))
        games.append(Game(f"{m}x{n} zero-sum, seed {seed}", a, -a, True))
    for m, n, seed in GENERAL_SUM:
        rng = np.random.default_rng(seed)
        a = rng.uniform(-1.0, 1.0, size=(m, n))
        b = rng.uniform(-1.0, 1.0, size=(m, n))
        games.append(Game(f"{m}x{n} general-sum, seed {seed}", a, b, False))
    return games


def _where(step: int, player: int, g: int, game: Game) -> str:
    return f"step {step}, player {player} (game {g}: {game.label})"


def _trajectory(obj: Any, size: int, what: str) -> np.ndarray:
    """A returned trajectory as a plain float64 (k, size) array, k <= STEPS (values not
    yet checked)."""
    if not isinstance(obj, np.ndarray) or obj.dtype.kind not in "iuf":
        kind = obj.dtype if isinstance(obj, np.ndarray) else type(obj).__name__
        raise ValueError(f"{what} must be an array of real numbers, got {kind}")
    arr = np.array(obj, dtype=np.float64, copy=True, subok=False)
    if arr.ndim != 2 or arr.shape[1] != size or arr.shape[0] > STEPS:
        raise ValueError(f"{what} must have shape (steps, {size}), got {arr.shape}")
    return arr


def check_strategy(s: np.ndarray, where: str) -> None:
    """ValueError naming ``where`` unless ``s`` is finite, nonnegative and sums to 1 within
    ``TOLERANCE``."""
    bad = np.flatnonzero(~np.isfinite(s))
    if len(bad):
        raise ValueError(f"{where}: strategy entry {bad[0]} is not finite ({s[bad[0]]})")
    neg = np.flatnonzero(s < 0)
    if len(neg):
        raise ValueError(f"{where}: strategy entry {neg[0]} is negative ({s[neg[0]]!r})")
    total = math.fsum(s.tolist())
    if not abs(total - 1.0) <= TOLERANCE:
        raise ValueError(
            f"{where}: strategy sums to {total!r}, off 1 by {abs(total - 1.0):.3g} "
            f"(tolerance {TOLERANCE:g})"
        )


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:300]


def _pair(out: Any, what: str) -> tuple[str, list[Any]]:
    if (
        not isinstance(out, tuple | list)
        or len(out) != 2
        or not isinstance(out[0], str)
        or not isinstance(out[1], tuple | list)
    ):
        raise ValueError(f"{what} must return (error, list), got {type(out).__name__}")
    return out[0], list(out[1])


def played(program_path: str, games: list[Game]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Run self-play in the candidate's process; return each game's checked strategies
    (as returned, shapes (STEPS, m) and (STEPS, n))."""
    error, out = _pair(
        call(program_path, "self_play", [(g.a, g.b) for g in games], STEPS), "self_play"
    )
    result = []
    for g, game in enumerate(games):
        if g >= len(out):
            raise ValueError(_first_line(error) or f"self_play returned {len(out)} games")
        item = out[g]
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise ValueError(f"game {g}: self_play must give (X, Y) strategies per game")
        xs = _trajectory(item[0], game.a.shape[0], f"game {g}: player 1's strategies")
        ys = _trajectory(item[1], game.a.shape[1], f"game {g}: player 2's strategies")
        for t in range(STEPS):
            for p, rows in ((1, xs), (2, ys)):
                if t < len(rows):
                    check_strategy(rows[t], _where(t + 1, p, g, game))
        if len(xs) < STEPS or len(ys) < STEPS:
            raise ValueError(
                _first_line(error) or f"game {g}: play stopped after {min(len(xs), len(ys))} steps"
            )
        result.append((xs, ys))
    return result


def regrets_before(game: Game, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each player's cumulative regrets before each step (row t: after t steps), given the
    normalised strategies played."""
    u = (game.a[None, :, :] * y[:, None, :]).sum(axis=2)  # row payoffs, per step
    w = (game.b[None, :, :] * x[:, :, None]).sum(axis=1)  # column payoffs, per step
    rx = np.cumsum(u - (x * u).sum(axis=1, keepdims=True), axis=0)
    ry = np.cumsum(w - (y * w).sum(axis=1, keepdims=True), axis=0)
    zero = np.zeros
    return (
        np.vstack([zero((1, x.shape[1])), rx[:-1]]),
        np.vstack([zero((1, y.shape[1])), ry[:-1]]),
    )


def gap(game: Game, x: np.ndarray, y: np.ndarray) -> float:
    """NashConv of the average profile (zero-sum) or the CCE gap of the play (general-sum),
    from the normalised strategies played."""
    xbar, ybar = x.mean(axis=0), y.mean(axis=0)
    best_row = float(np.max(game.a @ ybar))
    best_col = float(np.max(xbar @ game.b))
    if game.zero_sum:
        return best_row + best_col  # max_i (A ȳ)_i - min_j (x̄ᵀA)_j
    got_row = math.fsum(np.einsum("ti,ij,tj->t", x, game.a, y).tolist()) / len(x)
    got_col = math.fsum(np.einsum("ti,ij,tj->t", x, game.b, y).tolist()) / len(x)
    return max(0.0, best_row - got_row) + max(0.0, best_col - got_col)


def check_replay(
    program_path: str,
    games: list[Game],
    strategies: list[tuple[np.ndarray, np.ndarray]],
    regrets: list[tuple[np.ndarray, np.ndarray]],
) -> None:
    """Replay each player's rule on its own regrets, in a process per player; ValueError at
    the first strategy that differs from the one played."""
    for p in (0, 1):
        error, out = _pair(call(program_path, "replay", [r[p] for r in regrets]), "replay")
        for g, game in enumerate(games):
            where = f"player {p + 1} (game {g}: {game.label})"
            if g >= len(out):
                raise ValueError(_first_line(error) or f"replay returned {len(out)} games")
            again = _trajectory(out[g], strategies[g][p].shape[1], f"replay of {where}")
            if len(again) < STEPS:
                raise ValueError(_first_line(error) or f"replay of {where} stopped early")
            diff = np.abs(again - strategies[g][p]).max(axis=1)
            off = np.flatnonzero(~(diff <= REPLAY_TOLERANCE))
            if len(off):
                t = int(off[0])
                raise ValueError(
                    f"{_where(t + 1, p + 1, g, game)}: replayed from the player's own regrets "
                    f"and a fresh state, the rule gives a different strategy (off by "
                    f"{diff[t]:.3g}); a strategy may depend only on the regrets and the state"
                )


def evaluate(program_path: str) -> EvaluationResult:
    """Score the candidate's update rule by the mean exploitability after STEPS steps."""
    games = make_games()
    strategies = played(program_path, games)
    normalised = [
        (x / x.sum(axis=1, keepdims=True), y / y.sum(axis=1, keepdims=True)) for x, y in strategies
    ]
    regrets = [regrets_before(game, *xy) for game, xy in zip(games, normalised, strict=True)]
    check_replay(program_path, games, strategies, regrets)
    gaps = [gap(game, *xy) for game, xy in zip(games, normalised, strict=True)]
    zero = [v for v, game in zip(gaps, games, strict=True) if game.zero_sum]
    general = [v for v, game in zip(gaps, games, strict=True) if not game.zero_sum]
    metrics = {
        "exploitability": math.fsum(gaps) / len(gaps),
        "zero_sum_nashconv": math.fsum(zero) / len(zero),
        "general_sum_cce_gap": math.fsum(general) / len(general),
        "worst_gap": max(gaps),
    }
    lines = [
        f"game {g} ({game.label}): {v:.6g}"
        for g, (game, v) in enumerate(zip(games, gaps, strict=True))
    ]
    return EvaluationResult(metrics=metrics, artifacts={"per_game": "\n".join(lines)})
