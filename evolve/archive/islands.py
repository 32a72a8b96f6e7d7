"""The island archive: one bounded population and one MAP-Elites grid per island.

Its state is a pure function of the ordered sequence of candidates given to ``apply``
(migration happens at fixed iteration numbers), so the controller rebuilds it exactly from
the Store on resume: the database is the truth, this is a cache.

- The initial program (iteration 0) seeds every island.
- A valid child joins its parent's island and competes for its cell.
- Every ``migration_interval`` iterations each island sends its best elites to the next
  island of the ring; a program already present there (same code) is not sent twice.
- An island holds at most ``search.population_size`` programs: past it, the worst-ranked
  program that is neither an elite of the island's grid nor the island's best is evicted
  (ties on the score: the oldest first), see ``evolve.archive.population``.

Cost: applying a candidate, drawing a parent and inspirations, and asking for the best
(of an island or of all) take O(log n) in the programs held; a migration moves a share of
each island's elites at O(log n) each. The exception is re-binning: when a program widens
an adaptive feature range, every island's grid is rebuilt from its members, O(islands x
population_size x log population_size), bounded by the cap and not by the run's length.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Sequence
from typing import overload

from sortedcontainers import SortedKeyList

from evolve.archive.features import Dimension
from evolve.archive.map_elites import Cell, Grid, rank_key_of
from evolve.archive.population import Island
from evolve.config import FeatureConfig, SearchConfig
from evolve.core.objective import Objective
from evolve.core.records import Candidate


class IslandArchive:
    """Per-island populations and grids, parent and inspiration sampling, ring migration."""

    def __init__(
        self, features: list[FeatureConfig], search: SearchConfig, objective: Objective
    ) -> None:
        self.search = search
        self.objective = objective
        self.dims = [Dimension.from_config(f) for f in features]
        self.n = search.islands
        self.islands = [Island(objective, search.population_size) for _ in range(self.n)]
        self.migrations = 0
        self._rank = rank_key_of(objective)
        self._best: Candidate | None = None
        # id -> [candidate, how many islands hold it]: ``get`` and ``len`` without a scan.
        self._held: dict[str, list] = {}

    @property
    def members(self) -> list[dict[str, Candidate]]:
        """Each island's members by code hash (the live dicts: for inspection, not to modify)."""
        return [island.members for island in self.islands]

    @property
    def grids(self) -> list[Grid]:
        return [island.grid for island in self.islands]

    # the deterministic step ------------------------------------------------
    def apply(self, program: Candidate) -> None:
        """Take one candidate, in iteration order (valid or not: the clock still ticks)."""
        if program.ok:
            islands = range(self.n) if program.iteration == 0 else [program.island % self.n]
            for island in islands:
                self._add(island, program)
        interval = self.search.migration_interval
        if self.n > 1 and program.iteration > 0 and program.iteration % interval == 0:
            self.migrate()

    def cell_of(self, program: Candidate) -> Cell:
        return tuple(d.bin(d.value(program)) for d in self.dims)

    def _add(self, index: int, program: Candidate) -> None:
        island = self.islands[index]
        if not island.join(program):
            return
        self._hold(program)
        rebin = False
        for dim in self.dims:
            rebin |= dim.observe(dim.value(program))
        if rebin:
            for each in self.islands:
                each.rebin(self.cell_of)
        else:
            island.place(self.cell_of(program), program)
        # The island's best is never evicted, so the best of all only changes by arrivals.
        if self._best is None or self._rank(program) < self._rank(self._best):
            self._best = program
        for gone in island.shrink():
            self._release(gone)

    def _hold(self, program: Candidate) -> None:
        entry = self._held.setdefault(program.id, [program, 0])
        entry[1] += 1

    def _release(self, program: Candidate) -> None:
        entry = self._held[program.id]
        entry[1] -= 1
        if entry[1] == 0:
            del self._held[program.id]

    def migrate(self) -> None:
        """Send each island's top elites to its ring neighbour, without duplicates."""
        rate = self.search.migration_rate
        if rate <= 0:
            return
        outgoing = []
        for island in self.islands:
            elites = island.grid.by_rank
            count = max(1, math.ceil(rate * len(elites))) if elites else 0
            outgoing.append(list(elites.islice(0, count)))
        for index, programs in enumerate(outgoing):
            target = (index + 1) % self.n
            for p in programs:
                self._add(target, p)
        self.migrations += 1

    # queries ---------------------------------------------------------------
    def best(self, island: int | None = None) -> Candidate | None:
        """The best program of one island, or of all (ties: the oldest). O(1)."""
        return self._best if island is None else self.islands[island].best()

    def get(self, candidate_id: str) -> Candidate | None:
        """The candidate with this id, if some island still holds it."""
        entry = self._held.get(candidate_id)
        return entry[0] if entry is not None else None

    def size(self, island: int) -> int:
        return len(self.islands[island])

    def coverage(self, island: int) -> int:
        return len(self.islands[island].grid)

    def __len__(self) -> int:
        """How many distinct programs the archive holds (all islands together)."""
        return len(self._held)

    def sample(self, island: int, rng: random.Random) -> tuple[Candidate, list[Candidate]]:
        """A parent and inspirations from one island, mixing exploitation and exploration.

        Parent: with chance ``exploration_ratio`` a uniformly random elite of the grid
        (oldest-first order); with chance ``exploitation_ratio`` one of the island's top
        ``elite_pool``; else the island's best. Inspirations: the best elite other than the
        parent, then a random sample of the other elites."""
        pool = self.islands[island % self.n]
        if not len(pool):  # an island can be empty only if the initial program failed
            raise RuntimeError(f"island {island % self.n} has no valid program to sample")
        grid = pool.grid
        search = self.search
        r = rng.random()
        if r < search.exploration_ratio and len(grid):
            parent: Candidate = rng.choice(grid.by_age)
        elif r < search.exploration_ratio + search.exploitation_ratio:
            parent = rng.choice(pool.top(search.elite_pool))
        else:
            parent = pool.ranked[0]
        skip = None
        if grid.holds(parent.code_hash):
            skip = grid.by_rank.bisect_key_left(self._rank(parent))
        others = _Skipping(grid.by_rank, skip)
        inspirations: list[Candidate] = []
        wanted = search.num_inspirations
        if len(others) and wanted:
            inspirations.append(others[0])  # the island's best other elite
            rest = _Skipping(grid.by_rank, skip, start=1)
            inspirations.extend(rng.sample(rest, min(wanted - 1, len(rest))))
        return parent, inspirations


class _Skipping(Sequence[Candidate]):
    """A kept-sorted list seen from ``start`` on, without the item at index ``skip``: what
    ``random.sample`` draws from, indexed in O(log n) instead of copied."""

    def __init__(self, base: SortedKeyList, skip: int | None, start: int = 0) -> None:
        self.base, self.skip, self.start = base, skip, start

    def __len__(self) -> int:
        return max(0, len(self.base) - (self.skip is not None) - self.start)

    def __iter__(self) -> Iterator[Candidate]:
        # What ``random.sample`` copies when the sequence is short: one pass, no lookups.
        kept = (p for i, p in enumerate(self.base) if i != self.skip)
        return itertools.islice(kept, self.start, None)

    @overload
    def __getitem__(self, index: int) -> Candidate: ...
    @overload
    def __getitem__(self, index: slice) -> list[Candidate]: ...
    def __getitem__(self, index: int | slice) -> Candidate | list[Candidate]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        position = index + self.start
        if self.skip is not None and position >= self.skip:
            position += 1
        return self.base[position]
