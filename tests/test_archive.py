"""Tests for the island archive: MAP-Elites grids, features, migration and sampling."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evolve.archive.features import Dimension
from evolve.archive.islands import IslandArchive
from evolve.archive.map_elites import Grid, better
from evolve.config import FeatureConfig, SearchConfig
from evolve.core.records import Candidate
from evolve.core.status import CandidateStatus

X_FIXED = FeatureConfig(name="x", bins=10, min=0.0, max=10.0)


def prog(
    iteration: int,
    score: float | None,
    *,
    island: int = 0,
    x: float | None = None,
    code: str | None = None,
    status: CandidateStatus = CandidateStatus.OK,
    generation: int | None = None,
) -> Candidate:
    metrics: dict[str, float] = {} if score is None else {"score": score}
    if x is not None:
        metrics["x"] = x
    return Candidate(
        id=f"id{iteration:05d}",
        run_id="r",
        iteration=iteration,
        code=code if code is not None else f"def f():\n    return {iteration}\n",
        island=island,
        generation=generation if generation is not None else (0 if iteration == 0 else 1),
        status=status,
        score=score,
        metrics=metrics,
    )


def archive(
    features: list[FeatureConfig] | None = None,
    maximize: bool = True,
    **search: object,
) -> IslandArchive:
    search.setdefault("islands", 3)
    search.setdefault("migration_interval", 1000)
    return IslandArchive(
        features if features is not None else [X_FIXED],
        SearchConfig(**search),  # type: ignore[arg-type]
        maximize,
    )


def ids(programs: list[Candidate]) -> list[str]:
    return [p.id for p in programs]


def expected_grid(a: IslandArchive, island: int) -> dict[tuple[int, ...], Candidate]:
    """The best member per cell, by brute force (ties: the older program)."""
    best: dict[tuple[int, ...], Candidate] = {}
    for p in sorted(a.members[island].values(), key=lambda q: q.iteration):
        cell = a.cell_of(p)
        if cell not in best or better(p, best[cell], a.maximize):
            best[cell] = p
    return best


# --- joining -------------------------------------------------------------------------------


def test_initial_program_seeds_every_island() -> None:
    a = archive(islands=4)
    initial = prog(0, 1.0, x=5)
    a.apply(initial)
    for island in range(4):
        assert list(a.members[island].values()) == [initial]
        assert a.grids[island].elites() == [initial]
        assert a.size(island) == 1
        assert a.coverage(island) == 1


def test_failed_initial_program_seeds_nothing() -> None:
    a = archive(islands=2)
    a.apply(prog(0, None, status=CandidateStatus.ERROR))
    assert a.size(0) == a.size(1) == 0
    assert a.best() is None
    with pytest.raises(RuntimeError, match="no valid program"):
        a.sample(0, random.Random(0))


def test_child_joins_only_its_island() -> None:
    a = archive(islands=3)
    a.apply(prog(0, 1.0, x=1))
    child = prog(1, 2.0, island=2, x=3)
    a.apply(child)
    assert child.code_hash in a.members[2]
    assert [a.size(i) for i in range(3)] == [1, 1, 2]
    # island numbers wrap around the ring
    wrapped = prog(2, 3.0, island=4, x=7)
    a.apply(wrapped)
    assert wrapped.code_hash in a.members[1]
    assert [a.size(i) for i in range(3)] == [1, 2, 2]


@pytest.mark.parametrize(
    "status",
    [
        CandidateStatus.ERROR,
        CandidateStatus.TIMEOUT,
        CandidateStatus.INVALID,
        CandidateStatus.DUPLICATE,
    ],
)
def test_failed_programs_never_enter(status: CandidateStatus) -> None:
    a = archive(islands=2)
    a.apply(prog(0, 1.0, x=5))
    a.apply(prog(1, 100.0, x=5, status=status))  # a stale score must not matter
    a.apply(prog(2, None, x=2, status=status))
    a.apply(prog(3, None, x=2))  # "OK" without a score is not valid either
    assert a.size(0) == a.size(1) == 1
    assert a.best() is not None and a.best().iteration == 0
    assert a.grids[0].elites()[0].iteration == 0


@pytest.mark.parametrize("maximize", [True, False])
def test_elite_replacement(maximize: bool) -> None:
    good, mid, bad = (3.0, 2.0, 1.0) if maximize else (1.0, 2.0, 3.0)
    a = archive(islands=1, maximize=maximize)
    a.apply(prog(0, mid, x=5.1))
    cell = a.cell_of(prog(0, mid, x=5.1))
    a.apply(prog(1, bad, x=5.5))  # same cell, worse: stays out of the grid
    assert a.grids[0].cells[cell].iteration == 0
    a.apply(prog(2, mid, x=5.9))  # same cell, equal: the incumbent stays
    assert a.grids[0].cells[cell].iteration == 0
    a.apply(prog(3, good, x=5.0))  # same cell, better: takes it
    assert a.grids[0].cells[cell].iteration == 3
    assert a.coverage(0) == 1
    assert a.size(0) == 4  # all valid programs are members, only one is an elite
    a.apply(prog(4, bad, x=9.0))  # a new cell is taken whatever the score
    assert a.coverage(0) == 2


def test_grid_offer() -> None:
    grid = Grid(maximize=False)
    assert grid.offer((0,), prog(1, 5.0))
    assert not grid.offer((0,), prog(2, 6.0))
    assert not grid.offer((0,), prog(3, 5.0))
    assert grid.offer((0,), prog(4, 4.0))
    assert grid.offer((1,), prog(5, 9.0))
    assert [p.iteration for p in grid.elites()] == [4, 5]
    assert len(grid) == 2


# --- features ------------------------------------------------------------------------------


def test_builtin_features() -> None:
    p = prog(1, 1.0, code="a\nbb\nccc")
    length = Dimension.from_config(FeatureConfig(name="code_length"))
    lines = Dimension.from_config(FeatureConfig(name="line_count"))
    assert length.value(p) == 8.0
    assert lines.value(p) == 3.0


def test_code_length_feature_places_programs() -> None:
    a = archive([FeatureConfig(name="code_length", bins=4, min=0, max=40)], islands=1)
    a.apply(prog(0, 1.0, code="x" * 5))  # bin 0
    a.apply(prog(1, 1.0, code="y" * 15))  # bin 1
    a.apply(prog(2, 1.0, code="z" * 39))  # bin 3
    a.apply(prog(3, 1.0, code="w" * 400))  # clamped to bin 3
    assert sorted(a.grids[0].cells) == [(0,), (1,), (3,)]
    assert a.grids[0].cells[(3,)].iteration == 2


def test_metric_feature_fixed_range_clamps() -> None:
    dim = Dimension.from_config(X_FIXED)
    assert dim.fixed
    assert [dim.bin(v) for v in (-5.0, 0.0, 0.99, 1.0, 5.5, 9.99, 10.0, 1e9)] == [
        0,
        0,
        0,
        1,
        5,
        9,
        9,
        9,
    ]
    assert not dim.observe(100.0)
    assert (dim.low, dim.high) == (0.0, 10.0)
    # a missing or non-finite metric counts as 0
    assert dim.value(prog(1, 1.0)) == 0.0
    assert dim.value(prog(1, 1.0, x=float("nan"))) == 0.0
    assert dim.value(prog(1, 1.0, x=7.5)) == 7.5


def test_two_dimensional_cells() -> None:
    features = [X_FIXED, FeatureConfig(name="score", bins=2, min=0, max=2)]
    a = archive(features, islands=1)
    a.apply(prog(0, 0.5, x=3))
    a.apply(prog(1, 1.5, x=3))
    assert sorted(a.grids[0].cells) == [(3, 0), (3, 1)]


def test_adaptive_range_grows() -> None:
    dim = Dimension.from_config(FeatureConfig(name="x", bins=4))
    assert not dim.fixed
    assert dim.observe(5.0)
    assert dim.bin(5.0) == 0  # a single value: one bin
    assert dim.observe(9.0)
    assert not dim.observe(7.0)
    assert dim.observe(1.0)
    assert (dim.low, dim.high) == (1.0, 9.0)
    assert [dim.bin(v) for v in (1.0, 3.0, 4.99, 5.0, 9.0)] == [0, 1, 1, 2, 3]


def test_adaptive_rebinning_keeps_best_per_cell() -> None:
    a = archive([FeatureConfig(name="x", bins=2)], islands=1)
    a.apply(prog(0, 1.0, x=0.0))
    a.apply(prog(1, 5.0, x=1.0))  # range [0, 1]: two cells
    assert sorted(a.grids[0].cells) == [(0,), (1,)]
    a.apply(prog(2, 3.0, x=10.0))  # range [0, 10]: 0 and 1 now share cell 0
    cells = a.grids[0].cells
    assert sorted(cells) == [(0,), (1,)]
    assert cells[(0,)].iteration == 1  # the better of the two merged programs
    assert cells[(1,)].iteration == 2
    assert cells == expected_grid(a, 0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-50, 50),
            st.floats(-100, 100, allow_nan=False),
            st.integers(0, 3),
            st.booleans(),
        ),
        min_size=1,
        max_size=40,
    ),
    st.booleans(),
)
def test_grid_is_best_per_cell(steps: list[tuple[int, float, int, bool]], maximize: bool) -> None:
    """After any sequence (adaptive and fixed dimensions, migrations), every island's grid
    holds exactly the best member of each occupied cell."""
    features = [FeatureConfig(name="x", bins=5), FeatureConfig(name="code_length", bins=3)]
    a = archive(features, maximize=maximize, islands=3, migration_interval=4, migration_rate=0.5)
    for it, (score, x, island, ok) in enumerate(steps):
        status = CandidateStatus.OK if ok or it == 0 else CandidateStatus.ERROR
        # distinct scores, so "best" never depends on arrival order
        a.apply(
            prog(
                it,
                score * 1000.0 + it,
                island=island,
                x=x,
                status=status,
                code="c" * (it % 7) + f"{it}",
            )
        )
        for i in range(3):
            assert a.grids[i].cells == expected_grid(a, i)
            assert {p.id for p in a.grids[i].cells.values()} <= {
                p.id for p in a.members[i].values()
            }


# --- migration -----------------------------------------------------------------------------


def test_migration_sends_top_elites_to_ring_neighbour() -> None:
    a = archive(islands=3, migration_interval=5, migration_rate=0.5)
    a.apply(prog(0, 0.0, x=0))
    a.apply(prog(1, 10.0, island=0, x=1))
    a.apply(prog(2, 20.0, island=0, x=2))
    a.apply(prog(3, 30.0, island=0, x=3))
    a.apply(prog(4, 5.0, island=1, x=4))
    before = [set(m) for m in a.members]
    assert a.migrations == 0
    a.apply(prog(5, None, status=CandidateStatus.ERROR))  # the clock ticks even for failures
    assert a.migrations == 1
    # island 0 has 4 elites: ceil(0.5 * 4) = 2 best go to island 1
    new_on_1 = {a.members[1][h].iteration for h in set(a.members[1]) - before[1]}
    assert new_on_1 == {3, 2}
    # island 1 has 2 elites: its best (iteration 4) goes to island 2
    new_on_2 = {a.members[2][h].iteration for h in set(a.members[2]) - before[2]}
    assert new_on_2 == {4}
    # island 2 had only the initial program, already on island 0: nothing new there
    assert set(a.members[0]) == before[0]


def test_migration_only_at_interval() -> None:
    a = archive(islands=2, migration_interval=3, migration_rate=1.0)
    a.apply(prog(0, 0.0, x=0))
    a.apply(prog(1, 9.0, island=0, x=5))
    a.apply(prog(2, 8.0, island=0, x=6))
    assert a.migrations == 0 and a.size(1) == 1
    a.apply(prog(3, 1.0, island=1, x=1))
    assert a.migrations == 1
    assert a.size(1) == 4 and a.size(0) == 4
    for it in range(4, 6):
        a.apply(prog(it, 0.5, island=0, x=9))
    assert a.migrations == 1
    a.apply(prog(6, 0.5, island=0, x=9.5))
    assert a.migrations == 2


def test_migration_rate_zero_and_single_island() -> None:
    a = archive(islands=2, migration_interval=1, migration_rate=0.0)
    a.apply(prog(0, 0.0, x=0))
    a.apply(prog(1, 9.0, island=0, x=5))
    assert a.size(1) == 1
    single = archive(islands=1, migration_interval=1)
    single.apply(prog(0, 0.0, x=0))
    single.apply(prog(1, 9.0, x=5))
    assert single.migrations == 0 and single.size(0) == 2


def test_migration_never_duplicates_same_code() -> None:
    a = archive(islands=2, migration_interval=2, migration_rate=1.0)
    a.apply(prog(0, 0.0, x=0, code="seed\n"))
    a.apply(prog(1, 5.0, island=0, x=5, code="same code\n"))
    # a different program (another id) with the same code, on the neighbour island
    a.apply(prog(2, 5.0, island=1, x=5, code="same code\n"))
    assert a.migrations == 1
    for island in range(2):
        codes = [p.code for p in a.members[island].values()]
        assert sorted(codes) == ["same code\n", "seed\n"]
    assert a.members[1][prog(2, 5.0, code="same code\n").code_hash].iteration == 2


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 20), st.floats(0, 10, allow_nan=False), st.integers(0, 3)),
        min_size=1,
        max_size=120,
    )
)
def test_many_migrations_never_duplicate(steps: list[tuple[int, float, int]]) -> None:
    a = archive(islands=4, migration_interval=3, migration_rate=0.5)
    codes = [f"variant {k}\n" for k in range(6)]  # few codes: heavy duplication pressure
    for it, (score, x, island) in enumerate(steps):
        a.apply(prog(it, float(score), island=island, x=x, code=codes[it % len(codes)]))
    assert a.migrations == (len(steps) - 1) // 3
    for island in range(4):
        members = list(a.members[island].values())
        assert len({p.code for p in members}) == len(members)
        assert all(h == p.code_hash for h, p in a.members[island].items())
        elites = a.grids[island].elites()
        assert len({p.code for p in elites}) == len(elites)


# --- sampling ------------------------------------------------------------------------------


def filled(maximize: bool = True, **search: object) -> IslandArchive:
    """Island 0: 10 programs over 5 cells (each cell: an elite and a beaten member)."""
    a = archive(maximize=maximize, islands=2, **search)
    a.apply(prog(0, 0.0, x=0.5))
    for it in range(1, 10):
        a.apply(prog(it, float(it), island=0, x=float(it // 2 * 2) + 0.5))
    a.apply(prog(10, 99.0, island=1, x=5))
    return a


def test_filled_fixture_shape() -> None:
    a = filled()
    assert a.size(0) == 10
    assert a.coverage(0) == 5
    assert sorted(p.iteration for p in a.grids[0].elites()) == [1, 3, 5, 7, 9]


@pytest.mark.parametrize("num_inspirations", [0, 1, 2, 3, 8])
def test_sample_contract(num_inspirations: int) -> None:
    a = filled(num_inspirations=num_inspirations)
    elites0 = {p.id for p in a.grids[0].elites()}
    members0 = {p.id for p in a.members[0].values()}
    rng = random.Random(1)
    for _ in range(300):
        parent, inspirations = a.sample(0, rng)
        assert parent.id in members0
        assert len(inspirations) <= num_inspirations
        assert len({p.id for p in inspirations}) == len(inspirations)
        assert len({p.code_hash for p in inspirations}) == len(inspirations)
        assert parent.code_hash not in {p.code_hash for p in inspirations}
        assert {p.id for p in inspirations} <= elites0
        if num_inspirations:
            others = [p for p in a.grids[0].elites() if p.id != parent.id]
            assert len(inspirations) == min(num_inspirations, len(others))
            assert inspirations[0].score == max(p.score for p in others)


def test_sample_island_wraps_and_stays_on_island() -> None:
    a = filled()
    rng = random.Random(3)
    island1 = {p.id for p in a.members[1].values()}
    for _ in range(50):
        parent, inspirations = a.sample(3, rng)  # 3 % 2 == 1
        assert parent.id in island1
        assert {p.id for p in inspirations} <= island1


def test_exploration_draws_from_grid_elites() -> None:
    a = filled(exploration_ratio=1.0, exploitation_ratio=0.0)
    rng = random.Random(5)
    parents = Counter(a.sample(0, rng)[0].iteration for _ in range(500))
    assert set(parents) == {1, 3, 5, 7, 9}  # every elite, never a beaten member


def test_exploitation_draws_from_top_of_island() -> None:
    a = filled(exploration_ratio=0.0, exploitation_ratio=1.0, elite_pool=3)
    rng = random.Random(5)
    parents = Counter(a.sample(0, rng)[0].iteration for _ in range(500))
    assert set(parents) == {9, 8, 7}


def test_exploitation_respects_minimize() -> None:
    a = filled(maximize=False, exploration_ratio=0.0, exploitation_ratio=1.0, elite_pool=2)
    rng = random.Random(5)
    parents = Counter(a.sample(0, rng)[0].iteration for _ in range(300))
    assert set(parents) == {0, 1}


def test_no_exploration_no_exploitation_takes_the_best() -> None:
    a = filled(exploration_ratio=0.0, exploitation_ratio=0.0)
    rng = random.Random(5)
    assert {a.sample(0, rng)[0].iteration for _ in range(50)} == {9}


def test_sample_single_program_island() -> None:
    a = archive(islands=2, num_inspirations=3)
    a.apply(prog(0, 1.0, x=1))
    parent, inspirations = a.sample(1, random.Random(0))
    assert parent.iteration == 0
    assert inspirations == []


step_strategy = st.tuples(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.integers(0, 7),
    st.floats(-50, 50, allow_nan=False),
    st.sampled_from(
        [
            CandidateStatus.OK,
            CandidateStatus.OK,
            CandidateStatus.OK,
            CandidateStatus.ERROR,
            CandidateStatus.TIMEOUT,
        ]
    ),
    st.integers(0, 4),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(step_strategy, min_size=1, max_size=60), st.integers(0, 2**32 - 1), st.booleans())
def test_determinism(
    steps: list[tuple[float, int, float, CandidateStatus, int]], seed: int, maximize: bool
) -> None:
    features = [FeatureConfig(name="x", bins=4), FeatureConfig(name="code_length", bins=3)]

    def build() -> IslandArchive:
        a = archive(
            features, maximize=maximize, islands=3, migration_interval=5, num_inspirations=3
        )
        for it, (score, island, x, status, variant) in enumerate(steps):
            status = CandidateStatus.OK if it == 0 else status
            a.apply(
                prog(
                    it,
                    score,
                    island=island,
                    x=x,
                    status=status,
                    code=f"v{variant}\n" * (it % 4 + 1),
                )
            )
        return a

    first, second = build(), build()
    rng1, rng2 = random.Random(seed), random.Random(seed)
    for round_ in range(12):
        island = round_ % 3
        p1, i1 = first.sample(island, rng1)
        p2, i2 = second.sample(island, rng2)
        assert p1.id == p2.id
        assert ids(i1) == ids(i2)
    assert [sorted(m) for m in first.members] == [sorted(m) for m in second.members]
    assert [g.cells for g in first.grids] == [g.cells for g in second.grids]


# --- best ----------------------------------------------------------------------------------


@pytest.mark.parametrize("maximize", [True, False])
def test_best(maximize: bool) -> None:
    a = archive(islands=2, maximize=maximize)
    a.apply(prog(0, 5.0, x=1))
    a.apply(prog(1, 9.0, island=0, x=2))
    a.apply(prog(2, 1.0, island=1, x=3))
    a.apply(prog(3, 100.0, island=1, x=4, status=CandidateStatus.ERROR))
    a.apply(prog(4, -100.0, island=0, x=4, status=CandidateStatus.TIMEOUT))
    best = a.best()
    assert best is not None
    assert best.iteration == (1 if maximize else 2)
    assert a.best(0).iteration == (1 if maximize else 0)
    assert a.best(1).iteration == (0 if maximize else 2)


def test_best_tie_prefers_older() -> None:
    a = archive(islands=2)
    a.apply(prog(0, 1.0, x=1))
    a.apply(prog(1, 7.0, island=1, x=2))
    a.apply(prog(2, 7.0, island=0, x=3))
    assert a.best().iteration == 1
    a2 = archive(islands=2)
    a2.apply(prog(0, 1.0, x=1))
    a2.apply(prog(2, 7.0, island=0, x=3))
    a2.apply(prog(1, 7.0, island=1, x=2))
    assert a2.best().iteration == 1
