"""Evaluator for the circle_packing problem: 26 circles in the unit square.

The candidate's ``run_packing()`` runs in a process of its own (``evolve.sdk.call``:
nothing the candidate does there, such as patching numpy, reaches this process) and must
return ``(centers, radii, reported_sum)``; arrays come back as plain numpy arrays, never
subclasses or object arrays. Centers and radii are copied into plain float64 arrays
(object, bool, complex and string data are refused), and checked with zero tolerance using exact rational arithmetic on
those float64 values:

* shapes are exactly (26, 2) and (26,), every number is finite, every radius is > 0;
* every circle lies inside the unit square: x - r >= 0, x + r <= 1, y - r >= 0, y + r <= 1;
* no two circles overlap: |c_i - c_j| >= r_i + r_j (tangent circles are allowed).

The reported sum is ignored; the sum of radii is recomputed. The first violation found is
raised as ``ValueError`` with a one-line description; a candidate that raises, hangs,
crashes or returns something that is not data raises ``evolve.sdk.CallError``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from evolve.sdk import call

N_CIRCLES: int = 26
BEST_KNOWN: float = 2.6359830849


def _as_array(obj: Any, what: str, shape: tuple[int, ...]) -> np.ndarray:
    """A plain float64 copy of ``obj`` with the given shape and finite entries."""
    try:
        raw = np.asarray(obj)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what} cannot be read as a numeric array: {exc}") from None
    if raw.dtype.kind not in "iuf":
        raise ValueError(f"{what} must hold real numbers, got dtype {raw.dtype}")
    arr = np.array(raw, dtype=np.float64, copy=True, subok=False)
    if arr.shape != shape:
        raise ValueError(f"{what} must have shape {shape}, got {arr.shape}")
    bad = np.argwhere(~np.isfinite(arr))
    if len(bad):
        index = tuple(int(k) for k in bad[0])
        raise ValueError(f"{what}[{', '.join(map(str, index))}] is not finite ({arr[index]})")
    return arr


def verify(centers: np.ndarray, radii: np.ndarray) -> None:
    """Raise ValueError naming the first violation; return None if the packing is valid.

    Comparisons are exact: each float64 is converted to a ``Fraction``, so there is no
    rounding and no tolerance.
    """
    for i, r in enumerate(radii.tolist()):
        if not r > 0.0:
            raise ValueError(f"radius of circle {i} is {r!r}; radii must be positive")
    xs = [Fraction(v) for v in centers[:, 0].tolist()]
    ys = [Fraction(v) for v in centers[:, 1].tolist()]
    rs = [Fraction(v) for v in radii.tolist()]
    for i in range(len(rs)):
        x, y, r = xs[i], ys[i], rs[i]
        for side, excess in (
            ("left", r - x),
            ("right", x + r - 1),
            ("bottom", r - y),
            ("top", y + r - 1),
        ):
            if excess > 0:
                raise ValueError(
                    f"circle {i} (center ({float(x)!r}, {float(y)!r}), radius {float(r)!r}) "
                    f"crosses the {side} edge of the square by {float(excess):.3g}"
                )
    for i in range(len(rs)):
        for j in range(i + 1, len(rs)):
            dx, dy = xs[i] - xs[j], ys[i] - ys[j]
            dist2 = dx * dx + dy * dy
            reach = rs[i] + rs[j]
            if dist2 < reach * reach:
                # reach - dist, computed without cancellation, for the message only.
                dist = Fraction(math.sqrt(float(dist2)))
                overlap = float((reach * reach - dist2) / (reach + dist))
                raise ValueError(
                    f"circles {i} and {j} overlap by {overlap:.3g} "
                    f"(center distance {math.sqrt(float(dist2))!r}, "
                    f"radius sum {float(reach)!r})"
                )


def evaluate(program_path: str) -> dict[str, float]:
    """Verify the candidate's packing and score it by its (recomputed) sum of radii."""
    out = call(program_path, "run_packing")  # in a process of its own; back as plain data
    if not isinstance(out, tuple | list) or len(out) != 3:
        raise ValueError(
            "run_packing must return (centers, radii, sum_radii), got "
            + type(out).__name__
            + (f" of length {len(out)}" if isinstance(out, tuple | list) else "")
        )
    centers = _as_array(out[0], "centers", (N_CIRCLES, 2))
    radii = _as_array(out[1], "radii", (N_CIRCLES,))
    verify(centers, radii)
    values = radii.tolist()
    total = math.fsum(values)
    return {
        "sum_radii": total,
        "ratio_to_best": total / BEST_KNOWN,
        "min_radius": min(values),
        "max_radius": max(values),
    }
