"""Tests for the island archive: MAP-Elites grids, features, migration, sampling, and the
bounded population (eviction, replay, cost per operation against a plain reference)."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evolve.archive.features import Dimension
from evolve.archive.islands import IslandArchive
from evolve.archive.map_elites import Grid
from evolve.config import FeatureConfig, SearchConfig
from evolve.core.objective import Objective
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
        Objective(maximize),
    )


def ids(programs: list[Candidate]) -> list[str]:
    return [p.id for p in programs]


def expected_grid(a: IslandArchive, island: int) -> dict[tuple[int, ...], Candidate]:
    """The best member per cell, by brute force (ties: the older program)."""
    best: dict[tuple[int, ...], Candidate] = {}
    for p in sorted(a.members[island].values(), key=lambda q: q.iteration):
        cell = a.cell_of(p)
        if cell not in best or a.objective.better(p.score, best[cell].score):
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
    grid = Grid(Objective(maximize=False))
    assert grid.offer((0,), prog(1, 5.0))
    assert not grid.offer((0,), prog(2, 6.0))
    assert not grid.offer((0,), prog(3, 5.0))
    assert grid.offer((0,), prog(4, 4.0))
    assert grid.offer((1,), prog(5, 9.0))
    assert [p.iteration for p in grid.elites()] == [4, 5]
    assert len(grid) == 2
    assert grid.cell_of(prog(4, 4.0).code_hash) == (0,)
    assert grid.cell_of(prog(5, 9.0).code_hash) == (1,)
    assert grid.cell_of(prog(1, 5.0).code_hash) is None  # beaten: no elite any more


@pytest.mark.parametrize("maximize", [True, False])
def test_island_order_statistics(maximize: bool) -> None:
    a = archive(islands=1, maximize=maximize, population_size=3, elite_pool=1)
    island = a.islands[0]
    assert island.best() is island.worst() is island.median() is None
    for it, score in enumerate((2.0, 4.0, 1.0, 3.0)):
        a.apply(prog(it, score, x=5.5))  # one cell: the beaten ones can be evicted
    assert island.joined == 4 and len(island) == 3  # the evicted one had joined
    ranked = [p.score for p in island.ranked]
    assert ranked == ([4.0, 3.0, 2.0] if maximize else [1.0, 2.0, 3.0])
    assert (island.best().score, island.median().score, island.worst().score) == tuple(ranked)


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


def test_get_and_len_count_programs_held() -> None:
    a = archive(islands=2, migration_interval=2, migration_rate=1.0)
    a.apply(prog(0, 1.0, x=1))  # on both islands: one program
    assert len(a) == 1
    a.apply(prog(1, 5.0, island=0, x=2))
    a.apply(prog(2, None, status=CandidateStatus.ERROR))  # never held, but migration ticks
    assert len(a) == 2
    assert a.get("id00001") is not None and a.get("id00001").score == 5.0
    assert a.get("id00002") is None
    assert a.get("nope") is None


# --- the bounded population ----------------------------------------------------------------


class Reference:
    """The archive written the plain way (unbounded islands, a scan or a sort per query):
    what the kept-sorted one must match below its population cap."""

    def __init__(self, features: list[FeatureConfig], search: SearchConfig, maximize: bool):
        self.search, self.objective = search, Objective(maximize)
        self.dims = [Dimension.from_config(f) for f in features]
        self.n = search.islands
        self.members: list[dict[str, Candidate]] = [{} for _ in range(self.n)]
        self.cells: list[dict[tuple[int, ...], Candidate]] = [{} for _ in range(self.n)]

    def cell_of(self, p: Candidate) -> tuple[int, ...]:
        return tuple(d.bin(d.value(p)) for d in self.dims)

    def apply(self, p: Candidate) -> None:
        if p.ok:
            for island in range(self.n) if p.iteration == 0 else [p.island % self.n]:
                self._add(island, p)
        every = self.search.migration_interval
        if self.n > 1 and p.iteration > 0 and p.iteration % every == 0:
            self.migrate()

    def _add(self, island: int, p: Candidate) -> None:
        if p.code_hash in self.members[island]:
            return
        self.members[island][p.code_hash] = p
        if any([d.observe(d.value(p)) for d in self.dims]):
            for i in range(self.n):
                self.cells[i] = {}
                for q in sorted(self.members[i].values(), key=lambda q: q.iteration):
                    self._offer(i, q)
        else:
            self._offer(island, p)

    def _offer(self, island: int, p: Candidate) -> None:
        cell, incumbent = self.cell_of(p), self.cells[island].get(self.cell_of(p))
        if incumbent is None or self.objective.better(p.score, incumbent.score):
            self.cells[island][cell] = p

    def elites(self, island: int) -> list[Candidate]:
        return sorted(self.cells[island].values(), key=lambda q: q.iteration)

    def ranked(self, programs: list[Candidate]) -> list[Candidate]:
        return sorted(programs, key=lambda q: (self.objective.key(q.score), q.iteration))

    def migrate(self) -> None:
        if self.search.migration_rate <= 0:
            return
        outgoing = []
        for island in range(self.n):
            elites = self.ranked(self.elites(island))
            count = max(1, -(-len(elites) * self.search.migration_rate // 1)) if elites else 0
            outgoing.append(elites[: int(count)])
        for island, programs in enumerate(outgoing):
            for p in programs:
                self._add((island + 1) % self.n, p)

    def best(self, island: int | None = None) -> Candidate | None:
        pools = self.members if island is None else [self.members[island]]
        pool = self.ranked([p for members in pools for p in members.values()])
        return pool[0] if pool else None

    def sample(self, island: int, rng: random.Random) -> tuple[Candidate, list[Candidate]]:
        s = self.search
        pool = self.ranked(list(self.members[island % self.n].values()))
        elites = self.elites(island % self.n)
        r = rng.random()
        if r < s.exploration_ratio and elites:
            parent = rng.choice(elites)
        elif r < s.exploration_ratio + s.exploitation_ratio:
            parent = rng.choice(pool[: s.elite_pool])
        else:
            parent = pool[0]
        others = [p for p in self.ranked(elites) if p.code_hash != parent.code_hash]
        inspirations: list[Candidate] = []
        if others and s.num_inspirations:
            inspirations.append(others[0])
            rest = others[1:]
            inspirations.extend(rng.sample(rest, min(s.num_inspirations - 1, len(rest))))
        return parent, inspirations


def random_candidates(seed: int, count: int, islands: int, repeats: bool = True) -> list[Candidate]:
    """Scores with many ties (small integers), a few failures, codes that repeat (unless
    ``repeats`` is False: a run evaluates a code once, later twins are ``duplicate``)."""
    rng = random.Random(seed)
    out = [prog(0, 0.0, x=rng.uniform(0, 10), code="seed\n")]
    for it in range(1, count):
        ok = rng.random() < 0.9
        out.append(
            prog(
                it,
                float(rng.randint(-20, 20)) if ok else None,
                island=rng.randrange(islands),
                x=rng.uniform(-2, 12),
                status=CandidateStatus.OK if ok else CandidateStatus.ERROR,
                code="v" * rng.randint(1, 40) + f"{rng.randrange(count) if repeats else it}\n",
            )
        )
    return out


@pytest.mark.parametrize(
    ("seed", "maximize", "ratios", "inspirations"),
    [
        (1, True, (0.2, 0.7), 3),
        (2, False, (0.2, 0.7), 8),
        (3, True, (0.5, 0.3), 1),
        (4, False, (0.0, 0.0), 2),
        (5, True, (1.0, 0.0), 16),
    ],
)
def test_same_draws_as_the_plain_reference_below_the_cap(
    seed: int, maximize: bool, ratios: tuple[float, float], inspirations: int
) -> None:
    """Random candidates (adaptive and fixed features, migrations, tied scores, repeated
    code): every best, size, coverage and draw is the plain implementation's."""
    features = [X_FIXED, FeatureConfig(name="code_length", bins=5)]
    search = {
        "islands": 3,
        "migration_interval": 7,
        "migration_rate": 0.3,
        "exploration_ratio": ratios[0],
        "exploitation_ratio": ratios[1],
        "num_inspirations": inspirations,
        "population_size": 1000,
    }
    a = archive(features, maximize=maximize, **search)
    ref = Reference(features, SearchConfig(**search), maximize)  # type: ignore[arg-type]
    rng_a, rng_ref = random.Random(seed), random.Random(seed)
    draws = 0
    for p in random_candidates(seed, 400, 3):
        a.apply(p)
        ref.apply(p)
        assert a.best() is ref.best()
        if p.iteration % 5:
            continue
        for island in range(3):
            assert a.best(island) is ref.best(island)
            assert a.size(island) == len(ref.members[island])
            assert a.coverage(island) == len(ref.cells[island])
            for _ in range(8):
                parent, insp = a.sample(island, rng_a)
                ref_parent, ref_insp = ref.sample(island, rng_ref)
                assert parent is ref_parent
                assert ids(insp) == ids(ref_insp)
                draws += 1
    assert draws == 80 * 3 * 8
    assert max(a.coverage(i) for i in range(3)) > 30  # random.sample's both strategies ran


def eviction_key(objective: Objective, p: Candidate) -> tuple[float, int]:
    """Larger is evicted first: the worse score, then the older program."""
    return (objective.key(p.score), -p.iteration)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(6, 30), st.booleans())
def test_eviction_keeps_elites_and_best_and_the_cap(seed: int, cap: int, maximize: bool) -> None:
    """With fixed features the grids, the bests and the migrations are exactly the unbounded
    reference's: eviction never took an elite or a best. Every island stays within the cap,
    and what was evicted ranks below every non-elite kept (worse score; ties: older)."""
    features = [FeatureConfig(name="x", bins=4, min=0, max=10)]  # 4 cells < cap
    search = {"islands": 3, "migration_interval": 6, "migration_rate": 0.5}
    a = archive(features, maximize=maximize, population_size=cap, elite_pool=3, **search)
    ref = Reference(features, SearchConfig(**search), maximize)  # type: ignore[arg-type]
    objective = Objective(maximize)
    for p in random_candidates(seed, 150, 3, repeats=False):
        a.apply(p)
        ref.apply(p)
        assert a.best() is ref.best()
        for island in range(3):
            held = a.members[island]
            assert len(held) <= cap
            assert a.grids[island].cells == ref.cells[island]
            best = ref.best(island)
            assert best is a.best(island) and best.code_hash in held
            assert set(held) <= set(ref.members[island])
            elites = {e.code_hash for e in ref.cells[island].values()} | {best.code_hash}
            kept = [eviction_key(objective, q) for h, q in held.items() if h not in elites]
            gone = [
                eviction_key(objective, q) for h, q in ref.members[island].items() if h not in held
            ]
            if kept and gone:
                assert max(kept) <= min(gone)
            if len(ref.members[island]) >= cap:
                assert len(held) == cap  # evicts only what it must
    assert len(a) == len({q.id for m in a.members for q in m.values()})
    evicted = [q for m in ref.members for q in m.values() if a.get(q.id) is None]
    assert all(not any(q.id == h.id for m in a.members for h in m.values()) for q in evicted)


def test_a_best_that_is_no_elite_is_not_evicted() -> None:
    """An older program of equal score arrives by migration where its cell already has an
    elite: it is the island's best without being an elite, and it is last in the eviction
    order among equals (the oldest); the next one goes instead."""
    a = archive(islands=2, population_size=3, elite_pool=1, migration_rate=1.0)
    a.apply(prog(0, 0.0, x=9.5))
    a.apply(prog(1, 5.0, island=0, x=0.5))  # island 0's elite of cell 0
    a.apply(prog(2, 5.0, island=1, x=0.6))  # island 1's elite of cell 0
    a.apply(prog(3, 5.0, island=1, x=0.7))  # a tie: stays out of island 1's grid
    assert a.size(1) == 3
    a.migrate()  # iteration 1 reaches island 1: 4 programs, one must go
    assert a.best(1).iteration == 1
    assert a.grids[1].cells[(0,)].iteration == 2
    assert sorted(p.iteration for p in a.members[1].values()) == [0, 1, 2]
    assert a.get("id00003") is None


def test_elites_over_the_cap_are_all_kept() -> None:
    """A grid with more elites than the cap: the island keeps every elite and nothing else."""
    a = archive(islands=1, population_size=3, elite_pool=1)
    a.apply(prog(0, 0.0, x=0.5))
    for it in range(1, 30):
        a.apply(prog(it, float(it % 7), x=(it * 3.7) % 10))
    assert a.coverage(0) == 10
    assert a.size(0) == 10
    assert set(a.members[0]) == {e.code_hash for e in a.grids[0].elites()}
    assert a.best(0).score == 6.0


def test_population_size_is_validated() -> None:
    with pytest.raises(ValueError, match="population_size"):
        SearchConfig(population_size=3, elite_pool=5)
    with pytest.raises(ValueError, match="population_size"):
        SearchConfig(population_size=0)
    assert SearchConfig().population_size == 1000


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_replay_gives_the_same_archive_and_draws_past_the_cap(seed: int, maximize: bool) -> None:
    """Resume replays the stored candidates: the same order must give the same archive
    (evictions and re-binnings included) and the same draws."""
    features = [FeatureConfig(name="x", bins=3), FeatureConfig(name="code_length", bins=3)]
    search = {"islands": 2, "migration_interval": 5, "population_size": 12, "num_inspirations": 3}
    candidates = random_candidates(seed, 120, 2)
    first, second = (archive(features, maximize=maximize, **search) for _ in range(2))
    for p in candidates:
        first.apply(p)
    for p in candidates:
        second.apply(p)
    for island in range(2):
        assert list(first.members[island]) == list(second.members[island])
        assert first.grids[island].cells == second.grids[island].cells
        assert first.best(island) == second.best(island)
    assert max(first.size(i) for i in range(2)) == 12
    rng1, rng2 = random.Random(seed), random.Random(seed)
    for round_ in range(40):
        p1, i1 = first.sample(round_ % 2, rng1)
        p2, i2 = second.sample(round_ % 2, rng2)
        assert (p1.id, ids(i1)) == (p2.id, ids(i2))


@dataclass(frozen=True)
class CountingObjective(Objective):
    """An ``Objective`` that counts how often the archive asks it anything."""

    calls: Counter = field(default_factory=Counter, compare=False)

    def better(self, a: float | None, b: float | None) -> bool:
        self.calls["better"] += 1
        return super().better(a, b)

    def key(self, score: float | None) -> float:
        self.calls["key"] += 1
        return super().key(score)


TOUCHED: set[str] = set()


class Watched(Candidate):
    """A candidate that notes when anything reads its score, age, code or metrics."""

    def __getattribute__(self, name: str) -> object:
        if name in ("score", "iteration", "code_hash", "code", "metrics"):
            TOUCHED.add(object.__getattribute__(self, "id"))
        return object.__getattribute__(self, name)


def test_operations_do_not_grow_with_the_population() -> None:
    """6,000 programs on one island under a cap of 5,000: best() asks nothing and touches
    nothing, a draw touches a handful of programs, applying one asks the Objective a
    handful of times; a scan or a sort would ask and touch thousands."""
    objective = CountingObjective()
    search = SearchConfig(islands=1, population_size=5000, num_inspirations=4)
    a = IslandArchive([FeatureConfig(name="x", bins=10, min=0, max=100)], search, objective)
    rng = random.Random(0)
    per_apply = []
    for it in range(6000):
        p = prog(it, rng.uniform(0, 1000), x=rng.uniform(0, 100))
        watched = Watched(**{f: getattr(p, f) for f in Candidate.FIELDS})
        objective.calls.clear()
        TOUCHED.clear()
        a.apply(watched)
        per_apply.append((sum(objective.calls.values()), len(TOUCHED)))
    assert a.size(0) == 5000
    assert max(calls for calls, _ in per_apply) <= 12
    assert max(touched for _, touched in per_apply) <= 6  # it, its rival, the best, the evicted
    objective.calls.clear()
    TOUCHED.clear()
    for _ in range(100):
        a.best()
        a.best(0)
    assert sum(objective.calls.values()) == 0 and not TOUCHED
    for _ in range(100):
        objective.calls.clear()
        TOUCHED.clear()
        a.sample(0, rng)
        assert sum(objective.calls.values()) <= 4
        assert len(TOUCHED) <= 2 + search.elite_pool + search.num_inspirations
