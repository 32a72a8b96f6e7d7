"""Evaluator for kissing_11d: a kissing configuration in 11 dimensions, as integer vectors.

The candidate's ``run_kissing()`` runs in a process of its own (``evolve.sdk.call``) and
returns a set C of vectors: a list of lists of Python ints, or an integer array of shape
(n, 11); it comes back as plain data. Floats are refused, even integral ones
(``integer_rows``), so every check below is exact integer arithmetic (zero tolerance):

* 1 <= |C| <= 1000 (the kissing number in 11 dimensions is at most 868), every vector
  has 11 entries and every entry has absolute value below 2**256;
* no vector is the zero vector and no two vectors are equal;
* min over pairs x != y of |x - y|^2 >= max over z of |z|^2.

Then for x != y, |x|^2 + |y|^2 - 2<x, y> >= max(|x|^2, |y|^2), so
2<x, y> <= min(|x|^2, |y|^2) <= |x| |y|: the angle between x and y is at least 60 degrees,
and unit spheres centred at 2x/|x| all touch the unit sphere at the origin without
overlapping one another. The score is |C|.

Squared norms and distances are computed with int64 numpy arrays when every coordinate is
at most 2**28 in absolute value (then 11 * (2**29)**2 < 2**63: no overflow is possible),
and with numpy arrays of Python ints (arbitrary size) otherwise. The first violation is
raised as ``ValueError`` with a one-line description; a candidate that raises, hangs,
crashes or returns something that is not data raises ``evolve.sdk.CallError``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from evolve.sdk import call
from evolve.sdk.checks import integer_rows

DIM: int = 11
BEST_KNOWN: int = 593
"""AlphaEvolve (2025); 592 before (Ganzhinov, 2022)."""
MAX_VECTORS: int = 1000
"""More than the upper bound 868 on the kissing number in 11 dimensions: a set this large
cannot be valid, so it is refused before the quadratic check."""
MAX_BITS: int = 256
"""Every coordinate must be below 2**MAX_BITS in absolute value (keeps the check fast)."""
INT64_BOUND: int = 2**28
"""Coordinates up to this size are checked in int64: |x - y|^2 <= 11 * 2**58 < 2**63."""


def _matrix(vectors: list[list[int]]) -> np.ndarray:
    """The vectors as an (n, 11) array that computes exactly: int64 when it cannot
    overflow, otherwise an object array of Python ints (made here, from ints only)."""
    biggest = max(abs(v) for row in vectors for v in row)
    if biggest <= INT64_BOUND:
        return np.array(vectors, dtype=np.int64)
    out = np.empty((len(vectors), DIM), dtype=object)
    for i, row in enumerate(vectors):
        out[i, :] = row
    return out


def verify(vectors: list[list[int]]) -> dict[str, int]:
    """Raise ValueError naming the first violation; return exact statistics if valid:
    ``count``, ``max_norm2``, ``min_norm2``, ``min_dist2`` and ``bits`` (of the largest
    coordinate)."""
    n = len(vectors)
    if n == 0:
        raise ValueError("no vectors")
    if n > MAX_VECTORS:
        raise ValueError(
            f"{n} vectors: more than {MAX_VECTORS} cannot be valid (the kissing number "
            "in 11 dimensions is at most 868)"
        )
    for i, row in enumerate(vectors):
        if len(row) != DIM:
            raise ValueError(f"vector {i} has {len(row)} entries, not {DIM}")
        for j, v in enumerate(row):
            if abs(v) >= 1 << MAX_BITS:
                raise ValueError(
                    f"vector {i}, entry {j} has {abs(v).bit_length()} bits; "
                    f"coordinates must be below 2**{MAX_BITS} in absolute value"
                )
    seen: dict[tuple[int, ...], int] = {}
    for i, row in enumerate(vectors):
        if not any(row):
            raise ValueError(f"vector {i} is the zero vector")
        key = tuple(row)
        if key in seen:
            raise ValueError(f"vectors {seen[key]} and {i} are equal")
        seen[key] = i
    x = _matrix(vectors)
    norms = [int(v) for v in (x * x).sum(axis=1).tolist()]
    max_norm2 = max(norms)
    longest = norms.index(max_norm2)
    min_dist2 = None
    for i in range(n - 1):
        diff = x[i + 1 :] - x[i]
        dist2 = (diff * diff).sum(axis=1)
        close = np.flatnonzero(np.asarray(dist2 < max_norm2, dtype=bool))
        if close.size:
            j = i + 1 + int(close[0])
            raise ValueError(
                f"vectors {i} and {j} are too close: |x{i} - x{j}|^2 = {int(dist2[j - i - 1])}"
                f" < {max_norm2} = |x{longest}|^2, the largest squared norm"
            )
        row_min = int(dist2.min())
        if min_dist2 is None or row_min < min_dist2:
            min_dist2 = row_min
    return {
        "count": n,
        "max_norm2": max_norm2,
        "min_norm2": min(norms),
        "min_dist2": max_norm2 if min_dist2 is None else min_dist2,
        "bits": max(abs(v) for row in vectors for v in row).bit_length(),
    }


def score(vectors: Any) -> dict[str, float]:
    """Read the candidate's value as integer vectors, verify them and compute the metrics."""
    rows = integer_rows(vectors, "vectors")
    stats = verify(rows)
    return {
        "num_vectors": float(stats["count"]),
        "ratio_to_best": stats["count"] / BEST_KNOWN,
        "norm_ratio": float(Fraction(stats["min_norm2"], stats["max_norm2"])),
        "coordinate_bits": float(stats["bits"]),
    }


def evaluate(program_path: str) -> dict[str, float]:
    """Verify the candidate's vectors and score them by their number."""
    out = call(program_path, "run_kissing")  # in a process of its own; back as plain data
    return score(out)
