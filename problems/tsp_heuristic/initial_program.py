"""A heuristic for the Euclidean travelling salesman problem (uniform random cities).

Only ``solve`` evolves. The evaluator calls it once per instance, in a fresh process,
with at most 10 seconds each, checks that the tour visits every city exactly once and
recomputes its length itself.
"""

import numpy as np


# EVOLVE-BLOCK-START
def solve(points):
    """Return a short closed tour through all the cities.

    points: float64 array of shape (n, 2), n cities in the unit square (n = 100 to 200).
    Return the order of visit: a list of the ints 0..n-1, each exactly once (the tour
    returns to its first city at the end). At most 10 seconds per call.

    Nearest neighbour: start at city 0, always go to the closest unvisited city.
    """
    n = len(points)
    visited = np.zeros(n, dtype=bool)
    tour = [0]
    visited[0] = True
    for _ in range(n - 1):
        dist = np.hypot(*(points - points[tour[-1]]).T)
        dist[visited] = np.inf
        city = int(np.argmin(dist))
        tour.append(city)
        visited[city] = True
    return tour


# EVOLVE-BLOCK-END
