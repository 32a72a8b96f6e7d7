"""One island's population: its members, their ranking, its MAP-Elites grid, and the rule
that keeps it within ``search.population_size``.

Every structure is kept sorted as programs come and go (``sortedcontainers``), so joining,
placing, evicting and finding the best or the top few cost O(log n) in the island's
population, never a scan or a sort of it.

Eviction: when a newcomer takes the population over the cap, the island lets go of its
worst-ranked program that is neither an elite of its grid nor its best (ties on the score:
the oldest goes first). The newcomer itself may be that program. An island whose elites
alone fill the cap keeps them all (and its best): it then holds its elites and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

from sortedcontainers import SortedKeyList

from evolve.archive.map_elites import Cell, Grid, age_key, rank_key_of
from evolve.core.objective import Objective
from evolve.core.records import Candidate


class Island:
    """One island's members (by code hash), ranked best first, with its grid."""

    def __init__(self, objective: Objective, cap: int) -> None:
        self.objective = objective
        self.cap = cap
        self.members: dict[str, Candidate] = {}
        self.ranked: SortedKeyList = SortedKeyList(key=rank_key_of(objective))
        self.grid = Grid(objective)
        self.evictable: SortedKeyList = SortedKeyList(key=self._eviction_key)
        """The members that are not elites; the last one is evicted first."""
        self.joined = 0
        """How many programs have joined the island so far, evicted ones included (the
        ``clusters`` parent rule's temperature falls with it)."""

    def _eviction_key(self, program: Candidate) -> tuple[float, int, str]:
        # Ascending: best score first, and among equal scores the newest first, so the
        # last element is the worst-scored, oldest non-elite.
        return (self.objective.key(program.score), -program.iteration, program.code_hash)

    def join(self, program: Candidate) -> bool:
        """Make ``program`` a member (not yet placed in the grid); False when a program with
        the same code is already here."""
        if program.code_hash in self.members:
            return False
        self.members[program.code_hash] = program
        self.ranked.add(program)
        self.joined += 1
        return True

    def place(self, cell: Cell, program: Candidate) -> None:
        """Offer a member to its cell; whichever of it and the incumbent loses becomes
        evictable."""
        incumbent = self.grid.cells.get(cell)
        if self.grid.offer(cell, program):
            if incumbent is not None:
                self.evictable.add(incumbent)
        else:
            self.evictable.add(program)

    def rebin(self, cell_of: Callable[[Candidate], Cell]) -> None:
        """Rebuild the grid from the members, oldest first (so a tie keeps the older
        program, as if they had arrived in iteration order). O(population log population)."""
        self.grid = Grid(self.objective)
        self.evictable = SortedKeyList(key=self._eviction_key)
        for program in sorted(self.members.values(), key=age_key):
            self.place(cell_of(program), program)

    def shrink(self) -> list[Candidate]:
        """Evict until the population is within the cap, or only elites and the best are
        left; the programs evicted."""
        evicted: list[Candidate] = []
        while len(self.members) > self.cap:
            victim = self._victim()
            if victim is None:
                break
            self.evictable.remove(victim)
            self.ranked.remove(victim)
            del self.members[victim.code_hash]
            evicted.append(victim)
        return evicted

    def _victim(self) -> Candidate | None:
        best = self.best()
        # The best can be a non-elite (an older program of equal score that arrived after
        # its cell's elite, by migration); it is never evicted, so look one further.
        for index in (-1, -2):
            if len(self.evictable) >= -index:
                victim: Candidate = self.evictable[index]
                if best is None or victim.code_hash != best.code_hash:
                    return victim
        return None

    def best(self) -> Candidate | None:
        """The best member (ties: the oldest). O(1)."""
        return self.ranked[0] if self.ranked else None

    def worst(self) -> Candidate | None:
        """The worst member (ties: the newest). O(1)."""
        return self.ranked[-1] if self.ranked else None

    def median(self) -> Candidate | None:
        """The member ranked in the middle (the better of two middles). O(log n)."""
        return self.ranked[(len(self.ranked) - 1) // 2] if self.ranked else None

    def top(self, count: int) -> list[Candidate]:
        """The ``count`` best members, best first. O(log n + count)."""
        return list(self.ranked.islice(0, count))

    def __len__(self) -> int:
        return len(self.members)
