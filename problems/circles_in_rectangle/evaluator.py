"""Evaluator for circles_in_rectangle: 21 disjoint circles in a rectangle of perimeter 4,
maximize the sum of their radii.

``run_packing()`` of the candidate runs in a process of its own (``evolve.sdk.call``), so
nothing it does there reaches the process that checks it; its value comes back as plain
data. It must return ``(w, centers, radii, reported_sum)``; the reported sum is ignored.
The rectangle is [0, w] x [0, h] with h = 2 - w computed exactly (``Fraction(2) -
Fraction(w)``, not in floats). Values are read with ``evolve.sdk.checks.real_array`` (plain
float64 copies, finite, exact shapes: w a single number, centers (21, 2), radii (21,);
bool, complex, object and string data refused) and checked with **zero tolerance**, in
exact rational arithmetic on those float64 values:

* 0 < w < 2 (so that h > 0 too), every radius is > 0;
* every circle lies in the rectangle: x - r >= 0, x + r <= w, y - r >= 0, y + r <= h;
* every pair is disjoint: |c_i - c_j|^2 >= (r_i + r_j)^2 (tangency is allowed).

The first violation is raised as ``ValueError`` with a one-line message; a candidate that
raises, hangs, crashes or returns something that is not data raises
``evolve.sdk.CallError``. The score is the sum of the radii, recomputed here.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from evolve.sdk import call
from evolve.sdk.checks import exact, real_array

N_CIRCLES: int = 21
PERIMETER: int = 4
BEST_KNOWN: float = 2.3658321
"""AlphaEvolve (Mathematical exploration and discovery at scale, 2025); its published
construction sums to 2.3658321334 and passes this verifier."""

_WALLS = ("left", "right", "bottom", "top")


def verify(width: float, centers: np.ndarray, radii: np.ndarray) -> None:
    """Raise ``ValueError`` naming the first violation; return None for a valid packing in
    the rectangle [0, width] x [0, 2 - width].

    ``width`` is a finite float, ``centers`` (n, 2) and ``radii`` (n,) finite float64
    arrays; every comparison is made on their exact rational values.
    """
    half = Fraction(PERIMETER, 2)
    if not 0.0 < width < float(half):
        raise ValueError(f"width w = {width!r} must satisfy 0 < w < 2 (the height is 2 - w)")
    w = Fraction(width)
    h = half - w
    for i, r in enumerate(radii.tolist()):
        if not r > 0.0:
            raise ValueError(f"circle {i} has radius {r!r}; every radius must be positive")
    xs = exact(centers[:, 0].tolist())
    ys = exact(centers[:, 1].tolist())
    rs = exact(radii.tolist())
    for i, (x, y, r) in enumerate(zip(xs, ys, rs, strict=True)):
        excesses = (r - x, x + r - w, r - y, y + r - h)
        for wall, excess in zip(_WALLS, excesses, strict=True):
            if excess > 0:
                raise ValueError(
                    f"circle {i} (center ({float(x)!r}, {float(y)!r}), radius {float(r)!r}) "
                    f"sticks out of the {wall} side of the {width!r} x (2 - {width!r}) "
                    f"rectangle by {float(excess):.3g}"
                )
    for i in range(len(rs)):
        for j in range(i + 1, len(rs)):
            dist2 = (xs[i] - xs[j]) ** 2 + (ys[i] - ys[j]) ** 2
            reach = rs[i] + rs[j]
            if dist2 < reach * reach:
                dist = math.sqrt(float(dist2))
                # reach - dist = (reach^2 - dist^2) / (reach + dist): no cancellation.
                depth = float(reach * reach - dist2) / (float(reach) + dist)
                raise ValueError(
                    f"circles {i} and {j} overlap by {depth:.3g} "
                    f"(center distance {dist!r}, radius sum {float(reach)!r})"
                )


def evaluate(program_path: str) -> dict[str, float]:
    """Check the candidate's packing and score it by its recomputed sum of radii."""
    out = call(program_path, "run_packing")
    if not isinstance(out, tuple | list) or len(out) != 4:
        size = f" of length {len(out)}" if isinstance(out, tuple | list) else ""
        raise ValueError(
            "run_packing must return (w, centers, radii, sum_radii), got "
            f"{type(out).__name__}{size}"
        )
    width = float(real_array(out[0], "w", ()))
    centers = real_array(out[1], "centers", (N_CIRCLES, 2))
    radii = real_array(out[2], "radii", (N_CIRCLES,))
    verify(width, centers, radii)
    values = radii.tolist()
    total = math.fsum(values)
    return {
        "sum_radii": total,
        "ratio_to_best": total / BEST_KNOWN,
        "width": width,
        "min_radius": min(values),
    }
