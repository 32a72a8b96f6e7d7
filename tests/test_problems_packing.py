"""Tests for the bundled problems circle_packing_32, circles_in_rectangle and
min_max_distance_16: their files, their initial programs' scores, AlphaEvolve's published
constructions (tests/data/<problem>/alphaevolve.json) and the traps their verifiers must
not fall into. Candidates run in a process of their own through ``evolve.sdk``."""

from __future__ import annotations

import json
import math
import textwrap
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
from evolve.config import ProblemConfig
from evolve.sdk import CallError

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "problems"
DATA = Path(__file__).resolve().parent / "data"
MINE = ("circle_packing_32", "circles_in_rectangle", "min_max_distance_16")
BEST = {
    "circle_packing_32": 2.9379445262,
    "circles_in_rectangle": 2.3658321,
    "min_max_distance_16": 12.8892661,
}


@pytest.fixture(scope="module")
def cp32() -> ModuleType:
    return load_evaluator("circle_packing_32")


@pytest.fixture(scope="module")
def rect() -> ModuleType:
    return load_evaluator("circles_in_rectangle")


@pytest.fixture(scope="module")
def mm16() -> ModuleType:
    return load_evaluator("min_max_distance_16")


def _metrics(result: Any) -> dict[str, float]:
    return result.metrics if isinstance(result, EvaluationResult) else result


def _data(problem: str) -> dict[str, Any]:
    return json.loads((DATA / problem / "alphaevolve.json").read_text())


def _program(header: str, body: str) -> str:
    return textwrap.dedent(header) + textwrap.dedent(body)


# --- problem files -----------------------------------------------------------------------


@pytest.mark.parametrize("problem", MINE)
def test_problem_files(problem: str) -> None:
    folder = PROBLEMS / problem
    files = sorted(p.name for p in folder.iterdir() if p.name != "__pycache__")
    assert files == ["README.md", "evaluator.py", "initial_program.py", "problem.toml"]
    with (folder / "problem.toml").open("rb") as f:
        config = ProblemConfig.model_validate(tomllib.load(f))
    assert config.name == problem
    assert config.prompt.strip() and "zero tolerance" in config.prompt
    assert not config.llm.models
    assert config.benchmark.best_known == BEST[problem]
    assert "AlphaEvolve" in config.benchmark.source
    assert "math" in config.benchmark.suites
    assert config.search.target_score == BEST[problem]
    lines = (folder / "initial_program.py").read_text().splitlines()
    start, end = lines.index("# EVOLVE-BLOCK-START"), lines.index("# EVOLVE-BLOCK-END")
    block = lines[start + 1 : end]
    top_level = [ln for ln in block if ln and not ln[0].isspace()]
    assert len(top_level) == 1 and top_level[0].startswith("def ")
    assert 10 <= len(block) <= 25
    assert f"{BEST[problem]}" in (folder / "README.md").read_text()


# --- circle_packing_32 ---------------------------------------------------------------------

# Two circles of radii 1/4 and 1/8, exactly tangent (dyadic numbers: no rounding anywhere).
TANGENT = np.array([[0.25, 0.5], [0.625, 0.5]])

CP32 = """
import numpy as np

def grid():
    centers = np.array([[(i + 0.5) / 6, (j + 0.5) / 6] for i in range(6) for j in range(6)][:32])
    return centers, np.full(32, 0.08)
"""


def test_cp32_initial_program(cp32: ModuleType) -> None:
    m = _metrics(cp32.evaluate(str(PROBLEMS / "circle_packing_32" / "initial_program.py")))
    assert set(m) == {"sum_radii", "ratio_to_best", "min_radius", "max_radius"}
    assert m["sum_radii"] == pytest.approx(32 / 12, rel=1e-8) and m["sum_radii"] < 32 / 12
    assert m["ratio_to_best"] == pytest.approx(m["sum_radii"] / BEST["circle_packing_32"])
    assert m["ratio_to_best"] < 0.91
    assert m["max_radius"] == pytest.approx(1 / 12)


def test_cp32_alphaevolve_construction(cp32: ModuleType, write: Callable[[str], str]) -> None:
    circles = _data("circle_packing_32")["circles"]
    path = write(
        f"""
        import numpy as np

        def run_packing():
            c = np.array({circles!r})
            return c[:, :2], c[:, 2], 0.0
        """
    )
    m = _metrics(cp32.evaluate(path))
    assert abs(m["sum_radii"] - BEST["circle_packing_32"]) < 1e-9  # 2.937944526205518
    assert m["ratio_to_best"] == pytest.approx(1.0, abs=1e-9)


def test_cp32_exact_tangency_and_one_ulp(cp32: ModuleType) -> None:
    centers = np.array([[0.25, 0.25], [0.75, 0.25], [0.25, 0.75]])
    cp32.verify(centers, np.array([0.25, 0.25, 0.25]))  # tangent to each other and to walls
    bigger = math.nextafter(0.25, 1.0)
    with pytest.raises(ValueError, match=r"circle 0 .* sticks out of the left side .* 5\.55e-17"):
        cp32.verify(centers, np.array([bigger, 0.25, 0.25]))
    with pytest.raises(ValueError, match=r"circle 0 .* sticks out of the right side"):
        cp32.verify(np.array([[0.75, 0.5]]), np.array([bigger]))
    with pytest.raises(ValueError, match=r"circles 0 and 1 overlap by 2\.78e-17"):
        cp32.verify(TANGENT, np.array([0.25, math.nextafter(0.125, 1.0)]))
    cp32.verify(TANGENT, np.array([0.25, 0.125]))
    with pytest.raises(ValueError, match=r"sticks out of the top side"):
        cp32.verify(np.array([[0.5, math.nextafter(0.75, 1.0)]]), np.array([0.25]))


def test_cp32_check_is_exact_not_float(cp32: ModuleType) -> None:
    # The float test of this pair passes (distance >= radius sum); the exact one does not.
    x0, x1, r0, r1 = (
        0.2647665529666325,
        0.6301698347849004,
        0.11509344730398537,
        0.25030983451428257,
    )
    assert (x1 - x0) ** 2 >= (r0 + r1) ** 2 and x1 - x0 >= r0 + r1
    with pytest.raises(ValueError, match=r"circles 0 and 1 overlap by 1\.39e-17"):
        cp32.verify(np.array([[x0, 0.5], [x1, 0.5]]), np.array([r0, r1]))


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        ("c[4, 0] = np.nan", r"centers\[4, 0\] is not finite"),
        ("r[9] = np.inf", r"radii\[9\] is not finite"),
        ("r[9] = -np.inf", r"radii\[9\] is not finite"),
        ("c = c[:31]", r"centers must have shape \(32, 2\), got \(31, 2\)"),
        ("c = c.T", r"centers must have shape \(32, 2\)"),
        ("r = r[:, None]", r"radii must have shape \(32,?\)"),
        ("r[0] = 0.0", "circle 0 has radius 0.0"),
        ("r[3] = -0.01", "circle 3 has radius -0.01"),
        ("r = r.astype(complex)", "radii must hold real numbers"),
        ("r = r > 0", "radii must hold real numbers"),
        ("r = [str(v) for v in r]", "radii must hold real numbers"),
        ("r = None", "radii must hold real numbers"),
        ("c = [[0.1, 0.2], [0.3]] * 16", "centers cannot be read as a numeric array"),
        ("c[31] = c[30]", "circles 30 and 31 overlap"),
        ("r[31] = 1 / 12 + 1e-12", r"circle 31 .* sticks out of the right side"),
    ],
)
def test_cp32_rejects(
    cp32: ModuleType, write: Callable[[str], str], mutation: str, message: str
) -> None:
    path = write(
        _program(
            CP32,
            f"""
            def run_packing():
                c, r = grid()
                {mutation}
                return c, r, 2.9379445262
            """,
        )
    )
    with pytest.raises(ValueError, match=message):
        cp32.evaluate(path)


def test_cp32_claimed_best_is_not_believed(cp32: ModuleType, write: Callable[[str], str]) -> None:
    honest = write(_program(CP32, "def run_packing():\n    return (*grid(), 2.9379445262)\n"))
    assert _metrics(cp32.evaluate(honest))["sum_radii"] == pytest.approx(32 * 0.08)
    # Radii that add up to the best known, on centers that leave them no room.
    liar = write(
        _program(
            CP32,
            """
            def run_packing():
                c, _ = grid()
                return c, np.full(32, 2.9379445262 / 32), 2.9379445262
            """,
        )
    )
    with pytest.raises(ValueError, match=r"overlap|sticks out"):
        cp32.evaluate(liar)
    with pytest.raises(ValueError, match="must return"):
        cp32.evaluate(write("def run_packing():\n    return 2.9379445262\n"))


def test_cp32_lying_subclass_and_object_array(
    cp32: ModuleType, write: Callable[[str], str]
) -> None:
    liar = write(
        _program(
            CP32,
            """
            class Liar(np.ndarray):
                def sum(self, *args, **kwargs):
                    return 2.9379445262

                def tolist(self):
                    return [0.0918] * len(self)

                def __getitem__(self, key):
                    return 0.0918

            def run_packing():
                c, r = grid()
                return c, r.view(Liar), 2.9379445262
            """,
        )
    )
    m = _metrics(cp32.evaluate(liar))
    assert m["sum_radii"] == pytest.approx(32 * 0.08) and m["max_radius"] == 0.08
    objects = write(
        _program(
            CP32, "def run_packing():\n    c, r = grid()\n    return c, r.astype(object), 0.0\n"
        )
    )
    with pytest.raises(CallError, match="returned an array of dtype object") as info:
        cp32.evaluate(objects)
    assert info.value.kind == "bad_result"


def test_cp32_candidate_cannot_patch_the_checker(
    cp32: ModuleType, write: Callable[[str], str]
) -> None:
    path = write(
        _program(
            CP32,
            """
            import fractions, math
            fractions.Fraction.__gt__ = lambda self, other: False
            fractions.Fraction.__lt__ = lambda self, other: False
            np.isfinite = lambda a: np.ones(np.shape(a), dtype=bool)
            math.fsum = lambda values: 2.9379445262

            def run_packing():
                c, r = grid()
                r[5] = 0.3
                return c, r, 2.9379445262
            """,
        )
    )
    with pytest.raises(ValueError, match=r"circle 5 .* sticks out of the left side"):
        cp32.evaluate(path)


# --- circles_in_rectangle ------------------------------------------------------------------

RECT = """
import numpy as np

def grid():
    centers = np.array([[0.1 + 0.2 * i, 0.1 + 0.2 * j] for i in range(7) for j in range(3)])
    return 1.4, centers, np.full(21, 0.09)
"""


def test_rect_initial_program(rect: ModuleType) -> None:
    m = _metrics(rect.evaluate(str(PROBLEMS / "circles_in_rectangle" / "initial_program.py")))
    assert set(m) == {"sum_radii", "ratio_to_best", "width", "min_radius"}
    assert m["sum_radii"] == pytest.approx(2.1, rel=1e-8) and m["sum_radii"] < 2.1
    assert m["ratio_to_best"] == pytest.approx(m["sum_radii"] / BEST["circles_in_rectangle"])
    assert m["ratio_to_best"] < 0.89
    assert m["width"] == 1.4


def test_rect_alphaevolve_construction(rect: ModuleType, write: Callable[[str], str]) -> None:
    circles = _data("circles_in_rectangle")["circles"]
    path = write(
        f"""
        import numpy as np

        def run_packing():
            c = np.array({circles!r})
            w = float(np.max(c[:, 0] + c[:, 2]))
            return w, c[:, :2], c[:, 2], 0.0
        """
    )
    m = _metrics(rect.evaluate(path))
    assert abs(m["sum_radii"] - BEST["circles_in_rectangle"]) < 1e-7  # 2.365832133416763
    assert m["width"] == pytest.approx(0.97673, abs=1e-5)


def test_rect_width_is_exact_and_one_ulp(rect: ModuleType) -> None:
    centers, radii = np.array([[0.75, 0.75]]), np.array([0.25])
    rect.verify(1.0, centers, radii)  # touches the right side and the top exactly
    with pytest.raises(ValueError, match=r"sticks out of the right side .* by 1\.11e-16"):
        rect.verify(math.nextafter(1.0, 0.0), centers, radii)
    with pytest.raises(ValueError, match=r"sticks out of the top side .* by 2\.22e-16"):
        rect.verify(math.nextafter(1.0, 2.0), centers, radii)  # height 1 - 2.2e-16
    rect.verify(1.0, TANGENT, np.array([0.25, 0.125]))
    with pytest.raises(ValueError, match=r"circles 0 and 1 overlap by 2\.78e-17"):
        rect.verify(1.0, TANGENT, np.array([0.25, math.nextafter(0.125, 1.0)]))
    # The height is 2 - w exactly; the float 2 - 0.9 is 2^-53 larger than that.
    w = 0.9
    y = (2 - w) - 0.25
    assert Fraction(y) + Fraction(0.25) == Fraction(2 - w) > 2 - Fraction(w)
    with pytest.raises(ValueError, match=r"circle 0 .* sticks out of the top side .* 1\.11e-16"):
        rect.verify(w, np.array([[0.45, y]]), np.array([0.25]))
    rect.verify(w, np.array([[0.45, math.nextafter(y, 0.0)]]), np.array([0.25]))


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        ("w = 0.0", r"width w = 0\.0 must satisfy 0 < w < 2"),
        ("w = -1.5", r"width w = -1\.5 must satisfy"),
        ("w = 2.0", r"width w = 2\.0 must satisfy"),
        ("w = 2.5", r"width w = 2\.5 must satisfy"),
        ("w = float('nan')", r"w\[\] is not finite"),
        ("w = float('inf')", r"w\[\] is not finite"),
        ("w = np.array([1.5])", r"w must have shape \(\)"),
        ("w = '1.5'", "w must hold real numbers"),
        ("w = True", "w must hold real numbers"),
        ("w = None", "w must hold real numbers"),
        ("r[20] = 0.1 + 1e-15", r"circle 20 .* sticks out of the right side"),
        ("c[2, 1] = np.nan", r"centers\[2, 1\] is not finite"),
        ("r[7] = np.inf", r"radii\[7\] is not finite"),
        ("c = c[:20]", r"centers must have shape \(21, 2\)"),
        ("r = np.append(r, 0.01)", r"radii must have shape \(21,?\)"),
        ("r[4] = 0.0", "circle 4 has radius 0.0"),
        ("r = r.astype(complex)", "radii must hold real numbers"),
        ("r[10] = 0.11 + 1e-12", r"circles \d+ and 10 overlap by 1e-12"),
        ("c[0] = c[1]", "circles 0 and 1 overlap"),
    ],
)
def test_rect_rejects(
    rect: ModuleType, write: Callable[[str], str], mutation: str, message: str
) -> None:
    path = write(
        _program(
            "import math\n" + RECT,
            f"""
            def run_packing():
                w, c, r = grid()
                {mutation}
                return w, c, r, 2.3658321
            """,
        )
    )
    with pytest.raises(ValueError, match=message):
        rect.evaluate(path)


def test_rect_claimed_best_is_not_believed(rect: ModuleType, write: Callable[[str], str]) -> None:
    honest = write(_program(RECT, "def run_packing():\n    return (*grid(), 2.3658321)\n"))
    m = _metrics(rect.evaluate(honest))
    assert m["sum_radii"] == pytest.approx(21 * 0.09) and m["width"] == 1.4
    liar = write(
        _program(
            RECT,
            """
            def run_packing():
                w, c, _ = grid()
                return w, c, np.full(21, 2.3658321 / 21), 2.3658321
            """,
        )
    )
    with pytest.raises(ValueError, match=r"overlap|sticks out"):
        rect.evaluate(liar)
    three = write(_program(RECT, "def run_packing():\n    return grid()\n"))
    with pytest.raises(ValueError, match=r"must return \(w, centers, radii, sum_radii\)"):
        rect.evaluate(three)


def test_rect_lying_subclass_and_object_array(
    rect: ModuleType, write: Callable[[str], str]
) -> None:
    liar = write(
        _program(
            RECT,
            """
            class Liar(np.ndarray):
                def tolist(self):
                    return [0.11] * len(self)

                def __getitem__(self, key):
                    return 0.11

                def __iter__(self):
                    return iter([0.11] * len(self))

            def run_packing():
                w, c, r = grid()
                return np.float64(w), c, r.view(Liar), 2.31
            """,
        )
    )
    assert _metrics(rect.evaluate(liar))["sum_radii"] == pytest.approx(21 * 0.09)
    objects = write(
        _program(
            RECT,
            "def run_packing():\n    w, c, r = grid()\n    return w, c.astype(object), r, 0.0\n",
        )
    )
    with pytest.raises(CallError, match="returned an array of dtype object") as info:
        rect.evaluate(objects)
    assert info.value.kind == "bad_result"


# --- min_max_distance_16 -------------------------------------------------------------------

MM16 = """
import numpy as np

def grid():
    return np.array([[float(i), float(j)] for j in range(4) for i in range(4)])
"""


def test_mm16_initial_program(mm16: ModuleType) -> None:
    m = _metrics(mm16.evaluate(str(PROBLEMS / "min_max_distance_16" / "initial_program.py")))
    assert m == {
        "ratio_squared": 18.0,
        "ratio_to_best": BEST["min_max_distance_16"] / 18.0,
        "hull_points": 4.0,
        "near_min_pairs": 24.0,
    }


def test_mm16_alphaevolve_construction(mm16: ModuleType, write: Callable[[str], str]) -> None:
    points = _data("min_max_distance_16")["points"]
    path = write(f"import numpy as np\n\ndef run_points():\n    return np.array({points!r}), 0.0\n")
    m = _metrics(mm16.evaluate(path))
    assert abs(m["ratio_squared"] - BEST["min_max_distance_16"]) < 1e-7  # 12.88926611203463
    assert m["ratio_to_best"] == pytest.approx(1.0, abs=1e-8)
    assert m["hull_points"] == 11.0
    # The score is the exact ratio, rounded once.
    p = [(Fraction(x), Fraction(y)) for x, y in points]
    d2 = [(a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 for i, a in enumerate(p) for b in p[i + 1 :]]
    assert m["ratio_squared"] == float(max(d2) / min(d2))


def test_mm16_distinctness_is_exact(mm16: ModuleType) -> None:
    pts = np.array([[float(i), float(j)] for j in range(4) for i in range(4)])
    pts[15] = pts[14]
    with pytest.raises(ValueError, match=r"points 14 and 15 coincide \(both at \(2\.0, 3\.0\)\)"):
        mm16.squared_ratio(pts)
    pts[15, 0] = math.nextafter(2.0, 3.0)  # one ulp apart: distinct, and scored as such
    assert float(mm16.squared_ratio(pts)) == pytest.approx(18.0 / 2.0**-102)
    pts[15] = [-0.0, 0.0]  # -0.0 == 0.0: the same point as point 0
    with pytest.raises(ValueError, match="points 0 and 15 coincide"):
        mm16.squared_ratio(pts)
    pts[15] = [5e-324, 0.0]
    with pytest.raises(ValueError, match="exceeds 1e300"):
        mm16.squared_ratio(pts)


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        ("p[3, 1] = np.nan", r"points\[3, 1\] is not finite"),
        ("p[0, 0] = -np.inf", r"points\[0, 0\] is not finite"),
        ("p = p[:15]", r"points must have shape \(16, 2\), got \(15, 2\)"),
        ("p = p.reshape(32)", r"points must have shape \(16, 2\)"),
        ("p = np.hstack([p, p[:, :1]])", r"points must have shape \(16, 2\)"),
        ("p = p.astype(complex)", "points must hold real numbers"),
        ("p = p > 1", "points must hold real numbers"),
        ("p = [[str(v) for v in row] for row in p]", "points must hold real numbers"),
        ("p = None", "points must hold real numbers"),
        ("p = np.zeros((16, 2))", "points 0 and 1 coincide"),
        ("p[9] = p[2]", "points 2 and 9 coincide"),
    ],
)
def test_mm16_rejects(
    mm16: ModuleType, write: Callable[[str], str], mutation: str, message: str
) -> None:
    path = write(
        _program(
            MM16,
            f"""
            def run_points():
                p = grid()
                {mutation}
                return p, 12.8892661
            """,
        )
    )
    with pytest.raises(ValueError, match=message):
        mm16.evaluate(path)


def test_mm16_claimed_best_and_lying_subclass(
    mm16: ModuleType, write: Callable[[str], str]
) -> None:
    honest = write(_program(MM16, "def run_points():\n    return grid(), 12.8892661\n"))
    assert _metrics(mm16.evaluate(honest))["ratio_squared"] == 18.0
    # Moved, rotated by 90 degrees and scaled by 4: the same shape, the same exact score.
    moved = write(_program(MM16, "def run_points():\n    return 4 * grid()[:, ::-1] - 7, 1.0\n"))
    assert _metrics(mm16.evaluate(moved))["ratio_squared"] == 18.0
    liar = write(
        _program(
            MM16,
            f"""
            class Liar(np.ndarray):
                def tolist(self):
                    return {_data("min_max_distance_16")["points"]!r}

                def __getitem__(self, key):
                    return np.asarray(self.tolist())[key]

                def __array__(self, *args, **kwargs):
                    return np.asarray(self.tolist())

            def run_points():
                return grid().view(Liar), 12.8892661
            """,
        )
    )
    assert _metrics(mm16.evaluate(liar))["ratio_squared"] == 18.0
    objects = write(_program(MM16, "def run_points():\n    return grid().astype(object), 0.0\n"))
    with pytest.raises(CallError, match="returned an array of dtype object") as info:
        mm16.evaluate(objects)
    assert info.value.kind == "bad_result"
    with pytest.raises(ValueError, match=r"must return \(points, ratio_squared\)"):
        mm16.evaluate(write(_program(MM16, "def run_points():\n    return grid()\n")))
