"""Place 11 points in a triangle of area 1 so that the smallest triangle they form is as
large as possible (the Heilbronn problem for triangles, n = 11).

Only ``construct_points`` evolves. ``run_heilbronn`` is what the evaluator calls; the
evaluator checks exactly that every point lies in the closed triangle with vertices
(0, 0), (2, 0), (0, 1) and computes the smallest area itself.
"""

import numpy as np


# EVOLVE-BLOCK-START
def construct_points():
    """Return 11 points (x, y), shape (11, 2), with x >= 0, y >= 0 and x + 2 * y <= 2.

    Evenly spaced on a circle around the incenter of the triangle (0, 0), (2, 0), (0, 1).
    No three points of a circle are collinear, so every triangle has positive area, and
    the circle keeps a margin from the sides, so rounding cannot push a point out.
    """
    n = 11
    inradius = (3 - np.sqrt(5)) / 2  # (legs - hypotenuse) / 2 for a right triangle
    center = np.array([inradius, inradius])
    radius = 0.9 * inradius
    angles = 2 * np.pi * np.arange(n) / n
    points = center + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return points


# EVOLVE-BLOCK-END


def run_heilbronn() -> np.ndarray:
    """Build the points: an array of shape (11, 2). The evaluator scores them itself."""
    return construct_points()
