"""Evaluator for min_max_distance_16: 16 points in the plane, minimize
(max pairwise distance / min pairwise distance)^2.

``run_points()`` of the candidate runs in a process of its own (``evolve.sdk.call``), so
nothing it does there reaches the process that checks it; its value comes back as plain
data. It must return ``(points, reported_ratio)``; the reported ratio is ignored. The
points are read with ``evolve.sdk.checks.real_array`` (a plain float64 copy, finite, shape
exactly (16, 2); bool, complex, object and string data refused). Then, in exact rational
arithmetic on those float64 values (**zero tolerance**, no rounding before the last step):

* every squared distance (x_i - x_j)^2 + (y_i - y_j)^2 is computed as a ``Fraction``;
* the points must be pairwise distinct (a zero distance is rejected);
* the score is max / min of the squared distances, a ``Fraction``, rounded once to float.

The first violation is raised as ``ValueError`` with a one-line message; a candidate that
raises, hangs, crashes or returns something that is not data raises
``evolve.sdk.CallError``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from evolve.sdk import call
from evolve.sdk.checks import exact, real_array

N_POINTS: int = 16
BEST_KNOWN: float = 12.8892661
"""AlphaEvolve (Mathematical exploration and discovery at scale, 2025): its published
construction scores 12.889266112 here."""
LARGEST_RATIO = Fraction(10) ** 300
"""Ratios above this are refused: they cannot be scored as a float."""
NEAR_MIN = Fraction(101, 100) ** 2
"""A pair counts in ``near_min_pairs`` when its distance is within 1% of the minimum."""

Point = tuple[Fraction, Fraction]


def squared_ratio(points: np.ndarray) -> Fraction:
    """(max distance / min distance)^2 of the finite float64 points (n, 2), exactly; raise
    ``ValueError`` if two points coincide."""
    pts = list(zip(exact(points[:, 0].tolist()), exact(points[:, 1].tolist()), strict=True))
    smallest = largest = None
    for i in range(len(pts)):
        for j in range(i + 1, len(pts)):
            d2 = (pts[i][0] - pts[j][0]) ** 2 + (pts[i][1] - pts[j][1]) ** 2
            if d2 == 0:
                raise ValueError(
                    f"points {i} and {j} coincide (both at ({float(pts[i][0])!r}, "
                    f"{float(pts[i][1])!r})); the points must be distinct"
                )
            smallest = d2 if smallest is None else min(smallest, d2)
            largest = d2 if largest is None else max(largest, d2)
    if smallest is None or largest is None:
        raise ValueError(f"need at least 2 points, got {len(pts)}")
    ratio = largest / smallest
    if ratio > LARGEST_RATIO:
        raise ValueError("the squared distance ratio exceeds 1e300; it cannot be scored")
    return ratio


def _hull_size(pts: list[Point]) -> int:
    """Number of vertices of the convex hull of distinct points (exact: points on an edge,
    between two vertices, are not counted)."""
    ordered = sorted(pts)

    def chain(seq: list[Point]) -> list[Point]:
        out: list[Point] = []
        for p in seq:
            while len(out) >= 2:
                (ax, ay), (bx, by) = out[-2], out[-1]
                if (bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax) > 0:
                    break
                out.pop()
            out.append(p)
        return out

    lower, upper = chain(ordered), chain(ordered[::-1])
    return max(len(lower) + len(upper) - 2, min(len(pts), 2))


def describe(points: np.ndarray) -> tuple[int, int]:
    """(number of convex hull vertices, number of pairs within 1% of the minimum distance)
    of distinct points; descriptive only, for MAP-Elites."""
    pts = list(zip(exact(points[:, 0].tolist()), exact(points[:, 1].tolist()), strict=True))
    d2 = [
        (pts[i][0] - pts[j][0]) ** 2 + (pts[i][1] - pts[j][1]) ** 2
        for i in range(len(pts))
        for j in range(i + 1, len(pts))
    ]
    bound = min(d2) * NEAR_MIN
    return _hull_size(pts), sum(1 for v in d2 if v <= bound)


def evaluate(program_path: str) -> dict[str, float]:
    """Check the candidate's points and score them by the exact squared distance ratio."""
    out = call(program_path, "run_points")
    if not isinstance(out, tuple | list) or len(out) != 2:
        size = f" of length {len(out)}" if isinstance(out, tuple | list) else ""
        raise ValueError(
            f"run_points must return (points, ratio_squared), got {type(out).__name__}{size}"
        )
    points = real_array(out[0], "points", (N_POINTS, 2))
    ratio = float(squared_ratio(points))
    hull, near = describe(points)
    return {
        "ratio_squared": ratio,
        "ratio_to_best": BEST_KNOWN / ratio,
        "hull_points": float(hull),
        "near_min_pairs": float(near),
    }
