"""Evaluator for heilbronn_triangle_11: 11 points in a triangle of area 1, maximize the
smallest area of a triangle formed by three of them.

The container is the triangle T with vertices (0, 0), (2, 0), (0, 1), of area exactly 1.
Area ratios are invariant under affine maps and every triangle is the affine image of
every other, so this is the same problem as for any triangle of unit area (AlphaEvolve
used an equilateral one); rational vertices make every check exact.

The candidate's ``run_heilbronn()`` runs in a process of its own (``evolve.sdk.call``) and
returns the points; they come back as plain data and are copied into a plain float64
array (``real_array``: object, bool, complex and string data are refused, every entry
must be finite). Then, with exact rational arithmetic on those float64 values (zero
tolerance):

* the shape is exactly (11, 2);
* every point lies in the closed triangle: x >= 0, y >= 0, x + 2y <= 2;
* the score is the smallest area |det(q - p, r - p)| / 2 over the 165 triples, computed
  exactly and rounded once to a float. Coinciding or collinear points are allowed and
  score 0.

The first violation is raised as ``ValueError`` with a one-line description; a candidate
that raises, hangs, crashes or returns something that is not data raises
``evolve.sdk.CallError``.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from typing import Any

import numpy as np

from evolve.sdk import call
from evolve.sdk.checks import exact, real_array

N_POINTS: int = 11
BEST_KNOWN: float = 0.0365298899
"""AlphaEvolve (2025), smallest triangle area for 11 points in a unit-area triangle."""
VERTICES: tuple[tuple[int, int], ...] = ((0, 0), (2, 0), (0, 1))
"""The container: a right triangle of area exactly 1 (legs 2 and 1)."""

Point = tuple[Fraction, Fraction]


def _twice_area(p: Point, q: Point, r: Point) -> Fraction:
    """|det(q - p, r - p)|: twice the area of the triangle pqr, exactly."""
    return abs((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]))


def _on_boundary(p: Point) -> bool:
    x, y = p
    return x == 0 or y == 0 or x + 2 * y == 2


def check_inside(points: list[Point]) -> None:
    """Raise ValueError for the first point outside the closed triangle T."""
    for i, (x, y) in enumerate(points):
        for rule, excess in (
            ("x >= 0", -x),
            ("y >= 0", -y),
            ("x + 2*y <= 2", x + 2 * y - 2),
        ):
            if excess > 0:
                raise ValueError(
                    f"point {i} ({float(x)!r}, {float(y)!r}) is outside the triangle "
                    f"(0, 0), (2, 0), (0, 1): it breaks {rule} by {float(excess):.3g}"
                )


def min_area(points: list[Point]) -> Fraction:
    """The smallest area of a triangle formed by three of the points, exactly."""
    return min(_twice_area(p, q, r) for p, q, r in itertools.combinations(points, 3)) / 2


def score(points: np.ndarray) -> dict[str, float]:
    """Check a (11, 2) float64 array exactly and compute its metrics."""
    if points.shape != (N_POINTS, 2):  # pragma: no cover - real_array checked the shape
        raise ValueError(f"points must have shape ({N_POINTS}, 2), got {points.shape}")
    xs = exact(points[:, 0].tolist())
    ys = exact(points[:, 1].tolist())
    pts = list(zip(xs, ys, strict=True))
    check_inside(pts)
    area = min_area(pts)
    min_d2 = min((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 for p, q in itertools.combinations(pts, 2))
    value = float(area)  # the container's area is exactly 1
    return {
        "min_area": value,
        "ratio_to_best": value / BEST_KNOWN,
        "boundary_points": float(sum(_on_boundary(p) for p in pts)),
        "min_distance": math.sqrt(float(min_d2)),
    }


def evaluate(program_path: str) -> dict[str, float]:
    """Verify the candidate's points and score them by the smallest triangle area."""
    out: Any = call(program_path, "run_heilbronn")  # its own process; back as plain data
    points = real_array(out, "points", (N_POINTS, 2))
    return score(points)
