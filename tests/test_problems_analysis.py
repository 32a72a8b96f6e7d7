"""Tests for the analysis problems erdos_min_overlap and first_autocorrelation: their
folders, their exact verifiers (traps included) and AlphaEvolve's published constructions.

Most checks call the evaluators' ``score`` on data directly; a few run candidate programs
through ``evaluate`` (each in a process of its own, through ``evolve.sdk``)."""

from __future__ import annotations

import json
import math
import random
import time
import tomllib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from problem_kit import load_module

from evolve import EvaluationResult
from evolve.sdk import CallError as CandidateError

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "problems"
DATA = Path(__file__).resolve().parent / "data"
ANALYSIS = ("erdos_min_overlap", "first_autocorrelation")

ERDOS_INITIAL = 0.4527757035566547
"""The cos^2 bump on 200 steps (numpy's float value; the exact one agrees to 1e-15)."""
ERDOS_ALPHAEVOLVE = 0.38092303510845016
"""AlphaEvolve's 95-step function, as numpy's np.correlate evaluates it (published: 0.380924)."""
C1_FIRST_PAPER = 1.5052939684401607
C1_SECOND_PAPER = 1.503163554681561
"""AlphaEvolve's 600- and 1319-step functions, as numpy evaluates them (published: 1.5053,
1.503164)."""


@pytest.fixture(scope="module")
def em() -> ModuleType:
    return load_module(PROBLEMS / "erdos_min_overlap" / "evaluator.py", "_test_eval_erdos")


@pytest.fixture(scope="module")
def fa() -> ModuleType:
    return load_module(PROBLEMS / "first_autocorrelation" / "evaluator.py", "_test_eval_c1")


@pytest.fixture(scope="module")
def erdos_program() -> ModuleType:
    return load_module(PROBLEMS / "erdos_min_overlap" / "initial_program.py", "_test_erdos_initial")


def _metrics(result: Any) -> dict[str, float]:
    return result.metrics if isinstance(result, EvaluationResult) else result


def _erdos_published() -> np.ndarray:
    half = json.loads((DATA / "erdos_min_overlap" / "alphaevolve.json").read_text())["half"]
    return np.array(half[:-1] + half[::-1])


def _c1_published(steps: int) -> list[float]:
    data = json.loads((DATA / "first_autocorrelation" / f"alphaevolve_{steps}.json").read_text())
    return data["heights"]


# --- problem folders ----------------------------------------------------------------------


@pytest.mark.parametrize("problem", ANALYSIS)
def test_folder_and_config(problem: str) -> None:
    files = sorted(p.name for p in (PROBLEMS / problem).iterdir() if p.name != "__pycache__")
    assert files == ["README.md", "evaluator.py", "initial_program.py", "problem.toml"]
    config_mod = pytest.importorskip("evolve.config")
    with (PROBLEMS / problem / "problem.toml").open("rb") as f:
        raw = tomllib.load(f)
    config = config_mod.ProblemConfig.model_validate(raw)
    assert config.name == problem
    assert config.evaluator.direction == "minimize"
    assert config.prompt.strip() and not config.llm.models
    assert config.benchmark.best_known == config.search.target_score
    assert config.benchmark.source and "math" in config.benchmark.suites
    assert config.search.iterations <= 300


@pytest.mark.parametrize("problem", ANALYSIS)
def test_initial_program_has_one_function_in_block(problem: str) -> None:
    text = (PROBLEMS / problem / "initial_program.py").read_text()
    lines = text.splitlines()
    assert text.count("EVOLVE-BLOCK-START") == 1 and text.count("EVOLVE-BLOCK-END") == 1
    block = lines[lines.index("# EVOLVE-BLOCK-START") + 1 : lines.index("# EVOLVE-BLOCK-END")]
    top_level = [ln for ln in block if ln and not ln[0].isspace()]
    assert top_level == ["def construct_function():"]
    assert 10 <= len(block) <= 25


# --- the exact convolution both verifiers use -----------------------------------------------


@pytest.mark.parametrize("module", ["em", "fa"])
def test_exact_convolution_matches_direct_sums(module: str, request: Any) -> None:
    conv = request.getfixturevalue(module).exact_convolution
    rng = random.Random(1)
    for _ in range(20):
        a = [rng.randrange(0, 1000) for _ in range(rng.randrange(1, 30))]
        b = [rng.randrange(0, 1000) for _ in range(rng.randrange(1, 30))]
        assert conv(a, b) == np.convolve(a, b).tolist()
    big = [rng.getrandbits(1100) for _ in range(40)] + [0, 0]
    other = [rng.getrandbits(700) for _ in range(25)]
    direct = [
        sum(big[i] * other[k - i] for i in range(len(big)) if 0 <= k - i < len(other))
        for k in range(len(big) + len(other) - 1)
    ]
    assert conv(big, other) == direct
    assert conv([0, 0], [5]) == [0, 0]


@pytest.mark.parametrize("module", ["em", "fa"])
def test_dyadic_is_exact(module: str, request: Any) -> None:
    dyadic = request.getfixturevalue(module).dyadic
    values = [0.0, 5e-324, 0.1, 1.0, 3.0, 1e6]
    m, s = dyadic(values)
    assert [Fraction(v) for v in values] == [Fraction(k, 2**s) for k in m]


# --- erdos_min_overlap ------------------------------------------------------------------------


def test_erdos_initial_program(em: ModuleType) -> None:
    path = PROBLEMS / "erdos_min_overlap" / "initial_program.py"
    m = _metrics(em.evaluate(str(path)))
    assert set(m) == {"overlap_bound", "ratio_to_best", "steps", "near_max_shifts"}
    assert all(type(v) is float for v in m.values())
    assert m["overlap_bound"] == pytest.approx(ERDOS_INITIAL, abs=1e-12)
    assert m["ratio_to_best"] == pytest.approx(0.380924 / m["overlap_bound"])
    assert m["steps"] == 200.0 and m["near_max_shifts"] == 10.0
    # The bound the program reports agrees with the recomputed one.
    program = load_module(path, "_test_erdos_initial_run")
    assert program.run_overlap()[1] == pytest.approx(m["overlap_bound"], abs=1e-14)


def test_erdos_constant_half_scores_one_half(em: ModuleType) -> None:
    m = em.score(np.full(101, 0.5))
    assert m["overlap_bound"] == 0.5 and m["steps"] == 101.0
    assert em.score([0.5])["overlap_bound"] == 0.5
    assert em.score([0, 1, 1, 0])["overlap_bound"] == 0.5  # 0/1 ints read as floats


def test_erdos_bound_is_exact(em: ModuleType) -> None:
    d = 2.0**-53
    # Shift 0 gives 2 (1/2 + d)(1/2 - d) = 1/2 - 2 d^2, which float64 rounds to 1/2.
    bound, near = em.overlap(np.array([0.5 + d, 0.5 - d]))
    assert float(bound) == 0.5
    assert bound == Fraction(1, 2) - 2 * Fraction(d) ** 2
    assert near == 1


def test_erdos_published_construction(em: ModuleType, erdos_program: ModuleType) -> None:
    h = _erdos_published()
    assert len(h) == 95 and float(np.sum(h)) == 47.5  # numpy's sum says it is balanced ...
    with pytest.raises(ValueError, match=r"the integral of h is 1 - 5\.49e-17, not exactly 1"):
        em.score(h)  # ... but its exact sum is 47.5 - 2.6e-15
    balanced = erdos_program.exact_half_mean(h)
    assert np.max(np.abs(balanced - h)) < 4e-16
    m = em.score(balanced)
    assert abs(m["overlap_bound"] - ERDOS_ALPHAEVOLVE) < 1e-14
    assert 0 < 0.380924 - m["overlap_bound"] < 1e-6  # published rounded up to 0.380924
    assert m["near_max_shifts"] == 74.0 and m["steps"] == 95.0


def test_erdos_exact_half_mean(erdos_program: ModuleType) -> None:
    rng = np.random.default_rng(3)
    shifted = 0.2 + 0.6 * rng.random(999)
    for h in (
        shifted - np.mean(shifted) + 0.5,  # mean 1/2 up to rounding
        np.concatenate([np.zeros(500), np.ones(499), [1.0 - 3e-10]]),  # sum n/2 - 3e-10
        np.concatenate([np.ones(300), np.zeros(300), [0.5 + 4e-10]]),  # sum n/2 + 4e-10
    ):
        out = erdos_program.exact_half_mean(h)
        assert np.all((out >= 0) & (out <= 1))
        assert sum(map(Fraction, out.tolist())) == Fraction(len(h), 2)
        assert np.max(np.abs(out - h)) < 1e-9
    off = np.full(10, 0.5 + 2e-9)
    assert np.array_equal(erdos_program.exact_half_mean(off), off)  # left for the evaluator
    bad = np.array([0.5, -0.25, 1.25])
    assert np.array_equal(erdos_program.exact_half_mean(bad), bad)


def _balanced(n: int) -> np.ndarray:
    return np.full(n, 0.5)


@pytest.mark.parametrize(
    ("heights", "message"),
    [
        ("h[7] = np.nan", r"heights\[7\] is not finite \(nan\)"),
        ("h[3] = np.inf", r"heights\[3\] is not finite \(inf\)"),
        ("h[0] = -np.inf", r"heights\[0\] is not finite"),
        ("h[5] = math.nextafter(0.0, -1.0)", r"heights\[5\] is -5e-324; heights must be >= 0"),
        (
            "h[9] = math.nextafter(1.0, 2.0)",
            r"heights\[9\] is 1\.0000000000000002; heights must be <= 1",
        ),
        ("h[2] = math.nextafter(0.5, 1.0)", r"the integral of h is 1 \+ 2\.22e-17"),
        ("h[2] = math.nextafter(0.5, 0.0)", r"the integral of h is 1 - 1\.11e-17"),
        ("h = h * 0.999", r"the integral of h is 1 - 0\.001"),
        ("h = np.zeros(10)", "the integral of h is 1 - 1, not exactly 1"),
        ("h = h[:0]", "heights is empty"),
        ("h = np.full(10_001, 0.5)", "heights has 10001 steps; at most 10000"),
        ("h = h.reshape(2, 5)", r"heights must have shape \(any,?\), got \(2, 5\)"),
        ("h = np.array(0.5)", r"must have shape \(any,?\), got \(\)"),
        ("h = h.astype(complex)", "heights must hold real numbers, got dtype complex"),
        ("h = h > 0", "heights must hold real numbers, got dtype bool"),
        ("h = [str(v) for v in h]", "heights must hold real numbers"),
        ("h = [0.5, [0.5, 0.5]]", "heights cannot be read as a numeric array"),
        ("h = None", "heights must hold real numbers"),
    ],
)
def test_erdos_rejects(em: ModuleType, heights: str, message: str) -> None:
    h = _balanced(10)
    env = {"h": h, "np": np, "math": math}
    exec(heights, env)
    with pytest.raises(ValueError, match=message):
        em.score(env["h"])


def test_erdos_nan_and_lying_subclass_programs(em: ModuleType, write: Callable[[str], str]) -> None:
    nan = write(
        """
        import numpy as np

        def run_overlap():
            h = np.full(10, 0.5)
            h[4] = np.nan
            return h, 0.3
        """
    )
    with pytest.raises(ValueError, match=r"heights\[4\] is not finite"):
        em.evaluate(nan)
    # The data is h = 1/2 everywhere (bound 1/2); its methods pretend otherwise.
    liar = write(
        """
        import numpy as np

        class Liar(np.ndarray):
            def tolist(self):
                return [0.0, 1.0] * (len(self) // 2)

            def __getitem__(self, key):
                return 0.0

            def __iter__(self):
                return iter([0.0] * len(self))

            def sum(self, *args, **kwargs):
                return len(self) / 2

        def run_overlap():
            return np.full(10, 0.5).view(Liar), 0.1
        """
    )
    m = _metrics(em.evaluate(liar))
    assert m["overlap_bound"] == 0.5 and m["steps"] == 10.0


def test_erdos_reported_value_is_ignored(em: ModuleType, write: Callable[[str], str]) -> None:
    claims = write(
        """
        def run_overlap():
            return [0.5] * 8, 0.3809
        """
    )
    assert _metrics(em.evaluate(claims))["overlap_bound"] == 0.5
    only_number = write("def run_overlap():\n    return 0.380924\n")
    with pytest.raises(ValueError, match=r"run_overlap must return \(heights, overlap_bound\)"):
        em.evaluate(only_number)
    nothing = write("def run_overlap():\n    return [], 0.380924\n")
    with pytest.raises(ValueError, match="heights is empty"):
        em.evaluate(nothing)


def test_erdos_object_array_is_not_data(em: ModuleType, write: Callable[[str], str]) -> None:
    path = write(
        """
        import numpy as np

        def run_overlap():
            return np.full(4, 0.5).astype(object), 0.3
        """
    )
    with pytest.raises(CandidateError, match="returned an array of dtype object") as info:
        em.evaluate(path)
    assert info.value.kind == "bad_result"


def _subnormal_chain_heights(n: int) -> np.ndarray:
    """n heights summing to exactly n/2, from 5e-324 up to 1: the widest dynamic range."""
    chain = [2.0**-1074] + [2.0 ** (e + 52) - 2.0**e for e in range(-1074, -34, 52)]
    assert math.fsum(chain) == 2.0**-34  # telescoping; every term is a float64
    h = [*chain, 1.0 - 2.0**-34]  # these sum to 1
    ones = n // 2 - 1
    h += [1.0] * ones + [0.0] * (n - len(h) - ones)
    assert len(h) == n and sum(map(Fraction, h)) == Fraction(n, 2)
    return np.array(h)


def test_erdos_widest_range_is_exact_and_fast(em: ModuleType) -> None:
    h = _subnormal_chain_heights(10_000)
    start = time.perf_counter()
    m = em.score(h)
    assert time.perf_counter() - start < 10.0  # about 1 s on a slow core
    in_floats = 2 * np.max(np.correlate(h, 1 - h, mode="full")) / len(h)
    assert m["overlap_bound"] == pytest.approx(in_floats, rel=1e-12)


def test_erdos_candidate_cannot_patch_the_evaluator(
    em: ModuleType, write: Callable[[str], str]
) -> None:
    path = write(
        """
        import decimal, fractions, sys
        import numpy as np

        np.correlate = lambda *a, **k: np.zeros(3)
        fractions.Fraction.__ne__ = lambda self, other: False
        decimal.Context = lambda **kwargs: None
        for module in list(sys.modules.values()):
            if hasattr(module, "overlap"):
                module.overlap = lambda h: (fractions.Fraction(1, 10), 1)

        def run_overlap():
            return [0.5] * 6, 0.1
        """
    )
    assert _metrics(em.evaluate(path))["overlap_bound"] == 0.5


# --- first_autocorrelation --------------------------------------------------------------------


def test_c1_initial_program(fa: ModuleType) -> None:
    path = PROBLEMS / "first_autocorrelation" / "initial_program.py"
    m = _metrics(fa.evaluate(str(path)))
    assert set(m) == {"c1_bound", "ratio_to_best", "steps", "near_max_points"}
    assert all(type(v) is float for v in m.values())
    assert m["c1_bound"] == 2.0
    assert m["ratio_to_best"] == pytest.approx(1.503164 / 2.0)
    assert m["steps"] == 100.0 and m["near_max_points"] == 1.0
    assert load_module(path, "_test_c1_initial_run").run_autocorrelation()[1] == 2.0


@pytest.mark.parametrize(
    ("steps", "expected", "published", "near"),
    [(600, C1_FIRST_PAPER, 1.5053, 445.0), (1319, C1_SECOND_PAPER, 1.503164, 940.0)],
)
def test_c1_published_constructions(
    fa: ModuleType, steps: int, expected: float, published: float, near: float
) -> None:
    m = fa.score(_c1_published(steps))
    assert m["steps"] == float(steps) and m["near_max_points"] == near
    assert abs(m["c1_bound"] - expected) < 1e-13
    assert 0 < published - m["c1_bound"] < 1e-5  # the papers round up
    if steps == 1319:
        assert m["ratio_to_best"] == pytest.approx(1.0000003, abs=1e-7)


def test_c1_bound_is_exact_and_scale_free(fa: ModuleType) -> None:
    d = 2.0**-60
    bound, near = fa.autoconvolution_bound(np.array([1.0, d]))
    assert bound == Fraction(4, 1) / (1 + Fraction(d)) ** 2 and near == 1
    # The known cheat: tiny heights underflow in a float convolution and score 0 there.
    tiny = [x / 1.1**3921 for x in (1.0, 2.0, 3.0)]
    assert np.max(np.convolve(tiny, tiny)) == 0.0
    assert fa.score(tiny)["c1_bound"] == fa.score([1.0, 2.0, 3.0])["c1_bound"] == 2.0
    a = np.array(_c1_published(600))
    assert fa.score(a * 2.0**-900)["c1_bound"] == fa.score(a)["c1_bound"]
    assert fa.score([1e6, 1e6])["c1_bound"] == 2.0  # the maximum height is allowed


def test_c1_widest_range_is_fast(fa: ModuleType) -> None:
    rng = np.random.default_rng(5)
    a = rng.random(10_000) * 1e6
    a[::3] = 5e-324
    start = time.perf_counter()
    m = fa.score(a)
    assert time.perf_counter() - start < 10.0  # under a second on a slow core
    assert m["steps"] == 10_000.0 and 1.0 < m["c1_bound"] < 4.0


@pytest.mark.parametrize(
    ("heights", "message"),
    [
        ("a[7] = np.nan", r"heights\[7\] is not finite \(nan\)"),
        ("a[3] = np.inf", r"heights\[3\] is not finite \(inf\)"),
        ("a[5] = math.nextafter(0.0, -1.0)", r"heights\[5\] is -5e-324; heights must be >= 0"),
        ("a[1] = -1.0", r"heights\[1\] is -1\.0; heights must be >= 0"),
        (
            "a[9] = math.nextafter(1e6, math.inf)",
            r"heights\[9\] is 1000000\.0000000001; heights must be <= 1e\+06",
        ),
        ("a = np.zeros(10)", "every height is 0: f must not be the zero function"),
        ("a = a[:0]", "heights is empty"),
        ("a = np.ones(10_001)", "heights has 10001 steps; at most 10000"),
        ("a = a.reshape(5, 2)", r"heights must have shape \(any,?\), got \(5, 2\)"),
        ("a = a.astype(complex)", "heights must hold real numbers, got dtype complex"),
        ("a = a > 0", "heights must hold real numbers, got dtype bool"),
        ("a = ['1.0'] * 3", "heights must hold real numbers"),
        ("a = [1.0, [1.0]]", "heights cannot be read as a numeric array"),
        ("a = {'heights': [1.0]}", "heights must hold real numbers"),
    ],
)
def test_c1_rejects(fa: ModuleType, heights: str, message: str) -> None:
    env = {"a": np.ones(10), "np": np, "math": math}
    exec(heights, env)
    with pytest.raises(ValueError, match=message):
        fa.score(env["a"])


def test_c1_traps_through_programs(fa: ModuleType, write: Callable[[str], str]) -> None:
    nan = write(
        """
        import numpy as np

        def run_autocorrelation():
            a = np.ones(10)
            a[2] = np.nan
            return a, 1.5
        """
    )
    with pytest.raises(ValueError, match=r"heights\[2\] is not finite"):
        fa.evaluate(nan)
    # The data is constant (bound 2); the subclass's methods pretend otherwise.
    liar = write(
        """
        import numpy as np

        class Liar(np.ndarray):
            def tolist(self):
                return _published

            def __getitem__(self, key):
                return 1.0

            def max(self, *args, **kwargs):
                return 0.0

        _published = [1.0, 0.0, 0.0, 1.0]

        def run_autocorrelation():
            return np.ones(4).view(Liar), 1.503
        """
    )
    assert _metrics(fa.evaluate(liar))["c1_bound"] == 2.0
    objects = write(
        """
        import numpy as np

        def run_autocorrelation():
            return np.ones(4).astype(object), 1.503
        """
    )
    with pytest.raises(CandidateError, match="returned an array of dtype object") as info:
        fa.evaluate(objects)
    assert info.value.kind == "bad_result"


def test_c1_claimed_best_known_without_construction(
    fa: ModuleType, write: Callable[[str], str]
) -> None:
    claims = write("def run_autocorrelation():\n    return [1.0] * 5, 1.503164\n")
    assert _metrics(fa.evaluate(claims))["c1_bound"] == 2.0
    only_number = write("def run_autocorrelation():\n    return 1.503164\n")
    with pytest.raises(ValueError, match=r"must return \(heights, c1_bound\), got float"):
        fa.evaluate(only_number)
    nothing = write("def run_autocorrelation():\n    return None, 1.503164\n")
    with pytest.raises(ValueError, match="heights must hold real numbers"):
        fa.evaluate(nothing)
