"""One MAP-Elites grid: the best program found in each cell of the feature space."""

from __future__ import annotations

from evolve.core.records import Candidate


def better(a: Candidate, b: Candidate, maximize: bool) -> bool:
    """True when ``a`` scores strictly better than ``b``."""
    assert a.score is not None and b.score is not None
    return a.score > b.score if maximize else a.score < b.score


class Grid:
    """Cells -> elite programs. A newcomer takes a cell only by beating its occupant."""

    def __init__(self, maximize: bool) -> None:
        self.maximize = maximize
        self.cells: dict[tuple[int, ...], Candidate] = {}

    def offer(self, cell: tuple[int, ...], program: Candidate) -> bool:
        """Place ``program`` in ``cell`` if it is empty or the program beats its elite."""
        incumbent = self.cells.get(cell)
        if incumbent is None or better(program, incumbent, self.maximize):
            self.cells[cell] = program
            return True
        return False

    def elites(self) -> list[Candidate]:
        """The elites, in a stable order (by iteration)."""
        return sorted(self.cells.values(), key=lambda p: p.iteration)

    def __len__(self) -> int:
        return len(self.cells)
