"""Search for the global minimum of a multimodal 2-D function (Levi N.13).

Only ``search`` evolves. ``run_search`` is what the evaluator calls: it seeds a random
generator, runs ``search`` on the fixed objective over [-10, 10]^2 and reports the point
found together with its value.
"""

import numpy as np


def objective(x: float, y: float) -> float:
    """Levi function N.13; its global minimum is 0 at (1, 1)."""
    return float(
        np.sin(3 * np.pi * x) ** 2
        + (x - 1) ** 2 * (1 + np.sin(3 * np.pi * y) ** 2)
        + (y - 1) ** 2 * (1 + np.sin(2 * np.pi * x) ** 2)
    )


# EVOLVE-BLOCK-START
def search(objective, bounds, rng):
    """Find a point (x, y) inside bounds = (low, high) where objective(x, y) is small.

    Plain random search: 100 uniform samples, keep the best. Returns (best_x, best_y).
    """
    low, high = bounds
    best_x = rng.uniform(low, high)
    best_y = rng.uniform(low, high)
    best_value = objective(best_x, best_y)
    for _ in range(100):
        x = rng.uniform(low, high)
        y = rng.uniform(low, high)
        value = objective(x, y)
        if value < best_value:
            best_x, best_y, best_value = x, y, value
    return best_x, best_y


# EVOLVE-BLOCK-END


def run_search(seed: int) -> tuple[float, float, float]:
    """Run ``search`` with a generator seeded by ``seed``; return (x, y, objective(x, y))."""
    rng = np.random.default_rng(seed)
    x, y = search(objective, (-10.0, 10.0), rng)
    return x, y, objective(x, y)
