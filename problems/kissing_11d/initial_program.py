"""A kissing configuration in 11 dimensions, given as integer vectors: the more vectors,
the better.

Only ``construct_vectors`` evolves. ``run_kissing`` is what the evaluator calls; the
evaluator checks exactly, with integer arithmetic, that no vector is zero, no two are
equal, and every pair x != y has |x - y|^2 >= max |z|^2 over all vectors z. Then unit
spheres centred at 2x/|x| all touch the unit sphere at the origin and no two overlap.
"""


# EVOLVE-BLOCK-START
def construct_vectors():
    """Return a list of integer vectors of length 11 (lists of ints, or an int array).

    Starting point: the 220 vectors with two nonzero entries, each +1 or -1 (the root
    system D11). Every squared norm is 2 and every two distinct vectors are at squared
    distance at least 2, so the configuration is valid.
    """
    d = 11
    vectors = []
    for i in range(d):
        for j in range(i + 1, d):
            for si in (1, -1):
                for sj in (1, -1):
                    v = [0] * d
                    v[i], v[j] = si, sj
                    vectors.append(v)
    return vectors


# EVOLVE-BLOCK-END


def run_kissing() -> list[list[int]]:
    """Build the vectors. The evaluator checks them and counts them itself."""
    return construct_vectors()
