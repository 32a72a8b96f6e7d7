"""Place 16 points in the plane so that the ratio of the largest to the smallest pairwise
distance is as small as possible.

Only ``construct_points`` evolves. ``run_points`` is the entry point the evaluator calls;
the evaluator computes the squared ratio itself, exactly, and rejects coincident points.
"""

import numpy as np


# EVOLVE-BLOCK-START
def construct_points():
    """Return 16 distinct points in the plane, a numpy array of shape (16, 2).

    Only the shape of the configuration matters: the score, (max distance / min
    distance)^2, does not change under moving, rotating or scaling all the points.

    A 4 x 4 grid: rows of `cols` points spaced `dx` apart, `dy` between rows, every
    other row shifted sideways by `shift`.
    """
    rows, cols = 4, 4
    dx, dy, shift = 1.0, 1.0, 0.0
    points = []
    for j in range(rows):
        for i in range(cols):
            points.append([i * dx + (j % 2) * shift, j * dy])
    return np.array(points)


# EVOLVE-BLOCK-END


def run_points() -> tuple[np.ndarray, float]:
    """Build the points; return (points, (max distance / min distance)^2). The ratio is
    ignored by the evaluator, which computes its own."""
    points = construct_points()
    diffs = points[:, None, :] - points[None, :, :]
    dist2 = np.sum(diffs**2, axis=-1)[np.triu_indices(len(points), 1)]
    return points, float(dist2.max() / dist2.min())
