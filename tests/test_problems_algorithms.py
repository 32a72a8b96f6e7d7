"""Tests for the algorithm problems: bin_packing_online and tsp_heuristic (their evaluators,
run in this process; each candidate runs in a process of its own through ``evolve.sdk``)."""

from __future__ import annotations

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
ALGORITHMS = ("bin_packing_online", "tsp_heuristic")

# The reference tours of tsp_heuristic (seed: tour), from make_reference.py. Kept here and
# not in the problem's folder, which a candidate can read.
REFERENCE_TOURS = """
1: 0 11 83 80 84 14 1 91 79 76 6 96 49 73 56 26 24 77 48 33 65 87 98 58 62 44 64 2 7 47 78 8
   35 70 18 88 97 92 63 99 9 71 27 55 30 46 19 4 37 15 74 53 13 82 21 40 45 57 42 43 41 10 85
   61 86 50 59 69 90 3 52 32 54 93 89 75 36 29 22 5 95 94 51 12 66 28 39 34 67 25 16 31 81 23
   72 60 20 38 17 68
2: 0 47 50 29 9 46 48 31 5 23 69 51 96 68 77 58 1 93 66 87 38 84 75 80 95 45 65 59 8 71 20 67
   63 21 19 64 22 76 61 17 25 36 39 37 18 34 78 7 6 56 13 88 62 73 54 28 2 79 83 94 11 41 26
   57 52 90 16 82 35 89 27 12 15 74 92 32 43 97 98 4 86 10 99 85 81 33 42 40 60 53 55 91 14
   44 24 70 3 30 49 72
3: 0 73 40 93 37 76 2 52 101 80 140 14 129 10 105 142 81 30 53 39 115 84 91 127 41 79 58 75
   92 35 16 77 7 106 139 118 60 42 34 12 82 143 136 147 134 55 108 24 113 51 122 100 31 1 102
   96 20 94 145 135 36 61 21 148 149 123 99 47 132 137 97 50 144 5 114 6 111 95 46 125 59 89
   13 22 88 18 104 121 70 124 65 8 85 17 119 117 64 43 116 69 138 109 11 56 54 67 63 126 28
   103 45 98 87 9 26 19 133 62 27 72 130 78 32 120 33 23 112 44 68 4 110 29 48 66 90 3 25 49
   57 15 141 71 86 74 131 128 107 83 38 146
4: 0 89 147 29 124 7 31 24 81 5 102 111 4 57 140 100 80 36 139 62 52 47 125 43 63 15 99 39 18
   128 48 12 2 51 76 110 66 61 92 27 101 3 97 91 1 90 77 129 25 95 11 96 19 64 46 93 121 141
   149 35 22 142 14 116 54 123 130 50 44 58 127 45 33 21 107 37 71 114 83 109 55 82 28 133 41
   60 42 79 117 118 9 87 40 38 88 94 68 108 122 105 69 134 23 70 120 17 119 106 32 131 138 53
   74 6 75 126 59 30 13 98 137 146 85 67 20 73 136 84 145 132 144 10 148 104 72 65 135 34 115
   8 56 112 103 78 113 86 49 16 26 143
5: 0 50 7 173 38 148 127 193 184 71 87 163 172 104 37 45 106 68 138 62 177 75 63 85 137 81
   166 59 70 72 36 108 35 20 79 143 42 6 27 121 26 57 73 154 153 74 13 170 190 160 86 4 24
   156 124 100 107 25 32 19 192 31 159 181 174 109 161 41 195 8 132 115 69 43 134 88 96 52
   103 145 139 167 21 17 99 131 129 122 144 51 128 78 80 44 2 135 186 182 116 90 56 194 67
   178 93 152 65 119 102 155 117 89 180 183 66 101 49 151 3 55 77 168 110 53 175 164 9 64 15
   147 123 157 14 11 191 120 141 47 199 97 158 179 46 113 185 136 140 58 189 114 146 61 18 60
   54 105 91 48 39 34 98 92 125 5 149 150 169 84 171 162 10 28 197 23 126 1 76 187 112 16 118
   95 83 33 30 94 198 176 82 142 22 196 165 29 130 188 133 12 40 111
6: 0 121 83 15 190 3 142 67 111 88 140 49 180 103 18 46 47 89 92 28 125 156 41 139 63 4 104
   184 10 157 96 172 54 135 101 182 193 70 145 76 118 78 112 90 167 127 119 186 150 197 131
   191 154 149 8 163 23 27 51 136 98 194 141 75 113 192 14 93 33 11 168 64 38 109 91 144 95
   57 86 65 129 25 48 52 187 13 21 5 138 181 6 45 56 58 171 174 77 61 165 158 20 80 116 16
   143 177 39 124 73 74 173 53 94 148 164 198 189 161 29 105 1 120 97 147 37 30 17 44 170 84
   132 176 72 175 59 169 160 55 107 122 134 155 99 159 179 79 42 178 7 62 82 183 199 71 126
   22 68 26 40 188 85 34 162 100 133 2 36 31 130 153 146 110 123 137 43 185 108 87 50 115 66
   19 106 114 166 9 69 24 60 128 35 12 196 81 102 32 117 152 195 151
"""


@pytest.fixture
def bp() -> ModuleType:
    return load_evaluator("bin_packing_online")


@pytest.fixture
def tsp() -> ModuleType:
    return load_evaluator("tsp_heuristic")


def _with_block(problem: str, block: str) -> str:
    """The problem's initial program with the EVOLVE block replaced by ``block``."""
    source = (PROBLEMS / problem / "initial_program.py").read_text()
    start = source.index("# EVOLVE-BLOCK-START")
    end = source.index("# EVOLVE-BLOCK-END")
    return source[:start] + textwrap.dedent(block) + "\n\n" + source[end:]


def _reference_tours() -> dict[int, list[int]]:
    tours: dict[int, list[int]] = {}
    seed = -1
    for token in REFERENCE_TOURS.split():
        if token.endswith(":"):
            seed = int(token[:-1])
            tours[seed] = []
        else:
            tours[seed].append(int(token))
    return tours


# --- problem files -----------------------------------------------------------------------


@pytest.mark.parametrize("problem", ALGORITHMS)
def test_problem_files(problem: str) -> None:
    config_mod = pytest.importorskip("evolve.config")
    files = {p.name for p in (PROBLEMS / problem).iterdir() if p.name != "__pycache__"}
    assert {"README.md", "evaluator.py", "initial_program.py", "problem.toml"} <= files
    with (PROBLEMS / problem / "problem.toml").open("rb") as f:
        config = config_mod.ProblemConfig.model_validate(tomllib.load(f))
    assert config.name == problem
    assert config.prompt.strip() and not config.llm.models
    assert config.evaluator.direction == "minimize"
    assert "algorithms" in config.benchmark.suites and config.benchmark.source
    text = (PROBLEMS / problem / "initial_program.py").read_text()
    lines = text.splitlines()
    block = lines[lines.index("# EVOLVE-BLOCK-START") + 1 : lines.index("# EVOLVE-BLOCK-END")]
    assert text.count("EVOLVE-BLOCK-START") == 1 and text.count("EVOLVE-BLOCK-END") == 1
    top_level = [ln for ln in block if ln and not ln[0].isspace()]
    assert len(top_level) == 1 and top_level[0].startswith("def ")
    assert 10 <= len(block) <= 25


def test_benchmark_tables() -> None:
    with (PROBLEMS / "bin_packing_online" / "problem.toml").open("rb") as f:
        bench = tomllib.load(f)["benchmark"]
    assert bench["metric"] == "excess_heldout" and "smoke" in bench["suites"]
    assert 0.005 < bench["best_known"] < 0.0394


# --- bin_packing_online ------------------------------------------------------------------

BEST_FIT = {
    "excess": 0.03937263343617019,
    "excess_heldout": 0.0394546472747732,
    "bins": 2053.8,
    "bins_heldout": 2070.6,
    "choices": 7.90084,
}


def _bp(block: str) -> str:
    return _with_block("bin_packing_online", block)


def _small(bp: ModuleType, monkeypatch: pytest.MonkeyPatch, n: int = 600) -> None:
    """Fewer, shorter instances, for tests that need not pin the real ones."""
    monkeypatch.setattr(bp, "N_ITEMS", n)
    monkeypatch.setattr(bp, "TRAIN_SEEDS", (1, 2))
    monkeypatch.setattr(bp, "HELDOUT_SEEDS", (1001,))


def test_bp_initial_program(bp: ModuleType) -> None:
    result = bp.evaluate(str(PROBLEMS / "bin_packing_online" / "initial_program.py"))
    assert isinstance(result, EvaluationResult)
    assert set(result.metrics) == set(BEST_FIT)
    for name, value in BEST_FIT.items():
        assert result.metrics[name] == pytest.approx(value, rel=1e-12), name
    assert all(type(v) is float for v in result.metrics.values())
    assert result.artifacts["per_instance"].count("\n") == 9


def test_bp_instances(bp: ModuleType) -> None:
    items = bp.weibull_items(1)
    assert items.dtype == np.int64 and items.shape == (5000,)
    assert items.min() >= 1 and items.max() <= 100
    assert 38 < items.mean() < 42
    assert np.array_equal(items, bp.weibull_items(1))
    assert not set(bp.TRAIN_SEEDS) & set(bp.HELDOUT_SEEDS)
    assert bp.l1_bound(np.array([50, 50])) == 1 and bp.l1_bound(np.array([50, 51])) == 2


def test_bp_replay_by_hand(bp: ModuleType) -> None:
    items = np.array([60, 50, 40, 30])
    # item 60: [100] -> new bin A (40 left); item 50: [100] -> new bin B (50 left);
    # item 40: [40, 50, 100], a tie between A and B -> the first, A; item 30: [50, 100] ->
    # the new bin.
    counts = np.array([1, 1, 3, 2])
    values = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 5.0])
    used, asked, kept = bp.replay(items, (counts, values, None), "hand", keep={2})
    assert (used, asked) == (3, 7)
    assert kept[0].item == 40 and kept[0].bins.tolist() == [40.0, 50.0, 100.0]
    # Best fit packs 60+40 and 50+30: two bins.
    values = np.array([0.0, 0.0, 0.0, -10.0, -60.0, -20.0, -70.0])
    assert bp.replay(items, (counts, values, None), "hand")[0] == 2
    with pytest.raises(
        ValueError,
        match=r"hand, item 2 \(size 40, 3 bins offered\): priority gave 2 scores, expected 3",
    ):
        bp.replay(items, (np.array([1, 1, 2, 3]), values, None), "hand")
    with pytest.raises(ValueError, match=r"item 3 .*: score 1 is not finite \(nan\)"):
        bp.replay(items, (counts, np.array([0, 0, 0, 0, 0, 0, np.nan]), None), "hand")
    with pytest.raises(ValueError, match="8 scores given, 7 used"):
        bp.replay(items, (counts, np.append(values, 0.0), None), "hand")
    with pytest.raises(ValueError, match=r"hand: 5 counts for 4 items"):
        bp.replay(items, (np.append(counts, 1), values, None), "hand")
    with pytest.raises(ValueError, match="counts must be a 1-D integer array"):
        bp.replay(items, (counts.astype(float), values, None), "hand")


def test_bp_better_heuristic_scores_better(bp: ModuleType, write: Callable[[str], str]) -> None:
    # Leave a remainder that a typical (Weibull) item can fill: reward the density of
    # the item size distribution at the remainder; an exact fit is best of all.
    path = write(
        _bp(
            """
            # EVOLVE-BLOCK-START
            def priority(item, bins):
                r = np.maximum(bins - item, 1e-9)
                density = 3 / 45 * (r / 45) ** 2 * np.exp(-((r / 45) ** 3))
                score = 20000 * density - r
                score[bins == item] += 1000
                return score
            """
        )
    )
    m = bp.evaluate(path).metrics
    assert m["excess"] < 0.02 < BEST_FIT["excess"]
    assert m["excess_heldout"] < 0.02 < BEST_FIT["excess_heldout"]
    assert m["bins_heldout"] < BEST_FIT["bins_heldout"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "s = -(bins - item); s[-1] = np.nan; return s",
            r"training instance 1, item 0 \(size 46, 1 bin offered\): priority output\[0\] is not finite \(nan\)",
        ),
        (
            "s = -(bins - item); s[0] = np.inf; return s",
            r"priority output\[0\] is not finite \(inf\)",
        ),
        (
            "return np.where(bins > 90, -np.inf, bins)",
            r"item 0 .*priority output\[0\] is not finite \(-inf\)",
        ),
        ("return -(bins - item)[:-1]", r"priority output must have shape \(1,\), got \(0,\)"),
        ("return np.append(-(bins - item), 0.0)", r"must have shape \(1,\), got \(2,\)"),
        ("return -(bins - item).reshape(-1, 1)", r"must have shape \(1,\), got \(1, 1\)"),
        ("return 1.0", r"must have shape \(1,\), got \(\)"),
        ("return bins > 50", "must hold real numbers, got dtype bool"),
        ("return bins + 0j", "must hold real numbers, got dtype complex128"),
        ("return [str(b) for b in bins]", "priority must return real numbers, got <U"),
        (
            "return np.array(-(bins - item), dtype=object)",
            "priority must return real numbers, got object",
        ),
        ("return None", "priority must return real numbers, got object"),
    ],
)
def test_bp_rejects_bad_priority(
    bp: ModuleType, write: Callable[[str], str], body: str, message: str
) -> None:
    path = write(_bp(f"# EVOLVE-BLOCK-START\ndef priority(item, bins):\n    {body}\n"))
    with pytest.raises(ValueError, match=message):
        bp.evaluate(path)


def test_bp_nan_later_is_found(bp: ModuleType, write: Callable[[str], str]) -> None:
    # Valid for most items; NaN only when many bins are offered.
    path = write(
        _bp(
            """
            # EVOLVE-BLOCK-START
            def priority(item, bins):
                s = -(bins - item)
                if len(bins) > 3:
                    s[1] = np.nan
                return s
            """
        )
    )
    with pytest.raises(
        ValueError,
        match=r"training instance 1, item \d+ \(size \d+, 4 bins offered\): priority output\[1\] is not finite",
    ):
        bp.evaluate(path)


def test_bp_lying_subclass_not_trusted(
    bp: ModuleType, write: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The subclass lies about its maximum and its items; only its data counts.
    path = write(
        _bp(
            """
            class Liar(np.ndarray):
                def argmax(self, *a, **k):
                    return len(self) - 1

                def __getitem__(self, key):
                    return 1e9

                def tolist(self):
                    return [0.0] * len(self)

                def astype(self, *a, **k):
                    return np.zeros(len(self))


            # EVOLVE-BLOCK-START
            def priority(item, bins):
                return (-(bins - item)).view(Liar)
            """
        )
    )
    assert bp.evaluate(path).metrics == pytest.approx(BEST_FIT, rel=1e-12)


def test_bp_fake_results_rejected(bp: ModuleType, write: Callable[[str], str]) -> None:
    # A program that reports a great result instead of packing.
    path = write(
        """
        def run_packing(instances, capacity, max_values):
            return {"excess": 0.0, "excess_heldout": 0.0}
        """
    )
    with pytest.raises(
        ValueError, match=r"run_packing must return one result per instance \(10\), got dict"
    ):
        bp.evaluate(path)
    # ... or scores that claim every item opened a bin of its own in its loop.
    path = write(
        """
        import numpy as np

        def run_packing(instances, capacity, max_values):
            return [(np.ones(len(x), dtype=np.int64), np.zeros(len(x)), None) for x in instances]
        """
    )
    with pytest.raises(
        ValueError,
        match=r"training instance 1, item 1 \(size 30, 2 bins offered\): priority gave 1 scores, expected 2",
    ):
        bp.evaluate(path)
    # ... or non-finite scores slipped past its own loop.
    source = (PROBLEMS / "bin_packing_online" / "initial_program.py").read_text()
    source += textwrap.dedent(
        """

        _honest = run_packing


        def run_packing(instances, capacity, max_values):
            out = _honest(instances, capacity, max_values)
            out[0][1][5] = np.nan
            return out
        """
    )
    path = write(source)
    with pytest.raises(
        ValueError, match=r"training instance 1, item \d+ .*: score \d is not finite \(nan\)"
    ):
        bp.evaluate(path)


def test_bp_stateful_priority_caught(
    bp: ModuleType, write: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _small(bp, monkeypatch)
    path = write(
        _bp(
            """
            # EVOLVE-BLOCK-START
            calls = [0]

            def priority(item, bins):
                calls[0] += 1
                return -(bins - item) if calls[0] % 2 else bins - item
            """
        )
    )
    with pytest.raises(
        ValueError,
        match=r"priority must depend on \(item, bins\) only: asked again about .* instance \d+, item \d+",
    ):
        bp.evaluate(path)


def test_bp_lookahead_caught(
    bp: ModuleType, write: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A program whose loop lets the priority see the next item (an offline heuristic).
    _small(bp, monkeypatch)
    source = _bp(
        """
        # EVOLVE-BLOCK-START
        NEXT = [None]

        def priority(item, bins):
            s = -(bins - item)
            if NEXT[0] is not None and bins[0] - item >= NEXT[0]:
                s[0] += 1000  # keep room for the next item
            return s
        """
    )
    source = source.replace(
        "        for item in np.asarray(items).tolist():\n",
        "        seq = np.asarray(items).tolist()\n"
        "        for t, item in enumerate(seq):\n"
        "            NEXT[0] = seq[t + 1] if t + 1 < len(seq) else None\n",
    )
    assert "NEXT[0] = seq" in source
    with pytest.raises(ValueError, match=r"priority must depend on \(item, bins\) only"):
        bp.evaluate(write(source))


def test_bp_too_many_open_bins(bp: ModuleType, write: Callable[[str], str]) -> None:
    # Worst fit: the new bin always has the most room, so every item opens one. The
    # program's loop stops at the limit and leaves the other instances empty.
    path = write(_bp("# EVOLVE-BLOCK-START\ndef priority(item, bins):\n    return bins - item\n"))
    with pytest.raises(
        ValueError,
        match=r"training instance 1: more than 500000 scores asked for by item \d+: the heuristic keeps too many bins open",
    ):
        bp.evaluate(path)


def test_bp_program_errors_propagate(bp: ModuleType, write: Callable[[str], str]) -> None:
    path = write(
        _bp("# EVOLVE-BLOCK-START\ndef priority(item, bins):\n    raise RuntimeError('boom')\n")
    )
    with pytest.raises(CallError, match="run_packing raised RuntimeError: boom") as info:
        bp.evaluate(path)
    assert info.value.kind == "raised"


# --- tsp_heuristic -------------------------------------------------------------------------

NEAREST_NEIGHBOUR = {
    "ratio": 1.250598626528247,
    "worst_ratio": 1.3425168405669934,
    "best_ratio": 1.1366466643182591,
}


def _tsp(body: str) -> str:
    return f"import numpy as np\n\n\ndef solve(points):\n{textwrap.indent(textwrap.dedent(body), '    ')}"


NN_TOUR = """
n = len(points)
visited = np.zeros(n, dtype=bool)
tour = [0]
visited[0] = True
for _ in range(n - 1):
    d = np.hypot(*(points - points[tour[-1]]).T)
    d[visited] = np.inf
    tour.append(int(np.argmin(d)))
    visited[tour[-1]] = True
"""


def test_tsp_initial_program(tsp: ModuleType) -> None:
    result = tsp.evaluate(str(PROBLEMS / "tsp_heuristic" / "initial_program.py"))
    assert isinstance(result, EvaluationResult)
    assert result.metrics == pytest.approx(NEAREST_NEIGHBOUR, rel=1e-12)
    assert all(type(v) is float for v in result.metrics.values())
    assert result.artifacts["per_instance"].count("\n") == len(tsp.INSTANCES) - 1


def test_tsp_reference_tours_are_real(tsp: ModuleType) -> None:
    tsp._check_instances()
    tours = _reference_tours()
    assert sorted(tours) == sorted(seed for seed, _ in tsp.INSTANCES)
    for seed, n in tsp.INSTANCES:
        points = tsp.instance_points(seed, n)
        tour = tsp.verify_tour(tours[seed], n)
        assert tsp.tour_length(points, tour) == tsp.REFERENCE[seed]
        # Rotating or reversing a tour leaves its length exactly unchanged.
        assert tsp.tour_length(points, tour[7:] + tour[:7]) == tsp.REFERENCE[seed]
        assert tsp.tour_length(points, tour[::-1]) == tsp.REFERENCE[seed]


def test_tsp_reference_tour_scores_one(tsp: ModuleType, write: Callable[[str], str]) -> None:
    table = {n: t for n, t in _reference_tours().items()}
    firsts = {repr(float(tsp.instance_points(s, n)[0, 0])): table[s] for s, n in tsp.INSTANCES}
    path = write(
        _tsp(
            f"""
            tour = {firsts!r}[repr(float(points[0, 0]))]
            tour = tour[5:] + tour[:5]
            return np.array(tour[::-1], dtype=np.int32)
            """
        )
    )
    m = tsp.evaluate(path).metrics
    assert m == {"ratio": 1.0, "worst_ratio": 1.0, "best_ratio": 1.0}


def test_tsp_two_opt_beats_nearest_neighbour(tsp: ModuleType, write: Callable[[str], str]) -> None:
    path = write(
        _tsp(
            NN_TOUR
            + textwrap.dedent(
                """
            t = np.array(tour)
            d = np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
            while True:
                a, b = t, np.roll(t, -1)
                gain = d[a, b][:, None] + d[a, b][None, :] - d[a[:, None], a] - d[b[:, None], b]
                gain = np.triu(gain, 2)
                gain[0, n - 1] = 0.0
                i, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
                if gain[i, j] <= 1e-12:
                    return t.tolist()
                t[i + 1 : j + 1] = t[i + 1 : j + 1][::-1].copy()
            """
            )
        )
    )
    m = tsp.evaluate(path).metrics
    assert 1.0 <= m["ratio"] < 1.1 < NEAREST_NEIGHBOUR["ratio"]
    assert m["worst_ratio"] < NEAREST_NEIGHBOUR["worst_ratio"]


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ("tour[:-1]", r"instance 1 \(n=100\): tour has 99 cities, not 100 \(city \d+ is missing\)"),
        ("tour[:-1] + tour[:1]", r"tour: city 0 appears twice \(positions 0 and 99\)"),
        ("tour + [tour[3]]", r"city \d+ appears twice \(positions 3 and 100\)"),
        ("[float(c) for c in tour]", r"tour\[0\] is not an integer \(0\.0\)"),
        ("np.array(tour, dtype=float)", "must hold integers, got an array of dtype float64"),
        ("[True] + tour[1:]", r"tour\[0\] is not an integer \(True\)"),
        ("np.ones(len(tour), dtype=bool)", "must hold integers, got an array of dtype bool"),
        ("[c - 1 for c in tour]", r"is not a city \(0\.\.99\)"),
        ("[c if c else len(tour) for c in tour]", r"tour\[0\] = 100 is not a city"),
        ("np.array([tour])", r"must be 1-D, got shape \(1, 100\)"),
        ("None", "must be a list of city indices, got NoneType"),
        ("' '.join(map(str, tour))", "must be a list of city indices, got str"),
        ("{'tour': tour, 'length': 1.0}", "must be a list of city indices, got dict"),
        ("(tour, 0.5)", r"tour\[0\] is not an integer \(\[0, "),
    ],
)
def test_tsp_rejects_bad_tours(
    tsp: ModuleType, write: Callable[[str], str], returned: str, message: str
) -> None:
    path = write(_tsp(NN_TOUR + f"return {returned}\n"))
    with pytest.raises(ValueError, match=message):
        tsp.evaluate(path)


def test_tsp_verify_tour_accepts_integers(tsp: ModuleType) -> None:
    assert tsp.verify_tour([np.int64(2), 0, np.uint8(1)], 3) == [2, 0, 1]
    assert tsp.verify_tour((2, 1, 0), 3) == [2, 1, 0]
    assert tsp.verify_tour(np.array([1, 2, 0], dtype=np.uint16), 3) == [1, 2, 0]
    with pytest.raises(ValueError, match=r"tour\[1\] is not an integer \(np.float64\(1.0\)\)"):
        tsp.verify_tour([0, np.float64(1.0), 2], 3)
    with pytest.raises(ValueError, match=r"tour\[2\] is not an integer \(np.True_\)"):
        tsp.verify_tour([0, 1, np.bool_(True)], 3)
    with pytest.raises(ValueError, match=r"tour has 0 cities, not 3 \(city 0 is missing\)"):
        tsp.verify_tour([], 3)


def test_tsp_lying_subclass_not_trusted(tsp: ModuleType, write: Callable[[str], str]) -> None:
    # The array holds city 0 a hundred times; its tolist and iteration claim a good tour.
    path = write(
        _tsp(
            """
            class Liar(np.ndarray):
                def tolist(self):
                    return list(range(len(self)))

                def __iter__(self):
                    return iter(range(len(self)))

                def __getitem__(self, key):
                    return int(key) if isinstance(key, int) else super().__getitem__(key)

            return np.zeros(len(points), dtype=np.int64).view(Liar)
            """
        )
    )
    with pytest.raises(
        ValueError, match=r"instance 1 \(n=100\): tour: city 0 appears twice \(positions 0 and 1\)"
    ):
        tsp.evaluate(path)


def test_tsp_object_array_is_not_data(tsp: ModuleType, write: Callable[[str], str]) -> None:
    path = write(_tsp("return np.arange(len(points)).astype(object)\n"))
    with pytest.raises(
        CallError, match=r"instance 1 \(n=100\): solve returned an array of dtype object"
    ) as info:
        tsp.evaluate(path)
    assert info.value.kind == "bad_result"


def test_tsp_time_limit_per_instance(
    tsp: ModuleType, write: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tsp, "TIME_PER_INSTANCE", 1.0)
    path = write(_tsp("import time\ntime.sleep(60)\n"))
    with pytest.raises(CallError, match=r"^instance 1 \(n=100\): ") as info:
        tsp.evaluate(path)
    assert info.value.kind == "timeout"
