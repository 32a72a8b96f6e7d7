"""First autocorrelation inequality: a non-negative step function f on [-1/4, 1/4] whose
autoconvolution has the smallest possible peak, max_t (f*f)(t) / (integral of f)^2.

Only ``construct_function`` evolves. ``run_autocorrelation`` is what the evaluator calls;
the evaluator checks the heights and recomputes the bound itself, exactly.
"""

import numpy as np


# EVOLVE-BLOCK-START
def construct_function():
    """Heights a_0..a_{n-1} of a step function f on [-1/4, 1/4] with n equal steps.

    Every height must be finite and in [0, 1e6], not all zero; 1 <= n <= 10000. Scaling
    all heights by a constant does not change the score.

    The constant function: its autoconvolution is a triangle with peak 1/2 at t = 0,
    and the integral of f is 1/2, so the bound is (1/2) / (1/2)^2 = 2.
    """
    n = 100
    heights = np.ones(n)
    return heights


# EVOLVE-BLOCK-END


def run_autocorrelation() -> tuple[np.ndarray, float]:
    """Build f; return (heights, C1 bound 2n * max(a * a) / (sum a)^2)."""
    a = np.asarray(construct_function(), dtype=np.float64)
    return a, float(2 * len(a) * np.max(np.convolve(a, a)) / np.sum(a) ** 2)
