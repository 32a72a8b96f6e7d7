"""Pack 26 circles into the unit square so that the sum of their radii is as large as possible.

Only ``construct_packing`` evolves. ``run_packing`` is what the evaluator calls; the
evaluator recomputes the sum itself and rejects any overlap or any circle that leaves the
square, with zero tolerance.
"""

import numpy as np


# EVOLVE-BLOCK-START
def construct_packing():
    """Place 26 circles in the unit square; return (centers, radii) of shapes (26, 2), (26,).

    A 5x5 grid plus one small circle in a gap. Each radius is the largest that fits the
    walls and the circles placed before it, shrunk by a tiny factor to stay valid.
    """
    centers = [[0.1 + 0.2 * i, 0.1 + 0.2 * j] for i in range(5) for j in range(5)]
    centers.append([0.2, 0.2])
    centers = np.array(centers)
    radii = np.zeros(26)
    for i in range(26):
        x, y = centers[i]
        r = min(x, y, 1 - x, 1 - y)
        for j in range(i):
            r = min(r, np.hypot(*(centers[i] - centers[j])) - radii[j])
        radii[i] = r * (1 - 1e-9)
    return centers, radii


# EVOLVE-BLOCK-END


def run_packing() -> tuple[np.ndarray, np.ndarray, float]:
    """Build the packing; return (centers, radii, sum of radii)."""
    centers, radii = construct_packing()
    return centers, radii, float(np.sum(radii))
