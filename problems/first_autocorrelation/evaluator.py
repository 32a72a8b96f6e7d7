"""Evaluator for first_autocorrelation: the first autocorrelation inequality, upper bound on C1.

The candidate gives a non-negative step function f on [-1/4, 1/4] with n equal steps (its
heights a_0 ... a_{n-1}). The bound it proves is

    C1 <= max_t (f * f)(t) / (integral of f)^2,

to be minimized. The autoconvolution of a step function on a uniform grid is piecewise
linear with knots at multiples of the step width 1/(2n), where it equals (1/(2n)) * b_k with
b = a * a (the discrete autoconvolution); so the bound is exactly 2n * max_k b_k / (sum a)^2.

``run_autocorrelation()`` of the candidate runs in a process of its own
(``evolve.sdk.call``) and returns ``(heights, reported_bound)``; the reported bound is
ignored. The heights are read with ``evolve.sdk.checks.real_array`` (plain float64 copy,
1-D, finite; bool, complex, object and string data refused), then checked and scored with
**no rounding at all**:

* 1 <= n <= ``MAX_STEPS``; every height is in [0, ``MAX_HEIGHT``]; not all are zero;
* every float64 height is an integer over a power of two, so all heights are scaled to
  Python ints over one common 2**s (the bound does not change when f is scaled) and the
  autoconvolution is computed exactly, in integer arithmetic (``exact_convolution``);
  the bound is a ``Fraction``, rounded once to float.

Tiny heights therefore cannot make the convolution underflow, and huge ones cannot make it
overflow. The first violation is raised as ``ValueError`` with a one-line message; a
candidate that raises, hangs, crashes or returns something that is not data raises
``evolve.sdk.CallError``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from evolve.sdk import call
from evolve.sdk.checks import dyadic, exact_convolution, real_array

MAX_STEPS: int = 10_000
"""Most steps accepted; verifying that many takes about a second at worst."""
MAX_HEIGHT: float = 1e6
"""Largest height accepted. The bound does not depend on the scale of f: rescale."""
BEST_KNOWN: float = 1.503164
"""AlphaEvolve, 'Mathematical exploration and discovery at scale' (2025): C1 <= 1.503164.
Its published 1319-step function scores 1.5031635547 here."""
NEAR_MAX = Fraction(999, 1000)
"""A grid point counts in ``near_max_points`` when (f*f) there is >= 0.999 * its maximum."""


def read_heights(obj: Any) -> np.ndarray:
    """The heights as a plain float64 vector, checked: 1..MAX_STEPS entries in
    [0, MAX_HEIGHT], not all zero."""
    a = real_array(obj, "heights", (None,))
    n = a.shape[0]
    if n == 0:
        raise ValueError("heights is empty: give at least one step")
    if n > MAX_STEPS:
        raise ValueError(f"heights has {n} steps; at most {MAX_STEPS} are accepted")
    for i, v in enumerate(a.tolist()):
        if v < 0.0:
            raise ValueError(f"heights[{i}] is {v!r}; heights must be >= 0")
        if v > MAX_HEIGHT:
            raise ValueError(
                f"heights[{i}] is {v!r}; heights must be <= {MAX_HEIGHT:g} (the bound does "
                "not depend on the scale: divide all heights by a constant)"
            )
    if not np.any(a > 0.0):
        raise ValueError("every height is 0: f must not be the zero function")
    return a


def autoconvolution_bound(a: np.ndarray) -> tuple[Fraction, int]:
    """The exact bound 2n * max_k (a*a)_k / (sum a)^2 of valid heights, and how many of the
    2n - 1 grid points reach ``NEAR_MAX`` of the maximum."""
    n = a.shape[0]
    m, _ = dyadic(a.tolist())  # a_i = m_i / 2**s; the common scale cancels in the ratio
    b = exact_convolution(m, m)
    top = max(b)
    near = sum(1 for v in b if v * NEAR_MAX.denominator >= top * NEAR_MAX.numerator)
    return Fraction(2 * n * top, sum(m) ** 2), near


def score(obj: Any) -> dict[str, float]:
    """Check the heights and return the metrics (``ValueError`` on the first violation)."""
    a = read_heights(obj)
    bound, near = autoconvolution_bound(a)
    value = float(bound)
    return {
        "c1_bound": value,
        "ratio_to_best": BEST_KNOWN / value,
        "steps": float(a.shape[0]),
        "near_max_points": float(near),
    }


def evaluate(program_path: str) -> dict[str, float]:
    """Verify the candidate's step function and score it by its (recomputed) C1 bound."""
    out = call(program_path, "run_autocorrelation")  # own process; back as plain data
    if not isinstance(out, tuple | list) or len(out) != 2:
        raise ValueError(
            "run_autocorrelation must return (heights, c1_bound), got "
            + type(out).__name__
            + (f" of length {len(out)}" if isinstance(out, tuple | list) else "")
        )
    return score(out[0])
