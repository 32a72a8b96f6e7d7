"""Evaluator for the tsp_heuristic problem: tours through uniform random points.

Instances (``INSTANCES``): n points drawn uniformly from the unit square by
``numpy.random.default_rng(seed).random((n, 2))`` (float64), made here. For each
instance the candidate's ``solve(points)`` runs in a fresh process of its own
(``evolve.sdk.call``), with at most ``TIME_PER_INSTANCE`` seconds (and within the
sandbox's time limit). What it returns must be a tour: a list or tuple of integers (Python
or NumPy integers; no bools, no floats, even integral ones) or a 1-D integer array, of
length n, visiting every city 0..n-1 exactly once. Its length is recomputed here in
float64: the Euclidean length of every edge (``numpy.hypot``), the closing edge back to
the first city included, summed with ``math.fsum``. The score is the mean over instances
of length / reference length (minimize; 1.0 = as short as the reference; below 1.0 beats
it). The references (``REFERENCE``) are the lengths of the best tours found offline by
LKH-3 plus 2-opt/Or-opt polishing (``make_reference.py``); they are not proven optimal.

Any violation raises ``ValueError`` with a one-line reason; a candidate that raises,
hangs, crashes or returns something that is not data raises ``evolve.sdk.CallError``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from evolve import EvaluationResult
from evolve.sdk import CallError, call

INSTANCES: tuple[tuple[int, int], ...] = (
    (1, 100),
    (2, 100),
    (3, 150),
    (4, 150),
    (5, 200),
    (6, 200),
)
"""(seed, number of cities) of each instance."""
TIME_PER_INSTANCE: float = 10.0

REFERENCE: dict[int, float] = {
    1: 7.504046522456398,
    2: 7.908302785885801,
    3: 9.57343940992395,
    4: 9.014739396798726,
    5: 10.42188238990726,
    6: 10.647539487353356,
}
"""Seed -> length of the reference tour (float64, computed as ``tour_length`` does)."""
CHECKSUM: dict[int, float] = {
    1: 101.62235067524036,
    2: 100.47853649049357,
    3: 154.80395169844186,
    4: 166.31008144196778,
    5: 195.25664128914707,
    6: 203.9481362250391,
}
"""Seed -> math.fsum of the instance's coordinates: guards against a change in NumPy's
random stream, which would make the references meaningless."""


def instance_points(seed: int, n: int) -> np.ndarray:
    """The instance's cities: n points uniform in [0, 1)^2, float64, shape (n, 2)."""
    return np.random.default_rng(seed).random((n, 2))


def tour_length(points: np.ndarray, tour: list[int]) -> float:
    """Length of the closed tour, in float64: hypot per edge, summed with math.fsum."""
    p = points[np.asarray(tour, dtype=np.int64)]
    q = np.roll(p, -1, axis=0)
    return math.fsum(np.hypot(p[:, 0] - q[:, 0], p[:, 1] - q[:, 1]).tolist())


def verify_tour(tour: Any, n: int, where: str = "tour") -> list[int]:
    """The tour as a list of Python ints, or ValueError naming the first problem."""
    if isinstance(tour, np.ndarray):
        if tour.dtype.kind not in "iu":
            raise ValueError(f"{where} must hold integers, got an array of dtype {tour.dtype}")
        if tour.ndim != 1:
            raise ValueError(f"{where} must be 1-D, got shape {tour.shape}")
        cities = [int(v) for v in np.array(tour, copy=True, subok=False).tolist()]
    elif isinstance(tour, list | tuple):
        cities = []
        for i, v in enumerate(tour):
            if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Integral):
                raise ValueError(f"{where}[{i}] is not an integer ({v!r})")
            cities.append(int(v))
    else:
        raise ValueError(f"{where} must be a list of city indices, got {type(tour).__name__}")
    seen: dict[int, int] = {}
    for i, c in enumerate(cities):
        if not 0 <= c < n:
            raise ValueError(f"{where}[{i}] = {c} is not a city (0..{n - 1})")
        if c in seen:
            raise ValueError(f"{where}: city {c} appears twice (positions {seen[c]} and {i})")
        seen[c] = i
    if len(cities) != n:
        missing = min(set(range(n)) - seen.keys())
        raise ValueError(f"{where} has {len(cities)} cities, not {n} (city {missing} is missing)")
    return cities


def _check_instances() -> None:
    for seed, n in INSTANCES:
        total = math.fsum(instance_points(seed, n).ravel().tolist())
        if seed not in REFERENCE or CHECKSUM.get(seed) != total:
            raise RuntimeError(
                f"instance {seed} differs from the one the reference was computed for "
                "(NumPy's random stream changed?): rerun make_reference.py"
            )


def evaluate(program_path: str) -> EvaluationResult:
    """Run ``solve`` on every instance; score by the mean ratio to the reference lengths."""
    _check_instances()
    ratios: list[float] = []
    lines: list[str] = []
    for seed, n in INSTANCES:
        points = instance_points(seed, n)
        where = f"instance {seed} (n={n})"
        try:
            out = call(program_path, "solve", points.copy(), timeout=TIME_PER_INSTANCE)
        except CallError as exc:
            raise CallError(exc.kind, f"{where}: {exc}", traceback=exc.traceback) from None
        tour = verify_tour(out, n, f"{where}: tour")
        length = tour_length(points, tour)
        ratio = length / REFERENCE[seed]
        ratios.append(ratio)
        lines.append(
            f"{where}: length {length:.6f}, reference {REFERENCE[seed]:.6f}, ratio {ratio:.5f}"
        )
    metrics = {
        "ratio": math.fsum(ratios) / len(ratios),
        "worst_ratio": max(ratios),
        "best_ratio": min(ratios),
    }
    return EvaluationResult(metrics=metrics, artifacts={"per_instance": "\n".join(lines)})
