"""Tests for the parent selection rules (``search.parent_selection``) and the inspiration
rules (``search.inspiration_selection``): who can be drawn, with what probabilities, the
children counts they read, the baselines, determinism, and both directions."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from evolve.archive.islands import IslandArchive
from evolve.archive.parents import View, Weights
from evolve.config import FeatureConfig, SearchConfig
from evolve.core.objective import Objective
from evolve.core.records import Candidate
from evolve.core.status import CandidateStatus
from evolve.search.search import Search
from tests.test_archive import prog, random_candidates
from tests.test_search import MIN, ensemble, fresh, initial, result_of, run
from tests.test_search import config as search_problem

X_FIXED = FeatureConfig(name="x", bins=10, min=0.0, max=10.0)
BY_WEIGHT = ("boltzmann", "power_law", "weighted", "clusters")
RULES = ("mixed", *BY_WEIGHT)
BASELINES = ("initial", "best")


def archive(
    parent_selection: str = "mixed",
    maximize: bool = True,
    features: list[FeatureConfig] | None = None,
    **search: object,
) -> IslandArchive:
    search.setdefault("islands", 1)
    search.setdefault("migration_interval", 1000)
    config = SearchConfig(parent_selection=parent_selection, **search)  # type: ignore[arg-type]
    return IslandArchive(
        features if features is not None else [X_FIXED], config, Objective(maximize)
    )


def ladder(a: IslandArchive, scores: list[float], *, island: int = 0) -> list[Candidate]:
    """The initial program scores ``scores[0]``; the others join ``island``, each in a cell
    of its own."""
    programs = [prog(0, scores[0], x=0.5)]
    programs += [
        prog(it, s, island=island, x=(it % 10) + 0.5) for it, s in enumerate(scores[1:], 1)
    ]
    for p in programs:
        a.apply(p)
    return programs


def child_of(parent: Candidate, iteration: int, ok: bool = False) -> Candidate:
    """A candidate made from ``parent``: an error (it counts as a child, joins nothing)."""
    return Candidate(
        id=f"child{iteration:05d}",
        run_id="r",
        iteration=iteration,
        code=f"child {iteration}\n",
        island=parent.island,
        generation=parent.generation + 1,
        status=CandidateStatus.OK if ok else CandidateStatus.ERROR,
        score=0.0 if ok else None,
        parent_id=parent.id,
    )


def view(a: IslandArchive, island: int = 0) -> View:
    return View(a.islands[island], a.children, a.cell_of, a._initial, a.best())


def shares(a: IslandArchive, island: int = 0) -> list[float]:
    """The configured rule's probabilities over the island, best first."""
    table = a.parents.weights(view(a, island))
    total = math.fsum(table.raw[: table.n])
    return [table.raw[i] / total for i in range(table.n)]


def draws(a: IslandArchive, count: int, seed: int = 0, island: int = 0) -> Counter:
    rng = random.Random(seed)
    return Counter(a.sample(island, rng)[0].iteration for _ in range(count))


# --- who can be drawn ---------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(RULES),
    st.sampled_from(("mixed", "same", "diverse")),
    st.booleans(),
    st.integers(0, 5),
)
def test_draws_only_members_of_the_island(
    seed: int, rule: str, inspirations: str, maximize: bool, wanted: int
) -> None:
    """Random candidates (tied scores, repeated code, migrations, evictions): a parent is a
    member of the island drawn from, inspirations are distinct members other than it
    (elites of other cells, for ``diverse``)."""
    features = [X_FIXED, FeatureConfig(name="code_length", bins=3)]
    a = archive(
        rule,
        maximize,
        features,
        islands=3,
        migration_interval=6,
        population_size=15,
        num_inspirations=wanted,
        inspiration_selection=inspirations,
        temperature=random.Random(seed).choice([1e-3, 0.1, 10.0]),
        temperature_period=7,
    )
    rng = random.Random(seed)
    for p in random_candidates(seed, 90, 3):
        a.apply(p)
        for island in range(3):
            if not a.size(island):
                continue
            parent, insp = a.sample(island, rng)
            members = a.members[island]
            assert members.get(parent.code_hash) is parent
            assert all(members.get(q.code_hash) is q for q in insp)
            codes = [q.code_hash for q in insp]
            assert len(set(codes)) == len(codes) <= wanted
            assert parent.code_hash not in codes
            if inspirations == "diverse":
                grid = a.grids[island]
                home = grid.cell_of(parent.code_hash) or a.cell_of(parent)
                assert all(grid.cell_of(q.code_hash) not in (None, home) for q in insp)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("how", ["same", "diverse"])
def test_inspirations_fill_up_when_they_can(rule: str, how: str) -> None:
    a = archive(rule, num_inspirations=3, inspiration_selection=how)
    ladder(a, [float(s) for s in range(10)])  # ten cells, ten elites
    rng = random.Random(2)
    for _ in range(50):
        parent, insp = a.sample(0, rng)
        assert len(insp) == 3 and parent not in insp


# --- by score: Boltzmann ------------------------------------------------------------------


@pytest.mark.parametrize("maximize", [True, False])
def test_boltzmann_cold_takes_the_best_hot_is_uniform(maximize: bool) -> None:
    scores = [float(s) if maximize else -float(s) for s in range(10)]
    cold = archive("boltzmann", maximize, temperature=1e-3)
    ladder(cold, scores)
    assert draws(cold, 500)[9] >= 499
    hot = archive("boltzmann", maximize, temperature=1e6)
    ladder(hot, scores)
    assert all(abs(p - 0.1) < 1e-5 for p in shares(hot))
    counts = draws(hot, 5000)
    assert set(counts) == set(range(10))
    assert all(350 < c < 650 for c in counts.values()), counts


def test_boltzmann_formula_on_normalised_scores() -> None:
    """p_i ∝ exp(g(s_i, s*) / (T Δ)), whatever the scale or the direction of the scores."""
    for maximize, scale in ((True, 1.0), (False, 1.0), (True, 1e6), (False, 1e-6)):
        sign = 1 if maximize else -1
        scores = [sign * scale * s for s in (0.0, 1.0, 3.0, 4.0)]
        a = archive("boltzmann", maximize, temperature=0.5)
        ladder(a, scores)
        expected = [math.exp((z - 4.0) / (0.5 * 4.0)) for z in (4.0, 3.0, 1.0, 0.0)]
        total = sum(expected)
        assert shares(a) == pytest.approx([e / total for e in expected])


@pytest.mark.parametrize("rule", ["boltzmann", "weighted", "clusters"])
def test_equal_scores_are_drawn_uniformly(rule: str) -> None:
    """No spread, no preference (the codes are equally long, no program has children)."""
    a = archive(rule)
    ladder(a, [2.0] * 5)
    assert shares(a) == pytest.approx([0.2] * 5)
    assert set(draws(a, 400)) == set(range(5))


# --- by rank: power law ---------------------------------------------------------------------


@pytest.mark.parametrize("power", [0.0, 1.0, 2.5])
@pytest.mark.parametrize("maximize", [True, False])
def test_power_law_shares_follow_ranks(power: float, maximize: bool) -> None:
    sign = 1.0 if maximize else -1.0
    a = archive("power_law", maximize, power=power)
    ladder(a, [sign * s for s in (3.0, 7.0, 1.0, 9.0, 5.0)])  # ranks: 9, 7, 5, 3, 1
    expected = [r**-power for r in range(1, 6)]
    total = sum(expected)
    assert shares(a) == pytest.approx([e / total for e in expected])
    counts = draws(a, 6000)
    by_rank = [counts[it] / 6000 for it in (3, 1, 4, 0, 2)]
    assert by_rank == pytest.approx([e / total for e in expected], abs=0.02)


def test_power_law_keeps_one_table_as_islands_grow() -> None:
    """The running totals depend only on α and n: drawn while islands grow and shrink,
    the shares are always the formula's."""
    a = archive("power_law", power=1.5, islands=2, population_size=8)
    rng = random.Random(0)
    for p in random_candidates(3, 60, 2, repeats=False):
        a.apply(p)
        for island in range(2):
            a.sample(island, rng)
            n = a.size(island)
            expected = [r**-1.5 for r in range(1, n + 1)]
            assert shares(a, island) == pytest.approx([e / sum(expected) for e in expected])


# --- ShinkaEvolve's weighting -----------------------------------------------------------------


@pytest.mark.parametrize("maximize", [True, False])
def test_weighted_prefers_fewer_children_among_equal_scores(maximize: bool) -> None:
    a = archive("weighted", maximize)
    programs = ladder(a, [1.0] * 4)
    iteration = len(programs)
    for parent, children in zip(programs, (0, 1, 3, 7), strict=True):
        for _ in range(children):
            a.apply(child_of(parent, iteration))
            iteration += 1
    assert [a.children(p) for p in programs] == [0, 1, 3, 7]
    novelty = [1 / 1, 1 / 2, 1 / 4, 1 / 8]
    assert shares(a) == pytest.approx([v / sum(novelty) for v in novelty])
    counts = draws(a, 3000)
    assert counts[0] > counts[1] > counts[2] > counts[3]


def test_weighted_formula() -> None:
    """p_i ∝ σ(g(s_i, s_med) / (T Δ)) / (1 + c_i)."""
    for maximize in (True, False):
        sign = 1.0 if maximize else -1.0
        a = archive("weighted", maximize, temperature=0.25)
        programs = ladder(a, [sign * s for s in (0.0, 2.0, 5.0, 8.0, 10.0)])
        a.apply(child_of(programs[4], 5))  # the best has one child
        a.apply(child_of(programs[4], 6))
        # best first: 10, 8, 5 (the median), 2, 0; the spread is 10
        raw = [
            1 / (1 + math.exp(-(s - 5.0) / (0.25 * 10))) / (1 + c)
            for s, c in ((10, 2), (8, 0), (5, 0), (2, 0), (0, 0))
        ]
        assert shares(a) == pytest.approx([w / sum(raw) for w in raw])


def test_children_are_counted_as_candidates_are_applied() -> None:
    """Every applied candidate (valid or not) counts for a parent the archive holds; the
    counts are a pure function of the ordered candidates, so a replay has them too."""
    candidates = random_candidates(4, 80, 2, repeats=False)
    rng = random.Random(4)
    linked = [candidates[0]]
    for c in candidates[1:]:
        parent = rng.choice(linked)
        linked.append(
            Candidate(**{**{f: getattr(c, f) for f in Candidate.FIELDS}, "parent_id": parent.id})
        )
    first, second = archive("weighted", islands=2), archive("weighted", islands=2)
    for c in linked:
        first.apply(c)
        second.apply(c)
    expected = Counter(c.parent_id for c in linked if c.parent_id)
    held = [p for m in first.members for p in m.values()]
    assert held
    for p in held:  # below the cap nothing was evicted: every count is exact
        assert first.children(p) == second.children(p) == expected[p.id]
    assert max(first.children(p) for p in held) > 1
    assert first.children(prog(999, 1.0)) == 0


# --- FunSearch's clusters ----------------------------------------------------------------------


def test_clusters_group_equal_scores_whatever_their_size() -> None:
    """A cluster is drawn by its score, not by how many programs share it."""
    a = archive("clusters", temperature=1e6)
    ladder(a, [1.0, 1.0, 1.0, 1.0, 2.0])
    p = shares(a)  # best first: the 2.0, then the four 1.0
    assert p[0] == pytest.approx(0.5, abs=1e-6)
    assert sum(p[1:]) == pytest.approx(0.5, abs=1e-6)
    cold = archive("clusters", temperature=1e-3)
    ladder(cold, [1.0, 1.0, 3.0, 3.0, 2.0])
    assert set(draws(cold, 300)) == {2, 3}  # the best cluster only, both of its programs


def test_clusters_favour_shorter_code_within_a_cluster() -> None:
    a = archive("clusters")
    for it, length in enumerate((10, 40, 100)):
        a.apply(prog(it, 5.0, x=it + 0.5, code="x" * length))
    longest = 100
    within = [math.exp(-(ell - 10) / (longest + 1e-6)) for ell in (10, 40, 100)]
    assert shares(a) == pytest.approx([w / sum(within) for w in within])
    counts = draws(a, 4000)
    assert counts[0] > counts[1] > counts[2]


def test_cluster_temperature_falls_as_programs_join() -> None:
    """T_m = T (1 - (m mod P) / P), m the programs that have joined the island."""
    for joined in (2, 5, 9):
        a = archive("clusters", temperature=1.0, temperature_period=10)
        ladder(a, [0.0, 1.0] + [0.5] * (joined - 2))
        assert a.islands[0].joined == joined
        t = 1.0 - (joined % 10) / 10
        # clusters: 1.0, 0.5, 0.0 (spread 1), or only 1.0 and 0.0
        gaps = [0.0, -1.0] if joined == 2 else [0.0, -0.5, -1.0]
        weights = [math.exp(g / t) for g in gaps]
        cluster_shares = {}
        for p, prob in zip(a.islands[0].ranked, shares(a), strict=True):
            cluster_shares[p.score] = cluster_shares.get(p.score, 0.0) + prob
        assert sorted(cluster_shares.values(), reverse=True) == pytest.approx(
            [w / sum(weights) for w in weights]
        )


def test_clusters_by_metrics() -> None:
    """Equal scores, different metrics: separate clusters (unless the metrics agree to 10
    significant digits)."""
    a = archive("clusters", temperature=1e6, cluster_by="metrics")
    a.apply(prog(0, 1.0, x=0.5))
    a.apply(prog(1, 1.0, x=1.5))
    a.apply(prog(2, 1.0, x=1.5 + 1e-13))  # the same signature as iteration 1
    p = dict(zip((q.iteration for q in a.islands[0].ranked), shares(a), strict=True))
    assert p[0] == pytest.approx(0.5)
    assert p[1] + p[2] == pytest.approx(0.5)
    by_score = archive("clusters", temperature=1e6)
    for q in a.islands[0].ranked:
        by_score.apply(q)
    assert shares(by_score) == pytest.approx([1 / 3] * 3)


# --- the baselines -----------------------------------------------------------------------------


def test_initial_baseline_always_draws_the_initial_program() -> None:
    """Even after the island evicted it (neither elite nor best), with no inspirations."""
    a = archive("initial", islands=2, population_size=2, elite_pool=1, num_inspirations=3)
    seed = prog(0, 0.0, x=0.5)
    a.apply(seed)
    for it in range(1, 12):
        a.apply(prog(it, float(it), island=it % 2, x=0.6, code=f"better {it}\n"))
    assert all(seed.code_hash not in m for m in a.members)  # evicted everywhere
    assert a.get(seed.id) is seed  # still held: every child's parent
    rng = random.Random(0)
    for island in range(2):
        for _ in range(20):
            assert a.sample(island, rng) == (seed, [])


def test_best_baseline_always_draws_the_best_of_all_islands() -> None:
    a = archive("best", islands=3, num_inspirations=2)
    ladder(a, [0.0, 5.0, 2.0], island=1)
    a.apply(prog(3, 9.0, island=2, x=7.5))
    rng = random.Random(0)
    for island in range(3):
        assert a.sample(island, rng) == (a.best(), [])
    assert a.best().iteration == 3


def test_baselines_through_the_search() -> None:
    """The search draws every parent from the baseline's program."""
    initial_only = fresh(parent_selection="initial")
    drawn = run(initial_only, random.Random(0))
    assert {d[2] for d in drawn} == {0} and all(d[3] == () for d in drawn)
    hill = fresh(lag=1, parent_selection="best")  # each draw sees every earlier result
    bests: list[int] = []
    while (draw := hill.ask()) is not None:
        assert draw.parent is hill.best()
        bests.append(draw.parent.iteration)
        hill.tell(result_of(draw))
    assert len(set(bests)) > 1  # it climbed


# --- determinism, directions, the search -------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(RULES + BASELINES))
def test_same_seed_same_draws(seed: int, rule: str) -> None:
    candidates = random_candidates(seed, 60, 2)
    first, second = (
        archive(rule, islands=2, population_size=20, inspiration_selection="same") for _ in range(2)
    )
    for c in candidates:
        first.apply(c)
        second.apply(c)
    rng1, rng2 = random.Random(seed), random.Random(seed)
    for round_ in range(30):
        p1, i1 = first.sample(round_ % 2, rng1)
        p2, i2 = second.sample(round_ % 2, rng2)
        assert (p1.id, [q.id for q in i1]) == (p2.id, [q.id for q in i2])


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(RULES + BASELINES),
    st.sampled_from(("mixed", "same", "diverse")),
)
def test_minimizing_mirrors_maximizing(seed: int, rule: str, how: str) -> None:
    """Scores s maximised and -s minimised are the same problem: the same draws."""
    features = [FeatureConfig(name="x", bins=4, min=-2, max=12)]
    up = archive(rule, True, features, islands=2, num_inspirations=3, inspiration_selection=how)
    down = archive(rule, False, features, islands=2, num_inspirations=3, inspiration_selection=how)
    for c in random_candidates(seed, 60, 2):
        mirrored = {f: getattr(c, f) for f in Candidate.FIELDS}
        if c.score is not None:
            mirrored["score"] = -c.score
        up.apply(c)
        down.apply(Candidate(**mirrored))
    rng1, rng2 = random.Random(seed), random.Random(seed)
    for round_ in range(30):
        p1, i1 = up.sample(round_ % 2, rng1)
        p2, i2 = down.sample(round_ % 2, rng2)
        assert (p1.id, [q.id for q in i1]) == (p2.id, [q.id for q in i2])


@pytest.mark.parametrize("rule", BY_WEIGHT)
def test_resumed_search_draws_the_same(rule: str) -> None:
    """A search resumed from stored candidates (children counts, cluster temperatures and
    all rebuilt by replay) draws every later iteration as the uninterrupted one did."""
    search = {"parent_selection": rule, "inspiration_selection": "same"}
    whole = run(fresh(**search), None)
    first = fresh(**search)
    stored = [initial()]
    for _ in range(12):
        draw = first.ask()
        stored.append(result_of(draw))
        first.tell(stored[-1])
    resumed = Search(search_problem(**search), MIN, ensemble(), lag=4)
    resumed.start(stored, [])
    assert run(resumed, None) == [d for d in whole if d[0] > 12]


# --- the weighted choice -----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([0.0, 1e-300, 1e-12, 0.5, 1.0, 3.0, 1e12]), min_size=1, max_size=12),
    st.integers(0, 12),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_weights_sample_without_repeats(
    weights: list[float], count: int, seed: int, fallback: bool
) -> None:
    items = [prog(i, float(i)) for i in range(len(weights))]
    table = Weights.of(items, weights)
    exclude = seed % len(items) if seed % 3 else None
    drawn = table.sample(random.Random(seed), count, exclude, fallback=fallback)
    ids = [p.iteration for p in drawn]
    assert len(set(ids)) == len(ids) <= count
    assert exclude not in ids
    free = [i for i in range(len(items)) if i != exclude]
    positive = [i for i in free if weights[i] > 0]
    if fallback:
        assert len(ids) == min(count, len(free))
    else:
        assert set(ids) <= set(positive)
        assert len(ids) == min(count, len(positive))
    # the heaviest free items are taken first when they outweigh the rest by far
    heavy = [i for i in free if weights[i] == 1e12]
    if count and len(heavy) == 1:
        assert ids[0] == heavy[0]


def test_weights_follow_their_shares() -> None:
    items = [prog(i, 0.0) for i in range(4)]
    table = Weights.of(items, [1.0, 0.0, 2.0, 7.0])
    rng = random.Random(1)
    counts = Counter(table.draw(rng) for _ in range(10000))
    assert counts[1] == 0
    assert [counts[i] / 10000 for i in (0, 2, 3)] == pytest.approx([0.1, 0.2, 0.7], abs=0.015)
    # second draws, the first excluded: shares renormalised over what is left
    second = Counter(table.draw(rng, [3]) for _ in range(9000))
    assert [second[i] / 9000 for i in (0, 2)] == pytest.approx([1 / 3, 2 / 3], abs=0.02)


# --- settings ----------------------------------------------------------------------------------


def test_settings_are_validated() -> None:
    defaults = SearchConfig()
    assert defaults.parent_selection == "mixed" and defaults.inspiration_selection == "mixed"
    assert defaults.temperature == 0.1 and defaults.power == 1.0
    for bad in (
        {"parent_selection": "tournament"},
        {"inspiration_selection": "random"},
        {"temperature": 0.0},
        {"temperature": float("inf")},
        {"temperature": "1"},
        {"power": -1.0},
        {"temperature_period": 0},
        {"cluster_by": "code"},
        {"parent_temperature": 1.0},
    ):
        with pytest.raises(ValidationError):
            SearchConfig(**bad)  # type: ignore[arg-type]
    assert SearchConfig(temperature=2, power=0).power == 0.0  # integers are numbers
