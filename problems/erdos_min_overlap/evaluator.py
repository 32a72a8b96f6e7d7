"""Evaluator for erdos_min_overlap: Erdős' minimum overlap problem, upper bound on C5.

The candidate gives a step function h on [0, 2] with n equal steps (its heights h_0 ...
h_{n-1}), values in [0, 1] and integral exactly 1. The bound it proves is

    max over shifts k of  integral h(x) * g(x + k) dx,   g = 1 - h on [0, 2], 0 outside,

to be minimized. Both factors are step functions on the same grid, so the overlap is
piecewise linear in k with knots at multiples of the step width 2/n: the maximum is taken
at a grid shift and equals (2/n) * max_j sum_i h_i * (1 - h_{i+j}) over the pairs of
indices inside [0, n).

``run_overlap()`` of the candidate runs in a process of its own (``evolve.sdk.call``) and
returns ``(heights, reported_bound)``; the reported bound is ignored. The heights are read
with ``evolve.sdk.checks.real_array`` (plain float64 copy, 1-D, finite; bool, complex,
object and string data refused), then checked and scored with **no rounding at all**:

* 1 <= n <= ``MAX_STEPS``; every height is in [0, 1];
* the integral is exactly 1: the heights, as the rational numbers they are, sum to n/2;
* every float64 height is an integer over a power of two, so all heights are scaled to
  Python ints over one common 2**s and the correlation is computed exactly, in integer
  arithmetic (``exact_convolution``); the bound is a ``Fraction``, rounded once to float.

The first violation is raised as ``ValueError`` with a one-line message; a candidate that
raises, hangs, crashes or returns something that is not data raises
``evolve.sdk.CallError``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from evolve.sdk import call
from evolve.sdk.checks import dyadic, exact_convolution, real_array

MAX_STEPS: int = 10_000
"""Most steps accepted; verifying that many takes well under a second."""
BEST_KNOWN: float = 0.380924
"""AlphaEvolve (2025): C5 <= 0.380924. Its published 95-step function scores
0.3809230351 here once its integral is made exactly 1 (see README)."""
NEAR_MAX = Fraction(999, 1000)
"""A grid shift counts in ``near_max_shifts`` when its overlap is >= 0.999 * the maximum."""


def read_heights(obj: Any) -> np.ndarray:
    """The heights as a plain float64 vector, checked: 1..MAX_STEPS entries in [0, 1]."""
    h = real_array(obj, "heights", (None,))
    n = h.shape[0]
    if n == 0:
        raise ValueError("heights is empty: give at least one step")
    if n > MAX_STEPS:
        raise ValueError(f"heights has {n} steps; at most {MAX_STEPS} are accepted")
    for i, v in enumerate(h.tolist()):
        if v < 0.0:
            raise ValueError(f"heights[{i}] is {v!r}; heights must be >= 0")
        if v > 1.0:
            raise ValueError(f"heights[{i}] is {v!r}; heights must be <= 1")
    return h


def overlap(h: np.ndarray) -> tuple[Fraction, int]:
    """The exact bound max_k integral h(x)(1 - h(x + k)) dx of valid heights, and how many
    grid shifts reach ``NEAR_MAX`` of it; ``ValueError`` unless the integral is exactly 1."""
    n = h.shape[0]
    m, s = dyadic(h.tolist())  # h_i = m_i / 2**s
    excess = Fraction(2 * sum(m) - n * 2**s, n * 2**s)  # integral - 1, exactly
    if excess != 0:
        raise ValueError(
            f"the integral of h is 1 {'+' if excess > 0 else '-'} {float(abs(excess)):.3g}, "
            f"not exactly 1: the {n} heights must sum to exactly {n}/2 (their mean must be "
            "exactly 1/2)"
        )
    one = 1 << s
    # c[k] = sum_i m_i * (2**s - m_{i+j}) with j = n - 1 - k: every shift j in (-n, n).
    c = exact_convolution(m, [one - v for v in reversed(m)])
    top = max(c)
    near = sum(1 for v in c if v * NEAR_MAX.denominator >= top * NEAR_MAX.numerator)
    return Fraction(2 * top, n * one * one), near


def score(obj: Any) -> dict[str, float]:
    """Check the heights and return the metrics (``ValueError`` on the first violation)."""
    h = read_heights(obj)
    bound, near = overlap(h)
    value = float(bound)
    return {
        "overlap_bound": value,
        "ratio_to_best": BEST_KNOWN / value,
        "steps": float(h.shape[0]),
        "near_max_shifts": float(near),
    }


def evaluate(program_path: str) -> dict[str, float]:
    """Verify the candidate's step function and score it by its (recomputed) overlap bound."""
    out = call(program_path, "run_overlap")  # in a process of its own; back as plain data
    if not isinstance(out, tuple | list) or len(out) != 2:
        raise ValueError(
            "run_overlap must return (heights, overlap_bound), got "
            + type(out).__name__
            + (f" of length {len(out)}" if isinstance(out, tuple | list) else "")
        )
    return score(out[0])
