"""Erdős' minimum overlap problem: a step function h on [0, 2] with values in [0, 1] and
integral 1 whose largest overlap max_k integral h(x) (1 - h(x + k)) dx is as small as possible.

Only ``construct_function`` evolves. ``run_overlap`` is what the evaluator calls: it makes
the integral exactly 1 (see ``exact_half_mean``) and returns the heights; the evaluator
checks them and recomputes the bound itself, exactly.
"""

import numpy as np


# EVOLVE-BLOCK-START
def construct_function():
    """Heights h_0..h_{n-1} of a step function on [0, 2] with n equal steps.

    Every height must be in [0, 1] and their mean must be 1/2 (so that the integral of h
    is 1), up to 1e-9: run_overlap then makes the mean exactly 1/2.

    A smooth bump: h(x) = cos(pi (x - 1) / 2)^2, sampled at the middle of each step. It
    is 1 in the middle of [0, 2] and 0 at both ends, and its mean is 1/2 by symmetry.
    """
    n = 200
    x = 2.0 * (np.arange(n) + 0.5) / n  # middles of the steps, in (0, 2)
    heights = np.cos(np.pi * (x - 1.0) / 2.0) ** 2
    return heights


# EVOLVE-BLOCK-END

UNITS = 2**52
"""run_overlap rounds heights to multiples of 1 / UNITS (exact float64 values in [0, 1])."""


def exact_half_mean(heights: np.ndarray) -> np.ndarray:
    """Heights in [0, 1] with mean within 1e-9 of 1/2, rounded to multiples of 2**-52 and
    nudged (by about 1e-9 at most) so that their sum is exactly n/2: integral exactly 1.
    Anything else is returned unchanged, for the evaluator to report."""
    h = np.asarray(heights, dtype=np.float64)
    if h.ndim != 1 or h.size == 0 or not np.all((h >= 0.0) & (h <= 1.0)):
        return h
    if abs(float(np.mean(h)) - 0.5) > 1e-9:
        return h
    units = [int(u) for u in np.rint(h * UNITS)]
    deficit = len(units) * UNITS // 2 - sum(units)  # exact: UNITS is even
    while deficit != 0:  # spread it evenly over the steps that have room
        share = -(-abs(deficit) // len(units))  # ceil
        for i, u in enumerate(units):
            room = UNITS - u if deficit > 0 else u
            step = min(room, share, abs(deficit))
            units[i] = u + step if deficit > 0 else u - step
            deficit += -step if deficit > 0 else step
            if deficit == 0:
                break
    return np.array(units, dtype=np.float64) / UNITS


def run_overlap() -> tuple[np.ndarray, float]:
    """Build h with integral exactly 1; return (heights, overlap bound)."""
    h = exact_half_mean(construct_function())
    overlap = np.correlate(h, 1.0 - h, mode="full")  # every grid shift
    return h, float(2.0 * np.max(overlap) / len(h))
