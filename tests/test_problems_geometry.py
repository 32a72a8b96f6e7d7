"""Tests for the geometry problems heilbronn_triangle_11 and kissing_11d: their files, their
initial programs, the published AlphaEvolve constructions, and traps for the verifiers
(candidates run in a process of their own through ``evolve.sdk``)."""

from __future__ import annotations

import itertools
import math
import time
import tomllib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from problem_kit import load_evaluator

from evolve import EvaluationResult
from evolve.sdk import CallError

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "problems"
DATA = Path(__file__).resolve().parent / "data"
MINE = ("heilbronn_triangle_11", "kissing_11d")


@pytest.fixture(scope="module")
def hb() -> ModuleType:
    return load_evaluator("heilbronn_triangle_11")


@pytest.fixture(scope="module")
def ks() -> ModuleType:
    return load_evaluator("kissing_11d")


def _metrics(result: Any) -> dict[str, float]:
    return result.metrics if isinstance(result, EvaluationResult) else result


# --- problem files -----------------------------------------------------------------------


@pytest.mark.parametrize("problem", MINE)
def test_problem_folder_layout(problem: str) -> None:
    files = sorted(p.name for p in (PROBLEMS / problem).iterdir() if p.name != "__pycache__")
    assert files == ["README.md", "evaluator.py", "initial_program.py", "problem.toml"]


@pytest.mark.parametrize(
    ("problem", "best", "suites"),
    [
        ("heilbronn_triangle_11", 0.0365298899, ["math"]),
        ("kissing_11d", 593.0, ["math"]),
    ],
)
def test_problem_toml_validates(problem: str, best: float, suites: list[str]) -> None:
    from evolve.config import ProblemConfig

    with (PROBLEMS / problem / "problem.toml").open("rb") as f:
        config = ProblemConfig.model_validate(tomllib.load(f))
    assert config.name == problem
    assert config.evaluator.path == "evaluator.py"
    assert config.evaluator.direction == "maximize"
    assert config.prompt.strip()
    assert not config.llm.models
    assert config.benchmark.best_known == best
    assert "AlphaEvolve" in config.benchmark.source
    assert config.benchmark.suites == suites
    assert config.search.iterations <= 300


@pytest.mark.parametrize("problem", MINE)
def test_initial_program_has_one_function_in_block(problem: str) -> None:
    text = (PROBLEMS / problem / "initial_program.py").read_text()
    lines = text.splitlines()
    start = lines.index("# EVOLVE-BLOCK-START")
    end = lines.index("# EVOLVE-BLOCK-END")
    assert text.count("EVOLVE-BLOCK-START") == 1 and text.count("EVOLVE-BLOCK-END") == 1
    block = lines[start + 1 : end]
    top_level = [ln for ln in block if ln and not ln[0].isspace()]
    assert len(top_level) == 1 and top_level[0].startswith("def ")
    assert 10 <= len(block) <= 25
    assert "\ndef run_" in "\n".join(lines[end:])


# --- heilbronn_triangle_11 -----------------------------------------------------------------

HB_BEST = 0.0365298899

# A valid configuration with exact (dyadic) coordinates, no three points collinear: the
# corners of T and eight points inside. Its smallest triangle area is 1/128. The trap tests
# change one point at a time.
HB_BASE = [
    [0.0, 0.0],
    [2.0, 0.0],
    [0.0, 1.0],
    [0.3125, 0.5],
    [0.375, 0.3125],
    [0.125, 0.6875],
    [0.625, 0.625],
    [0.625, 0.0625],
    [0.6875, 0.3125],
    [0.125, 0.5],
    [0.375, 0.75],
]


def _hb_exact_min_area(points: list[list[float]]) -> Fraction:
    pts = [(Fraction(x), Fraction(y)) for x, y in points]
    return min(
        abs((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])) / 2
        for p, q, r in itertools.combinations(pts, 3)
    )


def _hb_program(points: str) -> str:
    return f"import math\nimport numpy as np\n\ndef run_heilbronn():\n    return {points}\n"


def _alphaevolve_points_in_t() -> np.ndarray:
    """AlphaEvolve's points, published in the equilateral triangle (0, 0), (1, 0),
    (1/2, sqrt(3)/2), mapped affinely onto T = (0, 0), (2, 0), (0, 1): with
    v = y / (sqrt(3)/2) and u = x - v/2, p = a + u (b - a) + v (c - a) goes to (2u, v)."""
    published = np.loadtxt(DATA / "heilbronn_triangle_11" / "alphaevolve_equilateral.txt")
    assert published.shape == (11, 2)
    v = published[:, 1] / (math.sqrt(3) / 2)
    u = published[:, 0] - v / 2
    return np.stack([2 * u, v], axis=1)


def test_hb_initial_program(hb: ModuleType) -> None:
    start = time.perf_counter()
    m = _metrics(hb.evaluate(str(PROBLEMS / "heilbronn_triangle_11" / "initial_program.py")))
    assert time.perf_counter() - start < 5
    assert set(m) == {"min_area", "ratio_to_best", "boundary_points", "min_distance"}
    assert all(type(v) is float for v in m.values())
    # 11 points evenly spaced on a circle of radius R: the smallest triangle is three
    # consecutive points, of area R^2 sin(t) (1 - cos(t)), t = 2 pi / 11.
    radius = 0.9 * (3 - math.sqrt(5)) / 2
    t = 2 * math.pi / 11
    assert m["min_area"] == pytest.approx(radius**2 * math.sin(t) * (1 - math.cos(t)), rel=1e-9)
    assert m["min_area"] == pytest.approx(0.0101425547, abs=1e-10)
    assert m["ratio_to_best"] == pytest.approx(m["min_area"] / HB_BEST)
    assert m["ratio_to_best"] < 0.3
    assert m["boundary_points"] == 0.0
    assert m["min_distance"] == pytest.approx(2 * radius * math.sin(t / 2), rel=1e-9)


def test_hb_alphaevolve_construction(hb: ModuleType, write: Callable[[str], str]) -> None:
    mapped = _alphaevolve_points_in_t()
    # Mapped in floats, a point that lies on the side x = 0 lands one rounding step outside,
    # and the exact containment test says so.
    with pytest.raises(
        ValueError, match=r"^point 8 \(-1\.1\d*e-16, .* breaks x >= 0 by 1\.11e-16$"
    ):
        hb.score(mapped)
    # Shrunk towards T's centroid by 1e-12, every point is inside; the areas change by a
    # relative 2e-12 at most.
    centroid = np.array([2 / 3, 1 / 3])
    shrunk = centroid + (1 - 1e-12) * (mapped - centroid)
    m = hb.score(shrunk)
    assert abs(m["min_area"] - HB_BEST) < 1e-9
    assert m["min_area"] == pytest.approx(0.03652988988, abs=1e-11)
    assert m["ratio_to_best"] > 1 - 1e-8
    # The same through a candidate program, end to end.
    path = write(_hb_program(f"np.array({shrunk.tolist()!r})"))
    assert _metrics(hb.evaluate(path))["min_area"] == m["min_area"]


def test_hb_exact_score_and_boundary_points(hb: ModuleType) -> None:
    m = hb.score(np.array(HB_BASE))
    assert _hb_exact_min_area(HB_BASE) == Fraction(1, 128)
    assert m["min_area"] == 1 / 128
    assert m["ratio_to_best"] == (1 / 128) / HB_BEST
    assert m["boundary_points"] == 3.0  # the corners
    assert m["min_distance"] == 0.1875
    # Points exactly on each side, corners included, are inside (closed triangle).
    on_sides = [(0, 1), (2, 0), (0, 0), (1, Fraction(1, 2)), (Fraction(3, 2), Fraction(1, 4))]
    hb.check_inside([(Fraction(x), Fraction(y)) for x, y in on_sides])


def test_hb_area_is_exact_not_float(hb: ModuleType) -> None:
    # (0.1, 0.1), (0.2, 0.4), (0.3, 0.7) are collinear as float64 values, though a float
    # computation of their area gives 3.5e-18: the exact score is 0.
    points = [row[:] for row in HB_BASE]
    points[5], points[6], points[8] = [0.1, 0.1], [0.2, 0.4], [0.3, 0.7]
    a, b, c = points[5], points[6], points[8]
    assert abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])) / 2 > 3e-18
    assert hb.score(np.array(points))["min_area"] == 0.0
    # (0.1, 0.3), (0.2, 0.2), (0.3, 0.1) look collinear in decimal but are not: the exact
    # area is 2.78e-18 (a float computation says 3.47e-18), and that is the score.
    points[5], points[6], points[8] = [0.1, 0.3], [0.2, 0.2], [0.3, 0.1]
    tiny = _hb_exact_min_area([points[5], points[6], points[8]])
    assert 0 < tiny < Fraction(1, 10**17)
    assert _hb_exact_min_area(points) == tiny
    assert hb.score(np.array(points))["min_area"] == float(tiny) == pytest.approx(2.7756e-18)


@pytest.mark.parametrize(
    ("point", "message"),
    [
        ((math.nextafter(0.0, -1.0), 0.5), r"breaks x >= 0 by 4\.94e-324"),
        ((0.5, math.nextafter(0.0, -1.0)), r"breaks y >= 0 by 4\.94e-324"),
        ((1.0, math.nextafter(0.5, 1.0)), r"breaks x \+ 2\*y <= 2 by 2\.22e-16"),
        ((math.nextafter(2.0, 3.0), 0.0), r"breaks x \+ 2\*y <= 2 by 4\.44e-16"),
        ((0.9, 0.55), r"breaks x \+ 2\*y <= 2 by 1\.11e-16"),  # 0.9 + 1.1 > 2 exactly
    ],
)
def test_hb_point_outside_by_one_ulp_rejected(
    hb: ModuleType, point: tuple[float, float], message: str
) -> None:
    points = [row[:] for row in HB_BASE]
    points[7] = list(point)
    with pytest.raises(ValueError, match=r"^point 7 \(.*\) is outside the triangle .*" + message):
        hb.score(np.array(points))


def test_hb_one_ulp_outside_rejected_end_to_end(
    hb: ModuleType, write: Callable[[str], str]
) -> None:
    points = [row[:] for row in HB_BASE]
    points[3] = [1.0, math.nextafter(0.5, 1.0)]
    with pytest.raises(ValueError, match=r"^point 3 .* breaks x \+ 2\*y <= 2 by 2\.22e-16$"):
        hb.evaluate(write(_hb_program(repr(points))))


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.__setitem__(9, list(p[4])),  # two points coincide
        lambda p: p.__setitem__(9, [0.25, 0.0]),  # on the side through corners 0 and 1
        lambda p: p.__setitem__(9, [0.34375, 0.40625]),  # the midpoint of points 3 and 4
    ],
    ids=["duplicate", "collinear-side", "collinear-inside"],
)
def test_hb_degenerate_triangles_score_zero(hb: ModuleType, change: Callable[[Any], None]) -> None:
    points = [row[:] for row in HB_BASE]
    change(points)
    m = hb.score(np.array(points))
    assert m["min_area"] == 0.0 and m["ratio_to_best"] == 0.0


@pytest.mark.parametrize(
    ("returned", "error", "message"),
    [
        (
            "np.where(np.arange(11)[:, None] == 4, np.nan, pts)",
            ValueError,
            r"^points\[4, 0\] is not finite \(nan\)$",
        ),
        (
            "np.where(np.arange(11)[:, None] == 6, np.inf, pts)",
            ValueError,
            r"^points\[6, 0\] is not finite \(inf\)$",
        ),
        ("-np.inf * np.ones((11, 2))", ValueError, r"^points\[0, 0\] is not finite"),
        ("pts[:10]", ValueError, r"shape \(11, 2\), got \(10, 2\)"),
        ("pts.T", ValueError, r"shape \(11, 2\), got \(2, 11\)"),
        ("np.hstack([pts, np.zeros((11, 1))])", ValueError, r"shape \(11, 2\), got \(11, 3\)"),
        ("pts.astype(complex)", ValueError, "must hold real numbers"),
        ("pts > 0.5", ValueError, "must hold real numbers"),
        ("[[str(x), str(y)] for x, y in pts]", ValueError, "must hold real numbers"),
        ("[[0.1, 0.2]] * 10 + [[0.3]]", ValueError, "cannot be read as a numeric array"),
        ("0.0365298899", ValueError, r"shape \(11, 2\), got \(\)"),
        ("(pts, 0.0365298899)", ValueError, "cannot be read as a numeric array"),
        ("None", ValueError, "must hold real numbers"),
        ("pts.astype(object)", CallError, "returned an array of dtype object"),
    ],
)
def test_hb_rejects_bad_output(
    hb: ModuleType,
    write: Callable[[str], str],
    returned: str,
    error: type[Exception],
    message: str,
) -> None:
    source = f"""
        import numpy as np

        def run_heilbronn():
            pts = np.array({HB_BASE!r})
            return {returned}
        """
    with pytest.raises(error, match=message):
        hb.evaluate(write(source))


def test_hb_lying_subclass_not_trusted(hb: ModuleType, write: Callable[[str], str]) -> None:
    # The array's data has a point outside T; its overridden methods show valid points.
    good = repr(HB_BASE)
    path = write(
        f"""
        import numpy as np

        class Liar(np.ndarray):
            def tolist(self):
                return {good}

            def __getitem__(self, key):
                return np.asarray({good})[key]

            def __array__(self, dtype=None, copy=None):
                return np.asarray({good}, dtype=dtype)

        def run_heilbronn():
            pts = np.array({good})
            pts[2] = [0.0, 1.5]
            return pts.view(Liar)
        """
    )
    with pytest.raises(ValueError, match=r"^point 2 \(0\.0, 1\.5\) .* breaks x \+ 2\*y <= 2 by 1$"):
        hb.evaluate(path)


def test_hb_candidate_cannot_patch_the_checks(hb: ModuleType, write: Callable[[str], str]) -> None:
    path = write(
        f"""
        import fractions, itertools
        import numpy as np

        fractions.Fraction.__gt__ = lambda self, other: False
        fractions.Fraction.__lt__ = lambda self, other: False
        itertools.combinations = lambda *a, **k: iter(())
        np.isfinite = lambda a: np.ones(np.shape(a), dtype=bool)

        def run_heilbronn():
            pts = np.array({HB_BASE!r})
            pts[0] = [-1.0, 0.0]
            return pts
        """
    )
    with pytest.raises(ValueError, match=r"^point 0 \(-1\.0, 0\.0\) .* breaks x >= 0 by 1$"):
        hb.evaluate(path)


# --- kissing_11d ---------------------------------------------------------------------------


def _ae_vectors() -> list[list[int]]:
    text = (DATA / "kissing_11d" / "alphaevolve_593.txt").read_text()
    return [[int(v) for v in line.split()] for line in text.splitlines() if line.strip()]


def _unit(i: int, scale: int = 1) -> list[int]:
    v = [0] * 11
    v[i] = scale
    return v


def _near_miss(n: int) -> list[list[int]]:
    """Three vectors whose first two are exactly one unit too close: u = (n, 0, ...),
    v = (0, n, ...), w = (-n, -n, 1, ...). |w|^2 = 2n^2 + 1 is the largest squared norm,
    |u - v|^2 = 2n^2, and every other pair is far enough (5n^2 + 1)."""
    w = [0] * 11
    w[0], w[1], w[2] = -n, -n, 1
    return [_unit(0, n), _unit(1, n), w]


def test_ks_initial_program(ks: ModuleType) -> None:
    start = time.perf_counter()
    m = _metrics(ks.evaluate(str(PROBLEMS / "kissing_11d" / "initial_program.py")))
    assert time.perf_counter() - start < 5
    assert m == {
        "num_vectors": 220.0,
        "ratio_to_best": 220 / 593,
        "norm_ratio": 1.0,
        "coordinate_bits": 1.0,
    }


def test_ks_alphaevolve_593(ks: ModuleType, write: Callable[[str], str]) -> None:
    vectors = _ae_vectors()
    assert len(vectors) == 593
    start = time.perf_counter()
    stats = ks.verify(vectors)
    assert time.perf_counter() - start < 5
    assert stats["count"] == 593
    assert stats["bits"] == 43  # beyond int64 for squares: the Python-int path
    assert stats["min_dist2"] >= stats["max_norm2"] > 2**63
    # End to end, as an int64 array built by the candidate.
    path = write(f"import numpy as np\n\ndef run_kissing():\n    return np.array({vectors!r})\n")
    m = _metrics(ks.evaluate(path))
    assert m["num_vectors"] == 593.0 and m["ratio_to_best"] == 1.0
    assert m["coordinate_bits"] == 43.0
    assert 0.999 < m["norm_ratio"] < 1.0


def test_ks_alphaevolve_broken_by_one_unit(ks: ModuleType) -> None:
    vectors = _ae_vectors()
    # Vector 592 replaced by vector 0 moved one unit along the first axis.
    vectors[592] = [vectors[0][0] + 1, *vectors[0][1:]]
    with pytest.raises(
        ValueError, match=r"^vectors 0 and 592 are too close: \|x0 - x592\|\^2 = 1 < "
    ):
        ks.verify(vectors)
    # A 594th vector: the negation of one is 2|x| away from it but too close to another.
    more = _ae_vectors()
    more.append([-v for v in more[0]])
    with pytest.raises(ValueError, match="are too close"):
        ks.verify(more)


@pytest.mark.parametrize("n", [3, 2**28, 2**28 + 1, 2**40, 2**200])
def test_ks_pair_one_unit_too_close(ks: ModuleType, n: int) -> None:
    # Exact on both paths (int64 up to 2**28, Python ints above). For n = 2**40, in
    # float64 2n^2 and 2n^2 + 1 are the same number: a float check would accept this.
    vectors = _near_miss(n)
    assert (n > 2**26) == (float(2 * n * n) == float(2 * n * n + 1))
    with pytest.raises(
        ValueError,
        match=rf"^vectors 0 and 1 are too close: \|x0 - x1\|\^2 = {2 * n * n} < "
        rf"{2 * n * n + 1} = \|x2\|\^2, the largest squared norm$",
    ):
        ks.verify(vectors)
    # One unit further apart (w shorter by one unit in its norm), the set is valid:
    # equality |u - v|^2 = max |z|^2 is allowed.
    vectors[2][2] = 0
    stats = ks.verify(vectors)
    assert stats["min_dist2"] == stats["max_norm2"] == 2 * n * n


def test_ks_small_valid_sets(ks: ModuleType) -> None:
    m = ks.score([_unit(i, s) for i in range(11) for s in (1, -1)])  # the cross polytope
    assert m["num_vectors"] == 22.0 and m["norm_ratio"] == 1.0
    # Different norms are fine as long as every distance reaches the largest norm.
    m = ks.score([_unit(0, 2), _unit(1, 1), _unit(2, -2)])
    assert m["num_vectors"] == 3.0 and m["norm_ratio"] == 0.25
    assert ks.score([_unit(5, 7)])["num_vectors"] == 1.0


@pytest.mark.parametrize(
    ("vectors", "message"),
    [
        ([_unit(0), [0] * 11, _unit(1)], r"^vector 1 is the zero vector$"),
        ([_unit(0), _unit(1), _unit(2), _unit(1)], r"^vectors 1 and 3 are equal$"),
        ([_unit(0, 2)] * 593, r"^vectors 0 and 1 are equal$"),
        ([], r"^no vectors$"),
        ([_unit(0), [1] * 10], r"^vector 1 has 10 entries, not 11$"),
        ([_unit(0), [1] * 12], r"^vector 1 has 12 entries, not 11$"),
        ([_unit(i % 11, i + 1) for i in range(1001)], r"^1001 vectors: more than 1000"),
        ([_unit(0), _unit(3, -(2**256))], r"^vector 1, entry 3 has 257 bits"),
        ([_unit(0, 2), _unit(1, 1), _unit(2, 3)], r"^vectors 0 and 1 are too close"),
    ],
)
def test_ks_verify_rejects(ks: ModuleType, vectors: list[list[int]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ks.verify(vectors)


@pytest.mark.parametrize(
    ("returned", "error", "message"),
    [
        (
            "[[float(v) for v in row] for row in d11()]",
            ValueError,
            r"^vectors\[0\]\[0\] is not an integer \(1\.0\)$",
        ),
        ("np.array(d11(), dtype=float)", ValueError, "must hold integers, got dtype float64"),
        ("np.array(d11()) * 1.0000000000000002", ValueError, "must hold integers"),
        ("np.array(d11(), dtype=bool)", ValueError, "must hold integers, got dtype bool"),
        ("[[True] + [False] * 10]", ValueError, r"vectors\[0\]\[0\] is not an integer \(True\)"),
        ("[[str(v) for v in row] for row in d11()]", ValueError, "is not an integer"),
        ("[[float('nan')] * 11]", ValueError, r"is not an integer \(nan\)"),
        ("[[float('inf')] + [0] * 10]", ValueError, r"is not an integer \(inf\)"),
        ("np.array(d11()).ravel()", ValueError, r"^vectors\[0\] is not a vector \(int\)$"),
        ("np.array(d11())[:, :10]", ValueError, r"^vector 0 has 10 entries, not 11$"),
        ("np.array(d11()).reshape(20, 11, 11)", ValueError, "is not an integer"),
        ("593", ValueError, "must be a sequence of integer vectors, got int"),
        ("(d11(), 593)", ValueError, "is not an integer"),
        ("d11() + [[0] * 11]", ValueError, r"^vector 220 is the zero vector$"),
        ("d11() + d11()[:1]", ValueError, r"^vectors 0 and 220 are equal$"),
        ("np.array(d11(), dtype=object)", CallError, "returned an array of dtype object"),
    ],
)
def test_ks_rejects_bad_output(
    ks: ModuleType,
    write: Callable[[str], str],
    returned: str,
    error: type[Exception],
    message: str,
) -> None:
    source = f"""
        import numpy as np

        def d11():
            out = []
            for i in range(11):
                for j in range(i + 1, 11):
                    for si in (1, -1):
                        for sj in (1, -1):
                            v = [0] * 11
                            v[i], v[j] = si, sj
                            out.append(v)
            return out

        def run_kissing():
            return {returned}
        """
    with pytest.raises(error, match=message):
        ks.evaluate(write(source))


def test_ks_lying_subclass_not_trusted(ks: ModuleType, write: Callable[[str], str]) -> None:
    # The data: the 22 vectors +-e_i; the subclass claims 593 rows through its methods.
    path = write(
        """
        import numpy as np

        class Liar(np.ndarray):
            def __len__(self):
                return 593

            def tolist(self):
                return [[i] + [0] * 10 for i in range(1, 594)]

            def __iter__(self):
                return iter(self.tolist())

        def run_kissing():
            data = np.array([[s if k == i else 0 for k in range(11)]
                             for i in range(11) for s in (1, -1)])
            return data.view(Liar)
        """
    )
    m = _metrics(ks.evaluate(path))
    assert m["num_vectors"] == 22.0
