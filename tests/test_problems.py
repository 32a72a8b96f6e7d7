"""Tests for the bundled problems: their evaluators, run in this process on small programs
(each candidate runs in a process of its own through ``evolve.sdk``)."""

from __future__ import annotations

import importlib.util
import math
import textwrap
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from problem_kit import load_evaluator

from evolve import EvaluationResult
from evolve.sdk import CallError as CandidateError

PROBLEMS = Path(__file__).resolve().parent.parent / "problems"
BUNDLED = ("function_minimization", "circle_packing")


@pytest.fixture(scope="module")
def fm() -> ModuleType:
    return load_evaluator("function_minimization")


@pytest.fixture(scope="module")
def cp() -> ModuleType:
    return load_evaluator("circle_packing")


def _metrics(result: Any) -> dict[str, float]:
    return result.metrics if isinstance(result, EvaluationResult) else result


# --- problem files -----------------------------------------------------------------------


@pytest.mark.parametrize("problem", BUNDLED)
def test_problem_folder_layout(problem: str) -> None:
    files = sorted(p.name for p in (PROBLEMS / problem).iterdir() if p.name != "__pycache__")
    assert files == ["README.md", "evaluator.py", "initial_program.py", "problem.toml"]


@pytest.mark.parametrize("problem", BUNDLED)
def test_problem_toml_validates(problem: str) -> None:
    config_mod = pytest.importorskip("evolve.config")
    with (PROBLEMS / problem / "problem.toml").open("rb") as f:
        raw = tomllib.load(f)
    config = config_mod.ProblemConfig.model_validate(raw)
    assert config.name == problem
    assert config.evaluator.path == "evaluator.py"
    assert config.prompt.strip()
    assert not config.llm.models


@pytest.mark.parametrize("problem", BUNDLED)
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


# --- function_minimization -----------------------------------------------------------------


def test_fm_initial_program(fm: ModuleType) -> None:
    result = fm.evaluate(str(PROBLEMS / "function_minimization" / "initial_program.py"))
    assert isinstance(result, EvaluationResult)
    m = result.metrics
    assert set(m) == {"value", "best_value", "distance", "reported_error"}
    assert m["value"] == pytest.approx(3.2471473006528653, rel=1e-9)
    assert 0 < m["best_value"] <= m["value"]
    assert m["reported_error"] < 1e-12
    assert result.artifacts["per_seed"].count("\n") == len(fm.SEEDS) - 1


def test_fm_levi13_reference(fm: ModuleType) -> None:
    assert fm.levi13(1.0, 1.0) == pytest.approx(0.0, abs=1e-25)
    assert fm.levi13(0.0, 0.0) == pytest.approx(2.0)


def test_fm_optimum_scores_zero(fm: ModuleType, write: Callable[[str], str]) -> None:
    path = write(
        """
        def run_search(seed):
            return (1.0, 1.0, 0.0)
        """
    )
    m = _metrics(fm.evaluate(path))
    assert m["value"] == pytest.approx(0.0, abs=1e-25)
    assert m["distance"] == 0.0


def test_fm_fake_value_is_recomputed(fm: ModuleType, write: Callable[[str], str]) -> None:
    path = write(
        """
        def run_search(seed):
            return (3.0, -2.0, 0.0)
        """
    )
    m = _metrics(fm.evaluate(path))
    expected = fm.levi13(3.0, -2.0)
    assert expected > 10
    assert m["value"] == pytest.approx(expected)
    assert m["reported_error"] == pytest.approx(expected)


def test_fm_better_search_improves(fm: ModuleType, write: Callable[[str], str]) -> None:
    source = (PROBLEMS / "function_minimization" / "initial_program.py").read_text()
    improved = source.replace("range(100)", "range(20000)")
    path = write(improved)
    assert _metrics(fm.evaluate(path))["value"] < 3.2471473006528653


def test_fm_numpy_scalars_and_ints_accepted(fm: ModuleType, write: Callable[[str], str]) -> None:
    path = write(
        """
        import numpy as np

        def run_search(seed):
            return np.float32(1.0), 1, np.array(0.0)
        """
    )
    assert _metrics(fm.evaluate(path))["value"] == pytest.approx(0.0, abs=1e-25)


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ("(10.000000000000002, 1.0, 0.0)", "outside the bounds"),
        ("(1.0, -10.5, 0.0)", "outside the bounds"),
        ("(float('nan'), 1.0, 0.0)", "not finite"),
        ("(1.0, float('inf'), 0.0)", "not finite"),
        ("(1.0, 1.0, float('nan'))", "not finite"),
        ("(True, 1.0, 0.0)", "real number"),
        ("(1.0 + 0j, 1.0, 0.0)", "real number"),
        ("('1.0', 1.0, 0.0)", "real number"),
        ("(np.array([1.0, 2.0]), 1.0, 0.0)", "real number"),
        ("(None, 1.0, 0.0)", "real number"),
        ("(1.0, 1.0)", "must return (x, y, value)"),
        ("1.0", "must return (x, y, value)"),
    ],
)
def test_fm_rejects_bad_output(
    fm: ModuleType, write: Callable[[str], str], returned: str, message: str
) -> None:
    path = write(
        f"""
        import numpy as np

        class Liar(float):
            def __float__(self):
                return 1.0

        def run_search(seed):
            return {returned}
        """
    )
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fm.evaluate(path)


def test_fm_float_subclass_is_not_data(fm: ModuleType, write: Callable[[str], str]) -> None:
    path = write(
        """
        class Liar(float):
            def __float__(self):
                return 1.0

        def run_search(seed):
            return (Liar(5.0), 1.0, 0.0)
        """
    )
    with pytest.raises(
        CandidateError, match=r"seed 0: run_search returned a Liar \(a subclass of float\)"
    ) as info:
        fm.evaluate(path)
    assert info.value.kind == "bad_result"


def test_fm_bounds_are_inclusive(fm: ModuleType, write: Callable[[str], str]) -> None:
    path = write(
        """
        def run_search(seed):
            return (-10.0, 10.0, 0.0)
        """
    )
    assert _metrics(fm.evaluate(path))["value"] == pytest.approx(fm.levi13(-10.0, 10.0))


def test_fm_program_errors_propagate(fm: ModuleType, write: Callable[[str], str]) -> None:
    path = write(
        """
        def run_search(seed):
            raise RuntimeError("boom")
        """
    )
    with pytest.raises(
        CandidateError, match=r"^seed 0: run_search raised RuntimeError: boom$"
    ) as info:
        fm.evaluate(path)
    assert info.value.kind == "raised"
    assert 'raise RuntimeError("boom")' in info.value.traceback
    with pytest.raises(
        CandidateError, match="seed 0: the program defines no function 'run_search'"
    ):
        fm.evaluate(write("x = 1\n"))
    with pytest.raises(CandidateError, match="seed 0: the program failed to load: SyntaxError"):
        fm.evaluate(write("def run_search(seed:\n"))
    with pytest.raises(
        CandidateError, match="seed 0: the candidate's process exited with code 7"
    ) as info:
        fm.evaluate(write("import os\n\ndef run_search(seed):\n    os._exit(7)\n"))
    assert info.value.kind == "crashed"


def test_fm_module_loaded_fresh_per_seed(fm: ModuleType, write: Callable[[str], str]) -> None:
    # State kept at module level must not carry over from one seed to the next.
    path = write(
        """
        calls = []

        def run_search(seed):
            calls.append(seed)
            return (1.0, 1.0, float(len(calls) - 1))
        """
    )
    assert _metrics(fm.evaluate(path))["reported_error"] == pytest.approx(0.0, abs=1e-25)


def test_fm_candidate_cannot_patch_the_evaluator(
    fm: ModuleType, write: Callable[[str], str]
) -> None:
    # The candidate patches math, numpy, builtins and every evaluator module it can find;
    # all of that happens in its own process, so the score is the true one.
    path = write(
        """
        import builtins, gc, math, sys
        import numpy as np

        math.sin = lambda v: 0.0
        np.sin = lambda v: 0.0
        builtins.abs = lambda v: 0.0
        builtins.min = lambda *a, **k: 0.0
        for module in list(sys.modules.values()):
            if hasattr(module, "levi13"):
                module.levi13 = lambda x, y: 0.0
        for obj in gc.get_objects():
            if isinstance(obj, dict) and "levi13" in obj:
                obj["levi13"] = lambda x, y: 0.0

        def run_search(seed):
            return (3.0, -2.0, 0.0)
        """
    )
    m = _metrics(fm.evaluate(path))
    assert m["value"] == pytest.approx(fm.levi13(3.0, -2.0)) and m["value"] > 10
    assert m["best_value"] == m["value"]


# --- circle_packing ------------------------------------------------------------------------

PACKING_HEADER = """
import numpy as np

def grid():
    centers = np.array([[0.1 + 0.2 * i, 0.1 + 0.2 * j] for i in range(5) for j in range(5)]
                       + [[0.2, 0.2]])
    radii = np.full(26, 0.09)
    radii[25] = 0.01
    return centers, radii
"""


def _packing_program(body: str) -> str:
    return PACKING_HEADER + textwrap.dedent(body)


def test_cp_initial_program(cp: ModuleType) -> None:
    path = PROBLEMS / "circle_packing" / "initial_program.py"
    m = _metrics(cp.evaluate(str(path)))
    assert set(m) == {"sum_radii", "ratio_to_best", "min_radius", "max_radius"}
    expected = 2.5 + (math.sqrt(0.02) - 0.1)
    assert m["sum_radii"] == pytest.approx(expected, rel=1e-8)
    assert m["sum_radii"] < expected
    assert m["ratio_to_best"] == pytest.approx(m["sum_radii"] / 2.6359830849)
    assert m["min_radius"] == pytest.approx(math.sqrt(0.02) - 0.1, rel=1e-8)
    assert m["max_radius"] == pytest.approx(0.1, rel=1e-8)
    # The sum the program reports agrees with the recomputed one.
    spec = importlib.util.spec_from_file_location("_test_cp_initial", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.run_packing()[2] == pytest.approx(m["sum_radii"], rel=1e-12)


def test_cp_valid_simple_packing(cp: ModuleType, write: Callable[[str], str]) -> None:
    path = write(
        _packing_program(
            """
            def run_packing():
                c, r = grid()
                return c, r, 123.0
            """
        )
    )
    m = _metrics(cp.evaluate(path))
    assert m["sum_radii"] == pytest.approx(25 * 0.09 + 0.01)


def test_cp_exactly_tangent_circles_accepted(cp: ModuleType) -> None:
    # Dyadic values, so the tangencies are exact: two circles touching each other and
    # three walls, then a 3-4-5 triangle of centers (distance 5/16 = 2/16 + 3/16).
    cp.verify(np.array([[0.25, 0.25], [0.75, 0.25]]), np.array([0.25, 0.25]))
    cp.verify(np.array([[0.25, 0.25], [0.4375, 0.5]]), np.array([0.125, 0.1875]))


def test_cp_check_is_exact_not_float(cp: ModuleType) -> None:
    # In floats 0.9 + 0.1 == 1.0, but the float64 values 0.9 and 0.1 sum to more than 1.
    assert 0.9 + 0.1 <= 1.0
    with pytest.raises(ValueError, match=r"crosses the right edge of the square by 2\.78e-17"):
        cp.verify(np.array([[0.9, 0.5]]), np.array([0.1]))


def test_cp_tiny_overlap_rejected(cp: ModuleType) -> None:
    centers = np.array([[0.3, 0.5], [0.7, 0.5]])
    with pytest.raises(ValueError, match=r"circles 0 and 1 overlap by 1e-12"):
        cp.verify(centers, np.array([0.2, 0.2 + 1e-12]))
    # An overlap that a float computation of the same test misses is still an overlap.
    x0, x1, r0, r1 = 0.507092974820154, 0.7702782177955614, 0.04270501830357535, 0.220480224671832
    assert (x1 - x0) ** 2 >= (r0 + r1) ** 2
    with pytest.raises(ValueError, match="circles 0 and 1 overlap"):
        cp.verify(np.array([[x0, 0.5], [x1, 0.5]]), np.array([r0, r1]))


def test_cp_overlap_program_rejected(cp: ModuleType, write: Callable[[str], str]) -> None:
    path = write(
        _packing_program(
            """
            def run_packing():
                c, r = grid()
                r[7] = 0.11 + 1e-12
                return c, r, 0.0
            """
        )
    )
    with pytest.raises(ValueError, match=r"circles \d+ and \d+ overlap by 1e-12"):
        cp.evaluate(path)


def test_cp_touching_outside_rejected(cp: ModuleType, write: Callable[[str], str]) -> None:
    with pytest.raises(ValueError, match="crosses the right edge"):
        cp.verify(np.array([[0.75, 0.5]]), np.array([0.25 + 1e-15]))
    with pytest.raises(ValueError, match="crosses the left edge"):
        cp.verify(np.array([[0.1, 0.5]]), np.array([0.1 + 1e-15]))
    path = write(
        _packing_program(
            """
            def run_packing():
                c, r = grid()
                c[24] = [1 - 0.09 + 1e-15, 0.9]
                return c, r, 0.0
            """
        )
    )
    with pytest.raises(ValueError, match=r"circle 24 .* crosses the right edge"):
        cp.evaluate(path)


def test_cp_circle_exactly_on_walls_accepted(cp: ModuleType) -> None:
    cp.verify(np.array([[0.5, 0.5]]), np.array([0.5]))


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        ("c[3, 1] = np.nan", r"centers\[3, 1\] is not finite"),
        ("r[5] = np.inf", r"radii\[5\] is not finite"),
        ("c = c[:25]", r"shape \(26, 2\)"),
        ("r = r.reshape(26, 1)", r"shape \(26,\)"),
        ("c = c.T", r"shape \(26, 2\)"),
        ("r[0] = 0.0", "radius of circle 0 is 0.0"),
        ("r[2] = -0.01", "radius of circle 2"),
        ("c = c.astype(complex)", "real numbers"),
        ("r = r > 0", "real numbers"),
        ("r = [str(v) for v in r]", "real numbers"),
        ("c = [[0.1, 0.2], [0.3]] * 13", "numeric array"),
        ("r = None", "real numbers"),
    ],
)
def test_cp_rejects_bad_output(
    cp: ModuleType, write: Callable[[str], str], mutation: str, message: str
) -> None:
    path = write(
        _packing_program(
            f"""
            def run_packing():
                c, r = grid()
                {mutation}
                return c, r, 2.5
            """
        )
    )
    with pytest.raises(ValueError, match=message):
        cp.evaluate(path)


def test_cp_object_array_is_not_data(cp: ModuleType, write: Callable[[str], str]) -> None:
    path = write(
        _packing_program(
            """
            def run_packing():
                c, r = grid()
                return c, r.astype(object), 2.5
            """
        )
    )
    with pytest.raises(
        CandidateError, match="run_packing returned an array of dtype object"
    ) as info:
        cp.evaluate(path)
    assert info.value.kind == "bad_result"


def test_cp_candidate_cannot_patch_numpy(cp: ModuleType, write: Callable[[str], str]) -> None:
    path = write(
        _packing_program(
            """
            import fractions, math
            np.sum = lambda *a, **k: 100.0
            np.isfinite = lambda a: np.ones(np.shape(a), dtype=bool)
            math.fsum = lambda values: 100.0
            fractions.Fraction.__gt__ = lambda self, other: False

            def run_packing():
                c, r = grid()
                r[7] = 0.5  # overlaps its neighbours and crosses a wall
                return c, r, 100.0
            """
        )
    )
    with pytest.raises(ValueError, match=r"circle 7 .* crosses the left edge"):
        cp.evaluate(path)


def test_cp_rejects_wrong_return(cp: ModuleType, write: Callable[[str], str]) -> None:
    path = write(
        _packing_program(
            """
            def run_packing():
                return grid()
            """
        )
    )
    with pytest.raises(ValueError, match="must return"):
        cp.evaluate(path)


def test_cp_lying_subclass_not_trusted(cp: ModuleType, write: Callable[[str], str]) -> None:
    path = write(
        _packing_program(
            """
            class Liar(np.ndarray):
                def sum(self, *args, **kwargs):
                    return 100.0

                def tolist(self):
                    return [1.0] * len(self)

                def __iter__(self):
                    return iter([1.0] * len(self))

                def __getitem__(self, key):
                    return 1.0

            def run_packing():
                c, r = grid()
                r = r.view(Liar)
                return c, r, float(np.sum(r))
            """
        )
    )
    m = _metrics(cp.evaluate(path))
    assert m["sum_radii"] == pytest.approx(25 * 0.09 + 0.01)
    assert m["max_radius"] == pytest.approx(0.09)


def test_cp_list_input_accepted(cp: ModuleType, write: Callable[[str], str]) -> None:
    path = write(
        _packing_program(
            """
            def run_packing():
                c, r = grid()
                return c.tolist(), tuple(r.tolist()), 0
            """
        )
    )
    assert _metrics(cp.evaluate(path))["sum_radii"] == pytest.approx(25 * 0.09 + 0.01)


def test_cp_improved_grid_scores_higher(cp: ModuleType, write: Callable[[str], str]) -> None:
    source = (PROBLEMS / "circle_packing" / "initial_program.py").read_text()
    # Moving the gap circle to a corner pocket is still valid; the verifier accepts it.
    moved = source.replace("centers.append([0.2, 0.2])", "centers.append([0.4, 0.4])")
    assert moved != source
    m = _metrics(cp.evaluate(write(moved)))
    assert m["sum_radii"] == pytest.approx(2.5 + math.sqrt(0.02) - 0.1, rel=1e-8)
