"""An update rule for regret minimisation in two-player self-play.

Only ``next_strategy`` evolves. Both players of every game use it, each with its own
``state``: at each step it gets the player's cumulative regrets (one entry per action) and
its state, and returns the next mixed strategy and the new state. ``self_play`` and
``replay`` (outside the block, never changed) are what the evaluator calls; the evaluator
recomputes regrets and exploitability itself and checks every strategy.
"""

import numpy as np


# EVOLVE-BLOCK-START
def next_strategy(regrets, state):
    """Regret matching: play each action in proportion to its positive cumulative regret,
    uniformly when no regret is positive.

    regrets: float64 array, the player's cumulative regret for each action so far (all
    zero at the first step). state: dict of numpy arrays this function returned last time
    (empty at the first step). Returns (strategy, state): a probability vector as long as
    regrets, and the state to hand back at the next step.
    """
    positive = np.maximum(regrets, 0.0)
    total = positive.sum()
    if total <= 0.0:
        return np.full(len(regrets), 1.0 / len(regrets)), state
    return positive / total, state


# EVOLVE-BLOCK-END

TOLERANCE = 1e-9
"""How far from 1 a strategy's sum may be (it is then renormalised)."""


def _strategy(raw, size, where):
    """The strategy as a plain float64 vector of ``size`` entries, as returned (the
    evaluator checks its values); ValueError naming ``where`` if it is not one."""
    try:
        arr = np.asarray(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: strategy cannot be read as an array: {exc}") from None
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{where}: strategy must hold real numbers, got dtype {arr.dtype}")
    arr = np.array(arr, dtype=np.float64, copy=True, subok=False)
    if arr.shape != (size,):
        raise ValueError(f"{where}: strategy must have shape ({size},), got {arr.shape}")
    return arr


def _check_state(state, where):
    """ValueError naming ``where`` unless ``state`` is a dict of numeric numpy arrays."""
    if type(state) is not dict:
        raise ValueError(f"{where}: state must be a dict, got {type(state).__name__}")
    for key, value in state.items():
        if type(key) is not str or type(value) is not np.ndarray or value.dtype.kind not in "biuf":
            raise ValueError(f"{where}: state[{key!r}] must be a numeric numpy array")


def _valid(s):
    return bool(np.isfinite(s).all() and (s >= 0).all() and abs(s.sum() - 1.0) <= TOLERANCE)


def self_play(games, steps):
    """Play ``steps`` rounds of simultaneous self-play on each game (A, B): the row player
    gets A[i, j], the column player B[i, j]. Returns (error, [(X, Y), ...]): the strategies
    as returned, one row per step. Play stops at the first invalid strategy."""
    played = []
    for g, (a, b) in enumerate(games):
        sizes = a.shape
        regrets = [np.zeros(sizes[0]), np.zeros(sizes[1])]
        states = [{}, {}]
        rows = ([], [])
        error = ""
        for t in range(steps):
            for p in (0, 1):
                where = f"step {t + 1}, player {p + 1} (game {g})"
                try:
                    raw, states[p] = next_strategy(regrets[p].copy(), states[p])
                    rows[p].append(_strategy(raw, sizes[p], where))
                    _check_state(states[p], where)
                except ValueError as exc:
                    error = str(exc)
                if error or not _valid(rows[p][-1]):
                    break
            if error or len(rows[1]) <= t or not _valid(rows[1][-1]):
                break
            x, y = rows[0][-1] / rows[0][-1].sum(), rows[1][-1] / rows[1][-1].sum()
            u = (a * y).sum(axis=1)
            w = (b * x[:, None]).sum(axis=0)
            regrets[0] += u - (x * u).sum()
            regrets[1] += w - (y * w).sum()
        played.append(tuple(np.array(r).reshape(-1, k) for r, k in zip(rows, sizes, strict=True)))
        if len(rows[1]) < steps:
            return error, played
    return "", played


def replay(sequences):
    """For one player: feed each game's given cumulative regrets (one row per step) to
    ``next_strategy``, from a fresh state; return (error, [strategies as returned, ...])."""
    out = []
    for g, regrets in enumerate(sequences):
        state = {}
        rows = []
        for t in range(len(regrets)):
            where = f"replay step {t + 1} (game {g})"
            try:
                raw, state = next_strategy(regrets[t].copy(), state)
                rows.append(_strategy(raw, regrets.shape[1], where))
                _check_state(state, where)
            except ValueError as exc:
                return str(exc), out
        out.append(np.array(rows).reshape(-1, regrets.shape[1]))
    return "", out
