"""Pack 21 circles into a rectangle of perimeter 4 so that the sum of their radii is as large
as possible.

The rectangle is [0, w] x [0, 2 - w]; the program chooses the width w (0 < w < 2) as well as
the circles. Only ``construct_packing`` evolves. ``run_packing`` is the entry point the
evaluator calls; the evaluator computes the height exactly as 2 - w, recomputes the sum of
radii itself and rejects, with zero tolerance, any overlap and any circle that leaves the
rectangle.
"""

import numpy as np


# EVOLVE-BLOCK-START
def construct_packing():
    """Return (w, centers, radii): the rectangle's width w (its height is 2 - w) and 21
    circles, centers of shape (21, 2) and radii of shape (21,).

    A 7 x 3 grid of equal cells in a 1.4 x 0.6 rectangle. Each circle in turn gets the
    largest radius that keeps it inside the rectangle and clear of the circles already
    placed, times (1 - 1e-9) so that rounding can never make the packing invalid.
    """
    cols, rows, w = 7, 3, 1.4
    h = 2 - w
    centers = np.array(
        [[(i + 0.5) * w / cols, (j + 0.5) * h / rows] for i in range(cols) for j in range(rows)]
    )
    radii = np.zeros(len(centers))
    for i, (x, y) in enumerate(centers):
        r = min(x, y, w - x, h - y)
        for j in range(i):
            r = min(r, np.hypot(x - centers[j, 0], y - centers[j, 1]) - radii[j])
        radii[i] = r * (1 - 1e-9)
    return w, centers, radii


# EVOLVE-BLOCK-END


def run_packing() -> tuple[float, np.ndarray, np.ndarray, float]:
    """Build the packing; return (w, centers, radii, sum of radii). The sum is ignored by
    the evaluator, which computes its own."""
    w, centers, radii = construct_packing()
    return w, centers, radii, float(np.sum(radii))
