"""Evaluator for circle_packing_32: 32 disjoint circles in the unit square, maximize the sum
of their radii.

``run_packing()`` of the candidate runs in a process of its own (``evolve.sdk.call``), so
nothing it does there (patching numpy, ``fractions`` or this module) reaches the process
that checks it; its value comes back as plain data. It must return
``(centers, radii, reported_sum)``; the reported sum is ignored. Centers and radii are read
with ``evolve.sdk.checks.real_array`` (plain float64 copies, finite, exact shapes (32, 2)
and (32,); bool, complex, object and string data refused) and then checked with **zero
tolerance**, in exact rational arithmetic on those float64 values:

* every radius is > 0;
* every circle lies in [0, 1]^2: x - r >= 0, x + r <= 1, y - r >= 0, y + r <= 1;
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

N_CIRCLES: int = 32
BEST_KNOWN: float = 2.9379445262
"""AlphaEvolve's construction (Mathematical exploration and discovery at scale, 2025),
valid with zero tolerance."""

_WALLS = ("left", "right", "bottom", "top")


def verify(centers: np.ndarray, radii: np.ndarray) -> None:
    """Raise ``ValueError`` naming the first violation; return None for a valid packing.

    ``centers`` (n, 2) and ``radii`` (n,) are finite float64 arrays; every comparison is
    made on their exact rational values, so nothing is rounded and nothing is tolerated.
    """
    for i, r in enumerate(radii.tolist()):
        if not r > 0.0:
            raise ValueError(f"circle {i} has radius {r!r}; every radius must be positive")
    xs = exact(centers[:, 0].tolist())
    ys = exact(centers[:, 1].tolist())
    rs = exact(radii.tolist())
    one = Fraction(1)
    for i, (x, y, r) in enumerate(zip(xs, ys, rs, strict=True)):
        excesses = (r - x, x + r - one, r - y, y + r - one)
        for wall, excess in zip(_WALLS, excesses, strict=True):
            if excess > 0:
                raise ValueError(
                    f"circle {i} (center ({float(x)!r}, {float(y)!r}), radius {float(r)!r}) "
                    f"sticks out of the {wall} side of the square by {float(excess):.3g}"
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
    if not isinstance(out, tuple | list) or len(out) != 3:
        size = f" of length {len(out)}" if isinstance(out, tuple | list) else ""
        raise ValueError(
            f"run_packing must return (centers, radii, sum_radii), got {type(out).__name__}{size}"
        )
    centers = real_array(out[0], "centers", (N_CIRCLES, 2))
    radii = real_array(out[1], "radii", (N_CIRCLES,))
    verify(centers, radii)
    values = radii.tolist()
    total = math.fsum(values)
    return {
        "sum_radii": total,
        "ratio_to_best": total / BEST_KNOWN,
        "min_radius": min(values),
        "max_radius": max(values),
    }
