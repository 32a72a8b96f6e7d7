"""Pack 32 circles into the unit square so that the sum of their radii is as large as possible.

Only ``construct_packing`` evolves. ``run_packing`` is the entry point the evaluator calls;
the evaluator recomputes the sum of radii itself and rejects, with zero tolerance, any
overlap and any circle that leaves the square.
"""

import numpy as np


# EVOLVE-BLOCK-START
def construct_packing():
    """Return (centers, radii) for 32 circles in [0, 1]^2, of shapes (32, 2) and (32,).

    Centers: the first 32 cells of a 6x6 grid, column by column (the last column keeps
    only two circles). Radii: each circle in turn gets the largest radius that keeps it
    inside the square and clear of the circles already placed, times (1 - 1e-9) so that
    rounding can never make the packing invalid.
    """
    side = 6
    cells = [((i + 0.5) / side, (j + 0.5) / side) for i in range(side) for j in range(side)]
    centers = np.array(cells[:32])
    radii = np.zeros(32)
    for i, (x, y) in enumerate(centers):
        r = min(x, y, 1 - x, 1 - y)
        for j in range(i):
            r = min(r, np.hypot(x - centers[j, 0], y - centers[j, 1]) - radii[j])
        radii[i] = r * (1 - 1e-9)
    return centers, radii


# EVOLVE-BLOCK-END


def run_packing() -> tuple[np.ndarray, np.ndarray, float]:
    """Build the packing; return (centers, radii, sum of radii). The sum is ignored by the
    evaluator, which computes its own."""
    centers, radii = construct_packing()
    return centers, radii, float(np.sum(radii))
