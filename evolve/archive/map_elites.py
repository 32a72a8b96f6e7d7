"""One MAP-Elites grid: the best program found in each cell of the feature space.

Besides the cells, the grid keeps its elites in two kept-sorted orders, so the archive's
draws index into them in O(log n) instead of sorting on every draw: by age (exploration
draws a uniformly random elite from this order) and by rank (inspirations are the best
elites), and each elite's cell by its code (diverse inspirations measure how far apart two
elites' cells are). Scores are compared only through the problem's ``Objective``.
"""

from __future__ import annotations

from collections.abc import Callable

from sortedcontainers import SortedKeyList

from evolve.core.objective import Objective
from evolve.core.records import Candidate

Cell = tuple[int, ...]


def age_key(program: Candidate) -> tuple[int, str]:
    """Oldest first; the code hash makes the order total."""
    return (program.iteration, program.code_hash)


def rank_key_of(objective: Objective) -> Callable[[Candidate], tuple[float, int, str]]:
    """Best first (ties: older first, then the code hash), so every order is total."""

    def key(program: Candidate) -> tuple[float, int, str]:
        return (*objective.rank_key(program), program.code_hash)

    return key


class Grid:
    """Cells -> elite programs. A newcomer takes a cell only by beating its occupant."""

    def __init__(self, objective: Objective) -> None:
        self.objective = objective
        self.cells: dict[Cell, Candidate] = {}
        self.by_age: SortedKeyList = SortedKeyList(key=age_key)
        self.by_rank: SortedKeyList = SortedKeyList(key=rank_key_of(objective))
        self._cell_of: dict[str, Cell] = {}
        """Each elite's cell, by code hash."""

    def offer(self, cell: Cell, program: Candidate) -> bool:
        """Place ``program`` in ``cell`` if it is empty or the program beats its elite (a tie
        keeps the incumbent). O(log n)."""
        incumbent = self.cells.get(cell)
        if incumbent is not None and not self.objective.better(program.score, incumbent.score):
            return False
        if incumbent is not None:
            self.by_age.remove(incumbent)
            self.by_rank.remove(incumbent)
            del self._cell_of[incumbent.code_hash]
        self.cells[cell] = program
        self.by_age.add(program)
        self.by_rank.add(program)
        self._cell_of[program.code_hash] = cell
        return True

    def holds(self, code_hash: str) -> bool:
        """True when the program with this code is an elite of some cell."""
        return code_hash in self._cell_of

    def cell_of(self, code_hash: str) -> Cell | None:
        """The cell whose elite has this code, or None when it is no elite. O(1)."""
        return self._cell_of.get(code_hash)

    def elites(self) -> list[Candidate]:
        """The elites, in a stable order (by iteration). O(cells): for inspection."""
        return list(self.by_age)

    def __len__(self) -> int:
        return len(self.cells)
