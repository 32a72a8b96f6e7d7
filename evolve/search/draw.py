"""What one iteration works from: the messages between the search state and its runner."""

from __future__ import annotations

import random
from dataclasses import dataclass

from evolve.core.records import Candidate
from evolve.llm.ensemble import Member
from evolve.search.failures import Failure


@dataclass(frozen=True)
class Draw:
    """Iteration ``iteration``'s island, parent, inspirations and model, drawn from its own
    random stream at the moment the archive held exactly the iterations up to ``view``."""

    iteration: int
    island: int
    parent: Candidate
    inspirations: tuple[Candidate, ...]
    ancestors: tuple[Candidate, ...]
    """The parent's ancestors, nearest first, as far as ``llm.ancestry`` asks (for prompts)."""
    member: Member
    fallbacks: tuple[Member, ...]
    rng: random.Random
    """The iteration's random stream, after the draw: the proposal goes on drawing from it."""
    view: int
    """The last iteration this one may know of (earlier programs it must not repeat)."""
    seconds: float = 0.0
    """The search's own time spent drawing it."""
    failures: tuple[Failure, ...] = ()
    """The parent's latest failed children, oldest first, as far as ``llm.failures`` asks."""
    mate: Candidate | None = None
    """Crossover's second parent (``search.crossover_rate``), or None for a mutation."""
    notes: tuple[str, ...] = ()
    """The run's latest notes this iteration may see (``[notes]``), oldest first."""
    neighbours: tuple[Candidate, ...] = ()
    """The island's programs when it was drawn, for the novelty screen (empty without one)."""


@dataclass(frozen=True)
class Applied:
    """A candidate taken into the search, in iteration order."""

    candidate: Candidate
    """As of its turn: with the MAP-Elites cell it took (adaptive bins move)."""
    best: Candidate | None
    new_best: bool
    seconds: float
    """The search's own time spent applying it."""
