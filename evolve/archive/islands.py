"""The island archive: one bounded population and one MAP-Elites grid per island.

Its state is a pure function of the ordered sequence of candidates given to ``apply``
(migration happens at fixed iteration numbers), so the controller rebuilds it exactly from
the Store on resume: the database is the truth, this is a cache.

- The initial program (iteration 0) seeds every island.
- A valid child joins its parent's island and competes for its cell.
- Every applied candidate counts as a child of its parent, if the archive holds it (the
  ``weighted`` parent rule prefers programs with fewer children).
- Every ``migration_interval`` iterations each island sends its best elites to the next
  island of the ring; a program already present there (same code) is not sent twice.
- An island holds at most ``search.population_size`` programs: past it, the worst-ranked
  program that is neither an elite of the island's grid nor the island's best is evicted
  (ties on the score: the oldest first), see ``evolve.archive.population``.

Cost: applying a candidate, drawing a parent and inspirations by the default rule, and
asking for the best (of an island or of all) take O(log n) in the programs held (other
parent rules: up to O(population_size) a draw, see ``evolve.archive.parents``); a
migration moves a share of each island's elites at O(log n) each. The exception is re-binning: when a program widens
an adaptive feature range, every island's grid is rebuilt from its members, O(islands x
population_size x log population_size), bounded by the cap and not by the run's length.
"""

from __future__ import annotations

import math
import random

from evolve.archive import mates
from evolve.archive.features import Dimension
from evolve.archive.map_elites import Cell, Grid, rank_key_of
from evolve.archive.parents import ParentSampler, View
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
        self._initial: Candidate | None = None
        # id -> [candidate, how many islands hold it, its children applied so far]: ``get``,
        # ``len`` and ``children`` without a scan.
        self._held: dict[str, list] = {}
        self.parents = ParentSampler(search, objective)

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
        parent = self._held.get(program.parent_id) if program.parent_id else None
        if parent is not None:
            parent[2] += 1
        if program.ok and program.iteration == 0:
            self._initial = program
            if self.search.parent_selection == "initial":
                self._hold(program)  # every child's parent: held whatever the islands evict
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
        entry = self._held.setdefault(program.id, [program, 0, 0])
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

    def children(self, program: Candidate) -> int:
        """How many children of ``program`` have been applied (valid or not) while the
        archive held it. O(1)."""
        entry = self._held.get(program.id)
        return entry[2] if entry is not None else 0

    def mate(self, island: int, parent: Candidate, rng: random.Random) -> Candidate | None:
        """Crossover's second parent for ``parent``, chosen for diversity
        (``search.mate_selection``, see ``evolve.archive.mates``); None when there is none."""
        index = island % self.n
        if self.search.mate_selection == "other_island" and self.n > 1:
            found = mates.other_island([i.best() for i in self.islands], index, rng)
            if found is not None and found.code_hash != parent.code_hash:
                return found
        return mates.other_cell(self.islands[index].grid, parent, self.cell_of, rng)

    def sample(self, island: int, rng: random.Random) -> tuple[Candidate, list[Candidate]]:
        """A parent and inspirations from one island, by ``search.parent_selection`` and
        ``search.inspiration_selection`` (``evolve.archive.parents``; the default: with
        chance ``exploration_ratio`` a uniformly random elite of the grid, with chance
        ``exploitation_ratio`` one of the island's top ``elite_pool``, else the island's
        best; inspirations the best elite other than the parent, then a random sample of
        the other elites)."""
        pool = self.islands[island % self.n]
        if not len(pool):  # an island can be empty only if the initial program failed
            raise RuntimeError(f"island {island % self.n} has no valid program to sample")
        view = View(pool, self.children, self.cell_of, self._initial, self._best)
        return self.parents.sample(view, rng)
