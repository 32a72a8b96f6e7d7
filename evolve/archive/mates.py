"""Mate choice for crossover (``search.crossover_rate``): the second parent of a child that
combines two programs, chosen for diversity ("mate choice", as in "All You Need Is Sex for
Diversity"), so that the two parents hold different ideas.

- ``other_cell`` (default): an elite of the parent's island from another MAP-Elites cell,
  drawn with p ∝ the L1 distance (in bins) between its cell and the parent's: the further
  apart in behaviour, the likelier.
- ``other_island``: the best program of another island (drawn uniformly among the others),
  ideas that grew apart; on a single island, ``other_cell``.

None when the island holds no other cell (nothing different to combine with). Draws come
from the iteration's random stream only.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from evolve.archive.map_elites import Cell, Grid
from evolve.archive.parents import Weights
from evolve.core.records import Candidate


def other_cell(
    grid: Grid, parent: Candidate, cell_of: Callable[[Candidate], Cell], rng: random.Random
) -> Candidate | None:
    """An elite of ``grid`` from another cell than ``parent``'s, p ∝ the cells' distance."""
    home = grid.cell_of(parent.code_hash) or cell_of(parent)
    elites: Sequence[Candidate] = grid.by_rank
    distances = [_distance(grid.cell_of(e.code_hash) or home, home) for e in elites]
    if not any(distances):
        return None
    return elites[Weights.of(elites, distances).draw(rng, fallback=False)]


def other_island(
    bests: Sequence[Candidate | None], island: int, rng: random.Random
) -> Candidate | None:
    """The best program of a uniformly drawn island other than ``island``."""
    others = [b for i, b in enumerate(bests) if i != island and b is not None]
    return rng.choice(others) if others else None


def _distance(a: Cell, b: Cell) -> int:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True))
