"""Tests for the bundled problems learning_dynamics (regret minimisation in self-play) and
golomb_ruler_c (a C program: EVOLVE-BLOCKs and evaluators in any language). Evaluators run
in this process; candidates run in processes of their own (Python through ``evolve.sdk``,
C compiled with ``cc`` and run as a binary)."""

from __future__ import annotations

import functools
import shutil
import textwrap
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from problem_kit import load_evaluator

from evolve import EvaluationResult
from evolve.sdk import CallError

PROBLEMS = Path(__file__).resolve().parent.parent / "problems"
INITIAL = {"learning_dynamics": "initial_program.py", "golomb_ruler_c": "initial_program.c"}

# Measured with this file's rules (see each problem's README).
REGRET_MATCHING = 0.019566060270742387
REGRET_MATCHING_PLUS = 0.010311
HEDGE = 0.014524
PREDICTIVE_RM_PLUS = 0.002078
OPTIMAL_RULER = (0, 2, 6, 24, 29, 40, 43, 55, 68, 75, 76, 85)


@pytest.fixture(scope="module")
def ld() -> ModuleType:
    return load_evaluator("learning_dynamics")


@pytest.fixture(scope="module")
def gr() -> ModuleType:
    return load_evaluator("golomb_ruler_c")


# --- problem files -----------------------------------------------------------------------


@pytest.mark.parametrize("problem", sorted(INITIAL))
def test_problem_folder_layout(problem: str) -> None:
    files = sorted(p.name for p in (PROBLEMS / problem).iterdir() if p.name != "__pycache__")
    assert files == sorted(["README.md", "evaluator.py", INITIAL[problem], "problem.toml"])


@pytest.mark.parametrize("problem", sorted(INITIAL))
def test_problem_toml_validates(problem: str) -> None:
    from evolve.config import ProblemConfig

    with (PROBLEMS / problem / "problem.toml").open("rb") as f:
        config = ProblemConfig.model_validate(tomllib.load(f))
    assert config.name == problem
    assert config.initial_program == INITIAL[problem]
    assert config.evaluator.path == "evaluator.py"
    assert config.evaluator.direction == "minimize"
    assert config.prompt.strip()
    assert not config.llm.models
    assert "algorithms" in config.benchmark.suites
    assert config.benchmark.source


def test_benchmark_values() -> None:
    from evolve.problem import load_problem

    assert load_problem(str(PROBLEMS / "learning_dynamics")).config.benchmark.best_known is None
    golomb = load_problem(str(PROBLEMS / "golomb_ruler_c")).config.benchmark
    assert golomb.best_known == 85.0
    assert golomb.suites == ["algorithms", "smoke"]


@pytest.mark.parametrize(
    ("problem", "language", "start", "end", "opening"),
    [
        ("learning_dynamics", "python", "# EVOLVE-BLOCK-START", "# EVOLVE-BLOCK-END", "def "),
        ("golomb_ruler_c", "c", "// EVOLVE-BLOCK-START", "// EVOLVE-BLOCK-END", "static void "),
    ],
)
def test_initial_program_has_one_function_in_block(
    problem: str, language: str, start: str, end: str, opening: str
) -> None:
    from evolve.problem import load_problem

    loaded = load_problem(str(PROBLEMS / problem))
    assert loaded.language == language
    assert loaded.blocks.marked and len(loaded.blocks.regions) == 1
    text = (PROBLEMS / problem / INITIAL[problem]).read_text()
    lines = text.splitlines()
    block = lines[lines.index(start) + 1 : lines.index(end)]
    code = [ln for ln in block if ln and not ln[0].isspace() and not ln.startswith(("/*", " *"))]
    functions = [ln for ln in code if ln.startswith(opening)]
    assert len(functions) == 1
    assert 10 <= len(block) <= 25


# --- learning_dynamics -------------------------------------------------------------------

RM_PLUS = """
def next_strategy(regrets, state):
    prev = state.get("prev", np.zeros_like(regrets))
    q = np.maximum(state.get("q", np.zeros_like(regrets)) + regrets - prev, 0.0)
    total = q.sum()
    s = q / total if total > 0 else np.full(len(regrets), 1.0 / len(regrets))
    return s, {"prev": regrets.copy(), "q": q}
"""

PREDICTIVE_RM_PLUS_RULE = """
def next_strategy(regrets, state):
    prev = state.get("prev", np.zeros_like(regrets))
    inst = regrets - prev
    q = np.maximum(state.get("q", np.zeros_like(regrets)) + inst, 0.0)
    p = np.maximum(q + inst, 0.0)
    total = p.sum()
    s = p / total if total > 0 else np.full(len(regrets), 1.0 / len(regrets))
    return s, {"prev": regrets.copy(), "q": q}
"""

HEDGE_RULE = """
def next_strategy(regrets, state):
    t = state.get("t", np.zeros(1))[0] + 1.0
    eta = 2.0 * np.sqrt(np.log(len(regrets)) / t)
    w = np.exp(eta * (regrets - regrets.max()))
    return w / w.sum(), {"t": np.array([t])}
"""


@pytest.fixture
def rule(tmp_path: Path) -> Callable[[str], str]:
    """A learning_dynamics program: the initial one with ``source`` as its block."""
    text = (PROBLEMS / "learning_dynamics" / "initial_program.py").read_text()
    head, rest = text.split("# EVOLVE-BLOCK-START\n")
    _, tail = rest.split("# EVOLVE-BLOCK-END\n")
    counter = iter(range(1000))

    def _rule(source: str) -> str:
        path = tmp_path / f"rule_{next(counter)}.py"
        body = textwrap.dedent(source).strip("\n")
        path.write_text(f"{head}# EVOLVE-BLOCK-START\n{body}\n\n\n# EVOLVE-BLOCK-END\n{tail}")
        return str(path)

    return _rule


def test_ld_initial_program(ld: ModuleType) -> None:
    result = ld.evaluate(str(PROBLEMS / "learning_dynamics" / "initial_program.py"))
    assert isinstance(result, EvaluationResult)
    m = result.metrics
    assert set(m) == {"exploitability", "zero_sum_nashconv", "general_sum_cce_gap", "worst_gap"}
    assert all(isinstance(v, float) for v in m.values())
    assert m["exploitability"] == pytest.approx(REGRET_MATCHING, rel=1e-6)
    assert m["zero_sum_nashconv"] == pytest.approx(0.024258156827867392, rel=1e-6)
    assert m["general_sum_cce_gap"] == pytest.approx(0.005489770599367366, rel=1e-6)
    assert result.artifacts["per_game"].count("\n") == len(ld.make_games()) - 1


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (RM_PLUS, REGRET_MATCHING_PLUS),
        (HEDGE_RULE, HEDGE),
        (PREDICTIVE_RM_PLUS_RULE, PREDICTIVE_RM_PLUS),
    ],
    ids=["rm_plus", "hedge", "predictive_rm_plus"],
)
def test_ld_baselines(
    ld: ModuleType, rule: Callable[[str], str], source: str, expected: float
) -> None:
    score = ld.evaluate(rule(source)).metrics["exploitability"]
    assert score == pytest.approx(expected, rel=1e-3)
    assert score < REGRET_MATCHING  # each beats regret matching on these instances


def test_ld_gap_reference(ld: ModuleType) -> None:
    pennies = np.array([[1.0, -1.0], [-1.0, 1.0]])
    game = ld.Game("pennies", pennies, -pennies, True)
    half = np.full((4, 2), 0.5)
    assert ld.gap(game, half, half) == 0.0
    pure = np.tile([1.0, 0.0], (4, 1))
    assert ld.gap(game, pure, pure) == pytest.approx(2.0)
    # General-sum: a coordination game for the column player; the row player's second
    # action is dominant. Both on action 0: the row player gains 1 by deviating.
    coord = np.array([[2.0, 0.0], [0.0, 1.0]])
    game2 = ld.Game("dominant", np.array([[0.0, 0.0], [1.0, 1.0]]), coord, False)
    assert ld.gap(game2, pure, pure) == pytest.approx(1.0)
    # Alternating (0, 0), (1, 1) in the coordination game: a correlated equilibrium, gap 0
    # (the product of its marginals, half-half each, would not be one).
    cgame = ld.Game("coordination", coord, coord, False)
    alternate = np.tile([[1.0, 0.0], [0.0, 1.0]], (2, 1))
    assert ld.gap(cgame, alternate, alternate) == 0.0


def test_ld_games_are_fixed(ld: ModuleType) -> None:
    games = ld.make_games()
    again = ld.make_games()
    assert len(games) == 8 and sum(g.zero_sum for g in games) == 6
    for g, h in zip(games, again, strict=True):
        assert np.array_equal(g.a, h.a) and np.array_equal(g.b, h.b)
        assert np.abs(g.a).max() <= 1.0 and np.abs(g.b).max() <= 1.0
        if g.zero_sum:
            assert np.array_equal(g.b, -g.a)


def _bad_rule(expr: str, when: str = "True") -> str:
    return f"""
    class Liar(np.ndarray):
        def sum(self, *args, **kwargs):
            return 1.0

    def next_strategy(regrets, state):
        n = len(regrets)
        t = state.get("t", np.zeros(1))[0] + 1
        state = {{"t": np.array([t])}}
        if {when}:
            return {expr}, state
        return np.full(n, 1.0 / n), state
    """


@pytest.mark.parametrize(
    ("expr", "when", "message"),
    [
        ("np.full(n, np.nan)", "True", r"step 1, player 1 .*entry 0 is not finite \(nan\)"),
        ("np.r_[np.inf, np.zeros(n - 1)]", "True", r"step 1, player 1 .*not finite \(inf\)"),
        ("np.r_[1.5, -0.5, np.zeros(n - 2)]", "True", r"step 1, player 1 .*entry 1 is negative"),
        ("np.full(n, 1.0 / n) * (1 + 1e-6)", "t == 3", r"step 3, player 1 .*sums to 1\.000001"),
        ("np.full(n, 0.9 / n)", "True", r"step 1, player 1 .*off 1 by 0\.1 \(tolerance 1e-09\)"),
        ("np.full(n + 1, 1.0 / (n + 1))", "True", r"step 1, player 1 .*shape \(3,\), got \(4,\)"),
        ("np.full((n, 1), 1.0 / n)", "True", r"shape \(3,\), got \(3, 1\)"),
        (
            "np.array([1.0] + [0.0] * (n - 1), dtype=object)",
            "True",
            r"step 1, player 1 .*dtype object",
        ),
        ("np.ones(n, dtype=bool)", "True", r"dtype bool"),
        ("np.full(n, 1.0 / n) + 0j", "True", r"dtype complex"),
        (
            "np.r_[2.0, -1.0, np.zeros(n - 2)].view(Liar)",
            "True",
            r"step 1, player 1 .*entry 1 is negative",
        ),
        ("np.full(n, np.nan)", "n == 10 and t == 5", r"step 5, player 2 \(game 5"),
    ],
)
def test_ld_rejects_bad_strategies(
    ld: ModuleType, rule: Callable[[str], str], expr: str, when: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ld.evaluate(rule(_bad_rule(expr, when)))


def test_ld_sum_within_tolerance_is_renormalised(
    ld: ModuleType, rule: Callable[[str], str]
) -> None:
    exact = ld.evaluate(rule(_bad_rule("np.full(n, 1.0 / n)"))).metrics["exploitability"]
    close = ld.evaluate(rule(_bad_rule("np.full(n, 1.0 / n) * (1 + 5e-10)")))
    assert close.metrics["exploitability"] == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("[1.0]", r"step 1, player 1 .*state must be a dict"),
        ("{'t': [1.0]}", r"state\['t'\] must be a numeric numpy array"),
        ("{'t': np.array([None])}", r"state\['t'\] must be a numeric numpy array"),
        ("{1: np.zeros(1)}", r"state\[1\] must be a numeric numpy array"),
    ],
)
def test_ld_rejects_bad_state(
    ld: ModuleType, rule: Callable[[str], str], state: str, message: str
) -> None:
    path = rule(
        f"""
        def next_strategy(regrets, state):
            return np.full(len(regrets), 1.0 / len(regrets)), {state}
        """
    )
    with pytest.raises(ValueError, match=message):
        ld.evaluate(path)


def test_ld_rule_with_shared_globals_fails_replay(
    ld: ModuleType, rule: Callable[[str], str]
) -> None:
    # A rule that keeps a call count outside its state: in self-play the row player makes
    # the odd calls, the column player the even ones; replayed alone, a player makes both.
    path = rule(
        """
        _CALLS = [0]

        def next_strategy(regrets, state):
            _CALLS[0] += 1
            s = np.full(len(regrets), 1.0 / len(regrets))
            if _CALLS[0] % 2 == 0:
                s = np.zeros(len(regrets))
                s[0] = 1.0
            return s, state
        """
    )
    with pytest.raises(ValueError, match=r"step 2, player 1 .*replayed from the player's own"):
        ld.evaluate(path)


def test_ld_rule_peeking_at_the_game_fails_replay(
    ld: ModuleType, rule: Callable[[str], str]
) -> None:
    # Reads the payoff matrix from self_play's frame; the replay has no game to read.
    path = rule(
        """
        import sys

        def next_strategy(regrets, state):
            n = len(regrets)
            a = sys._getframe(1).f_locals.get("a")
            s = np.zeros(n)
            if a is not None and a.shape[0] == n:
                s[int(np.argmax(a.min(axis=1)))] = 1.0  # the maximin action
            else:
                s[:] = 1.0 / n
            return s, state
        """
    )
    with pytest.raises(ValueError, match=r"step 1, player 1 \(game 0.*replayed"):
        ld.evaluate(path)


def test_ld_forged_self_play_is_checked(ld: ModuleType, tmp_path: Path) -> None:
    # A program whose self_play reports play that next_strategy does not produce.
    path = tmp_path / "forged.py"
    source = (PROBLEMS / "learning_dynamics" / "initial_program.py").read_text()
    source += textwrap.dedent(
        """

        def self_play(games, steps):
            return "", [
                (np.full((steps, a.shape[0]), 1.0 / a.shape[0]),
                 np.full((steps, a.shape[1]), 1.0 / a.shape[1]))
                for a, b in games
            ]
        """
    )
    path.write_text(source)
    with pytest.raises(ValueError, match=r"step 2, player 1 \(game 0.*replayed"):
        ld.evaluate(str(path))
    short = tmp_path / "short.py"
    short.write_text(source.replace("np.full((steps,", "np.full((steps - 1,"))
    with pytest.raises(ValueError, match=r"game 0: play stopped after 999 steps"):
        ld.evaluate(str(short))


def test_ld_rule_that_raises(ld: ModuleType, rule: Callable[[str], str]) -> None:
    path = rule(
        """
        def next_strategy(regrets, state):
            raise KeyError("boom")
        """
    )
    with pytest.raises(CallError, match="boom"):
        ld.evaluate(path)


def test_ld_check_strategy(ld: ModuleType) -> None:
    ld.check_strategy(np.array([0.25, 0.75]), "x")
    ld.check_strategy(np.array([0.5, 0.5 + 1e-10]), "x")
    with pytest.raises(ValueError, match="x: strategy sums to"):
        ld.check_strategy(np.array([0.5, 0.5 + 1e-8]), "x")
    with pytest.raises(ValueError, match="negative"):
        ld.check_strategy(np.array([1.0 + 1e-300, -1e-300]), "x")


# --- golomb_ruler_c ----------------------------------------------------------------------


def needs_cc(test: Callable[..., None]) -> Callable[..., None]:
    """The C problem's tests need a compiler (scripts/test installs gcc): they fail with
    that message where there is none, never skip."""

    @functools.wraps(test)
    def run(*args: object, **kwargs: object) -> None:
        assert shutil.which("cc"), "no C compiler (cc) on PATH: install gcc (scripts/test does)"
        test(*args, **kwargs)

    return run


@pytest.fixture
def c_program(tmp_path: Path) -> Callable[[str], str]:
    counter = iter(range(1000))

    def _write(source: str) -> str:
        path = tmp_path / f"candidate_{next(counter)}.c"
        path.write_text(textwrap.dedent(source))
        return str(path)

    return _write


def _printer(body: str) -> str:
    return "#include <stdio.h>\n#include <stdlib.h>\nint main(void) {\n" + body + "\nreturn 0;\n}\n"


@needs_cc
def test_gr_initial_program(gr: ModuleType) -> None:
    result = gr.evaluate(str(PROBLEMS / "golomb_ruler_c" / "initial_program.c"))
    assert isinstance(result, EvaluationResult)
    m = result.metrics
    assert m["length"] == 122.0 and m["excess_over_optimum"] == 37.0
    assert all(isinstance(v, float) for v in m.values())
    assert result.artifacts["ruler"] == "0 1 3 7 12 20 30 44 65 80 96 122"


@needs_cc
def test_gr_optimal_ruler_in_the_block(gr: ModuleType, c_program: Callable[[str], str]) -> None:
    # Only the block changes; the marks come shuffled and shifted: the length is still 85.
    text = (PROBLEMS / "golomb_ruler_c" / "initial_program.c").read_text()
    head, rest = text.split("// EVOLVE-BLOCK-START\n")
    _, tail = rest.split("// EVOLVE-BLOCK-END\n")
    marks = ", ".join(str(m + 7) for m in reversed(OPTIMAL_RULER))
    block = (
        "static void golomb_ruler(int n, int *marks) {\n"
        f"    static const int best[12] = {{{marks}}};\n"
        "    for (int i = 0; i < n; i++) marks[i] = best[i];\n}\n"
    )
    path = c_program(f"{head}// EVOLVE-BLOCK-START\n{block}// EVOLVE-BLOCK-END\n{tail}")
    result = gr.evaluate(path)
    assert result.metrics["length"] == 85.0
    assert result.metrics["excess_over_optimum"] == 0.0


@needs_cc
@pytest.mark.parametrize(
    ("body", "exception", "message"),
    [
        ('printf("ruler: 0 1 3 7 12 20 30 44 65 80 96 122\\n");', ValueError, "not an integer"),
        ('printf("0 1 3 7 12 20 30 44 65 80 96 122\\ndone\\n");', ValueError, "not an integer"),
        ('printf("0 1 3 7 12 20 30 44 65 80 96\\n");', ValueError, "printed 11 integers"),
        (
            'printf("0 1 3 7 12 20 30 44 65 80 96 122 150\\n");',
            ValueError,
            "printed 13 integers",
        ),
        ('printf("85\\n");', ValueError, "printed 1 integers, not exactly 12"),
        ("", ValueError, "printed 0 integers"),
        ('printf("0 1 2 7 12 20 30 44 65 80 96 122\\n");', ValueError, "difference 1 occurs twice"),
        ('printf("0 1 3 7 12 20 30 44 65 80 96 96\\n");', ValueError, "mark 96 appears twice"),
        (
            'printf("0 1 3 -7 12 20 30 44 65 80 96 122\\n");',
            ValueError,
            r"mark 4 is negative \(-7\)",
        ),
        (
            'printf("0 1 3 7 12 20 30 44 65 80 96 1000000000000000000000000000000\\n");',
            ValueError,
            "item 12 has 31 characters",
        ),
        (
            'printf("0 1 3 7 12 20 30 44 65 80 96 2000000\\n");',
            ValueError,
            "mark 12 is 2000000, over the limit 1000000",
        ),
        ('printf("0 1 3 7 12 20 30 44 65 80 96 122.0\\n");', ValueError, "'122.0'"),
        ('printf("0,1,3,7,12,20,30,44,65,80,96,122\\n");', ValueError, "not an integer"),
        ('printf("0 1 3 7 12 20 30 44 65 80 96 \\xc3\\xa9\\n");', ValueError, "not ASCII"),
        ('printf("0 1 3 7 12 20 30 44 65 80 96 +122\\n");', ValueError, "'\\+122'"),
        ("for (;;) putchar('1');", ValueError, "more than 65536 bytes"),
        ('printf("0 1 3 7 12 20 30 44 65 80 96 122\\n"); exit(3);', RuntimeError, "code 3"),
        ("abort();", RuntimeError, "signal SIGABRT"),
    ],
)
def test_gr_rejects_bad_output(
    gr: ModuleType,
    c_program: Callable[[str], str],
    body: str,
    exception: type[Exception],
    message: str,
) -> None:
    with pytest.raises(exception, match=message):
        gr.evaluate(c_program(_printer(body)))


@needs_cc
def test_gr_whitespace_is_free(gr: ModuleType, c_program: Callable[[str], str]) -> None:
    body = 'printf("\\n 0\\t2 6\\r\\n24 29 40 43 55 68 75 76\\n85");'
    assert gr.evaluate(c_program(_printer(body))).metrics["length"] == 85.0


@needs_cc
def test_gr_compile_error_is_one_line(gr: ModuleType, c_program: Callable[[str], str]) -> None:
    path = c_program(_printer("int x = ;"))
    with pytest.raises(RuntimeError, match=r"^does not compile: .*error") as info:
        gr.evaluate(path)
    assert "\n" not in str(info.value)
    missing = c_program("int golomb(void);\nint main(void) { return golomb(); }\n")
    with pytest.raises(RuntimeError, match=r"does not compile: .*undefined reference"):
        gr.evaluate(missing)


@needs_cc
def test_gr_infinite_loop_times_out(
    gr: ModuleType, c_program: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gr, "RUN_TIMEOUT", 0.5)
    path = c_program(_printer("volatile int x = 0; for (;;) x++;"))
    with pytest.raises(TimeoutError, match=r"did not finish within 0\.5 s"):
        gr.evaluate(path)


def test_gr_missing_compiler(
    gr: ModuleType, c_program: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gr, "COMPILER", "no-such-c-compiler")
    with pytest.raises(RuntimeError, match="no C compiler: 'no-such-c-compiler' is not on PATH"):
        gr.evaluate(c_program(_printer("")))


def test_gr_verify_and_parse(gr: ModuleType) -> None:
    gr.verify(list(OPTIMAL_RULER))
    assert gr.parse_marks(b"0 2 6 24 29 40 43 55 68 75 76 85\n") == list(OPTIMAL_RULER)
    with pytest.raises(ValueError, match=r"difference 74 occurs twice: 76 - 2 and 80 - 6"):
        gr.verify([0, 2, 6, 24, 29, 40, 43, 55, 68, 75, 76, 80])
    with pytest.raises(ValueError, match="mark 1 is not an integer"):
        gr.verify([True, *OPTIMAL_RULER[1:]])
    with pytest.raises(ValueError, match="not an integer"):
        gr.parse_marks(b"0 2 6 24 29 40 43 55 68 75 76 85\x00")
    with pytest.raises(ValueError, match="not an integer"):
        gr.parse_marks(b"0 2 6 24 29 40 43 55 68 75 76\x1c85")
