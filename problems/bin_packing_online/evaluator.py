"""Evaluator for the bin_packing_online problem (FunSearch's online bin packing, Weibull).

Instances: item sizes floor(45 * W) with W ~ Weibull(shape 3), clipped to [1, 100], bin
capacity 100, made here from fixed seeds: ``TRAIN_SEEDS`` (the search's primary metric)
and ``HELDOUT_SEEDS`` (reported apart, and quoted by benchmarks), ``N_ITEMS`` items each.

The online loop is run here. For each item the bins offered are the open bins with room
for it (remaining capacity >= item, in opening order) followed by one new, empty bin
(capacity 100); the item goes to the entry with the highest score (the first of equal
highest scores, as ``numpy.argmax``); choosing the last entry opens a new bin. The
candidate's scores come from one call of its ``run_packing`` in a process of its own
(``evolve.sdk.call``), which runs the same loop there to know what to score; nothing it
reports is trusted: every item's scores are checked here against this evaluator's own
state (exactly as many scores as bins offered, plain finite real numbers), the decision is
taken here, and an item is never put in a bin without room (an assertion). The score is
the number of bins this evaluator's packing uses, against the L1 lower bound
ceil(sum(items) / 100): ``excess = (bins - L1) / L1`` per instance, averaged (minimize).

To check that the priority saw nothing but (item, bins) (no look-ahead at later items,
no state, no randomness), ``PROBES`` states picked at random among all items are sent
again, alone, to ``run_probe`` in a fresh process: each answer must be identical, bit
for bit, to the scores given during the packing.

Any violation raises ``ValueError`` with a one-line reason; a candidate that raises,
hangs, crashes or returns something that is not data raises ``evolve.sdk.CallError``.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np

from evolve import EvaluationResult
from evolve.sdk import call
from evolve.sdk.checks import real_array

CAPACITY: int = 100
N_ITEMS: int = 5000
TRAIN_SEEDS: tuple[int, ...] = (1, 2, 3, 4, 5)
HELDOUT_SEEDS: tuple[int, ...] = (1001, 1002, 1003, 1004, 1005)
MAX_VALUES_PER_ITEM: int = 100
"""At most this many scores per item on average (100 open bins with room for every item):
a heuristic that keeps more bins open than that is refused rather than slowly replayed."""
PROBES: int = 500


def weibull_items(seed: int, n: int | None = None) -> np.ndarray:
    """Item sizes of one instance (``N_ITEMS`` unless ``n``): floor(45 * Weibull(3))
    clipped to [1, 100], int64."""
    rng = np.random.default_rng(seed)
    sizes = np.floor(45.0 * rng.weibull(3.0, N_ITEMS if n is None else n))
    return np.clip(sizes, 1, CAPACITY).astype(np.int64)


def l1_bound(items: np.ndarray) -> int:
    """ceil(sum(items) / capacity), in integers."""
    return -(-int(items.sum()) // CAPACITY)


class _State:
    """One state offered to the priority: kept for the probe."""

    __slots__ = ("bins", "item", "scores", "where")

    def __init__(self, where: str, item: int, bins: np.ndarray, scores: np.ndarray) -> None:
        self.where, self.item, self.bins, self.scores = where, item, bins, scores


def _int_vector(obj: Any, what: str) -> list[int]:
    if not isinstance(obj, np.ndarray) or obj.ndim != 1 or obj.dtype.kind not in "iu":
        raise ValueError(f"{what} must be a 1-D integer array")
    return [int(v) for v in obj.tolist()]


def replay(
    items: np.ndarray, out: Any, where: str, keep: set[int] | None = None
) -> tuple[int, int, list[_State]]:
    """Pack ``items`` online with the scores in ``out`` = (counts, values, bad), checking
    every item's scores; return (bins used, number of scores, the states whose index is
    in ``keep``)."""
    if not isinstance(out, tuple | list) or len(out) != 3:
        raise ValueError(f"{where}: run_packing must give (counts, values, bad) per instance")
    counts = _int_vector(out[0], f"{where}: counts")
    raw = out[1]
    if not isinstance(raw, np.ndarray) or raw.dtype.kind not in "iuf" or raw.ndim != 1:
        raise ValueError(f"{where}: values must be a 1-D array of real numbers")
    values = np.array(raw, dtype=np.float64, copy=True, subok=False)
    bad = out[2]
    n = len(items)
    if len(counts) > n:
        raise ValueError(f"{where}: {len(counts)} counts for {n} items")
    limit = MAX_VALUES_PER_ITEM * n
    remaining = np.zeros(n, dtype=np.int64)
    opened = offset = 0
    kept: list[_State] = []
    for t in range(n):
        item = int(items[t])
        fit = np.flatnonzero(remaining[:opened] >= item)
        k = len(fit) + 1
        label = f"{where}, item {t} (size {item}, {k} bin{'s' if k > 1 else ''} offered)"
        if offset + k > limit:
            raise ValueError(
                f"{where}: more than {limit} scores asked for by item {t}: the heuristic "
                f"keeps too many bins open (at most {MAX_VALUES_PER_ITEM} per item on average)"
            )
        if t == len(counts):
            if bad is None:
                raise ValueError(f"{label}: run_packing stopped here without a reason")
            if isinstance(bad, str):
                raise ValueError(f"{label}: priority must return real numbers, got {bad[:60]}")
            real_array(bad, f"{label}: priority output", (k,))
            raise ValueError(f"{label}: run_packing stopped here on a valid output")
        if counts[t] != k:
            raise ValueError(f"{label}: priority gave {counts[t]} scores, expected {k}")
        scores = values[offset : offset + k]
        if len(scores) != k:
            raise ValueError(f"{where}: values end at item {t}: {len(values)} scores in all")
        offset += k
        finite = np.isfinite(scores)
        if not finite.all():
            j = int(np.argmin(finite))
            raise ValueError(f"{label}: score {j} is not finite ({scores[j]})")
        choice = int(np.argmax(scores))
        if keep is not None and t in keep:
            bins = np.append(remaining[fit], CAPACITY).astype(np.float64)
            kept.append(_State(f"{where}, item {t}", item, bins, scores.copy()))
        if choice == k - 1:
            target = opened
            opened += 1
            remaining[target] = CAPACITY
        else:
            target = int(fit[choice])
        if remaining[target] < item:  # cannot happen: only bins with room are offered
            raise AssertionError(f"{label}: bin {target} would overflow")
        remaining[target] -= item
    if offset != len(values):
        raise ValueError(f"{where}: {len(values)} scores given, {offset} used")
    if bad is not None:
        raise ValueError(f"{where}: a bad output reported after a complete packing")
    used = int(CAPACITY * opened - remaining[:opened].sum())
    if used != int(items.sum()):  # cannot happen: every item was placed once
        raise AssertionError(f"{where}: packed {used}, items sum to {int(items.sum())}")
    return opened, offset, kept


def probe(program_path: str, states: list[_State]) -> None:
    """Ask the priority again about ``states`` in a fresh process; raise ValueError if any
    answer differs from the scores it gave during the packing."""
    if not states:
        return
    lengths = np.array([len(s.bins) for s in states], dtype=np.int64)
    out = call(
        program_path,
        "run_probe",
        np.array([s.item for s in states], dtype=np.int64),
        np.concatenate([s.bins for s in states]),
        lengths,
    )
    again = real_array(out, "run_probe output", (int(lengths.sum()),))
    start = 0
    for s in states:
        answer = again[start : start + len(s.bins)]
        start += len(s.bins)
        if not np.array_equal(answer, s.scores):
            j = int(np.argmax(answer != s.scores))
            raise ValueError(
                f"priority must depend on (item, bins) only: asked again about {s.where} "
                f"(size {s.item}, {len(s.bins)} bins) it gave {answer[j]!r} for bin {j}, "
                f"not {s.scores[j]!r} as during the packing"
            )


def evaluate(program_path: str) -> EvaluationResult:
    """Pack the training and held-out instances online with the candidate's priority."""
    seeds = {"training": TRAIN_SEEDS, "held-out": HELDOUT_SEEDS}
    instances = [(f"{name} instance {s}", weibull_items(s)) for name in seeds for s in seeds[name]]
    out = call(
        program_path,
        "run_packing",
        [items for _, items in instances],
        CAPACITY,
        MAX_VALUES_PER_ITEM * N_ITEMS,
    )
    if not isinstance(out, tuple | list) or len(out) != len(instances):
        raise ValueError(
            f"run_packing must return one result per instance ({len(instances)}), got "
            + type(out).__name__
            + (f" of length {len(out)}" if isinstance(out, tuple | list) else "")
        )
    total_items = len(instances) * N_ITEMS
    picked = random.SystemRandom().sample(range(total_items), min(PROBES, total_items))
    excess: dict[str, list[float]] = {name: [] for name in seeds}
    bins: dict[str, list[int]] = {name: [] for name in seeds}
    offered = 0
    states: list[_State] = []
    lines = []
    for i, ((where, items), result) in enumerate(zip(instances, out, strict=True)):
        keep = {p - i * N_ITEMS for p in picked if i * N_ITEMS <= p < (i + 1) * N_ITEMS}
        used, asked, kept = replay(items, result, where, keep)
        states += kept
        bound = l1_bound(items)
        name = where.split(" instance")[0]
        excess[name].append((used - bound) / bound)
        bins[name].append(used)
        if name == "training":
            offered += asked
        lines.append(f"{where}: {used} bins, L1 bound {bound}, excess {(used - bound) / bound:.4%}")
    probe(program_path, states)
    metrics = {
        "excess": math.fsum(excess["training"]) / len(TRAIN_SEEDS),
        "excess_heldout": math.fsum(excess["held-out"]) / len(HELDOUT_SEEDS),
        "bins": math.fsum(bins["training"]) / len(TRAIN_SEEDS),
        "bins_heldout": math.fsum(bins["held-out"]) / len(HELDOUT_SEEDS),
        "choices": offered / (len(TRAIN_SEEDS) * N_ITEMS),
    }
    return EvaluationResult(metrics=metrics, artifacts={"per_instance": "\n".join(lines)})
