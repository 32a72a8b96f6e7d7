"""The island archive: one population and one MAP-Elites grid per island.

Its state is a pure function of the ordered sequence of candidates given to ``apply``
(migration happens at fixed iteration numbers), so the controller rebuilds it exactly from
the Store on resume: the database is the truth, this is a cache.

- The initial program (iteration 0) seeds every island.
- A valid child joins its parent's island and competes for its cell.
- Every ``migration_interval`` iterations each island sends its best elites to the next
  island of the ring; a program already present there (same code) is not sent twice.
"""

from __future__ import annotations

import math
import random

from evolve.archive.features import Dimension
from evolve.archive.map_elites import Grid, better
from evolve.config import FeatureConfig, SearchConfig
from evolve.core.records import Candidate


class IslandArchive:
    def __init__(self, features: list[FeatureConfig], search: SearchConfig, maximize: bool) -> None:
        self.search = search
        self.maximize = maximize
        self.dims = [Dimension.from_config(f) for f in features]
        self.n = search.islands
        self.members: list[dict[str, Candidate]] = [{} for _ in range(self.n)]
        self.grids = [Grid(maximize) for _ in range(self.n)]
        self.migrations = 0

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

    def cell_of(self, program: Candidate) -> tuple[int, ...]:
        return tuple(d.bin(d.value(program)) for d in self.dims)

    def _add(self, island: int, program: Candidate) -> None:
        if program.code_hash in self.members[island]:
            return
        self.members[island][program.code_hash] = program
        rebin = False
        for dim in self.dims:
            rebin |= dim.observe(dim.value(program))
        if rebin:
            self._rebin()
        else:
            self.grids[island].offer(self.cell_of(program), program)

    def _rebin(self) -> None:
        for island in range(self.n):
            grid = Grid(self.maximize)
            for p in sorted(self.members[island].values(), key=lambda q: q.iteration):
                grid.offer(self.cell_of(p), p)
            self.grids[island] = grid

    def migrate(self) -> None:
        """Send each island's top elites to its ring neighbour, without duplicates."""
        rate = self.search.migration_rate
        if rate <= 0:
            return
        outgoing = []
        for island in range(self.n):
            elites = self._ranked(self.grids[island].elites())
            count = max(1, math.ceil(rate * len(elites))) if elites else 0
            outgoing.append(elites[:count])
        for island, programs in enumerate(outgoing):
            target = (island + 1) % self.n
            for p in programs:
                self._add(target, p)
        self.migrations += 1

    # queries ---------------------------------------------------------------
    def _ranked(self, programs: list[Candidate]) -> list[Candidate]:
        """Best first; ties broken by age (older first) so the order is deterministic."""
        sign = -1.0 if self.maximize else 1.0
        return sorted(programs, key=lambda p: (sign * p.score, p.iteration))  # type: ignore[operator]

    def best(self, island: int | None = None) -> Candidate | None:
        pools = self.members if island is None else [self.members[island]]
        best: Candidate | None = None
        for pool in pools:
            for p in pool.values():
                if (
                    best is None
                    or better(p, best, self.maximize)
                    or (p.score == best.score and p.iteration < best.iteration)
                ):
                    best = p
        return best

    def size(self, island: int) -> int:
        return len(self.members[island])

    def coverage(self, island: int) -> int:
        return len(self.grids[island])

    def sample(self, island: int, rng: random.Random) -> tuple[Candidate, list[Candidate]]:
        """A parent and inspirations from one island, mixing exploitation and exploration."""
        island %= self.n
        pool = self._ranked(list(self.members[island].values()))
        if not pool:  # an island can be empty only if the initial program failed
            raise RuntimeError(f"island {island} has no valid program to sample")
        elites = self.grids[island].elites()
        r = rng.random()
        if r < self.search.exploration_ratio and elites:
            parent = rng.choice(elites)
        elif r < self.search.exploration_ratio + self.search.exploitation_ratio:
            parent = rng.choice(pool[: self.search.elite_pool])
        else:
            parent = pool[0]
        others = [p for p in self._ranked(elites) if p.code_hash != parent.code_hash]
        inspirations: list[Candidate] = []
        wanted = self.search.num_inspirations
        if others and wanted:
            inspirations.append(others[0])  # the island's best other elite
            rest = others[1:]
            inspirations.extend(rng.sample(rest, min(wanted - 1, len(rest))))
        return parent, inspirations
