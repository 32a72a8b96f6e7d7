"""Which program of the run first had a given code: the search's memory of every program.

The search must know, for deduplication, whether a code was already evaluated, over the
whole run; holding every code hash in memory would make its memory grow with the run. So
the search asks a ``History``: the runner's answers from the Store (the truth, indexed by
code hash), and ``MemoryHistory`` keeps the same answers in a dict, for tests and for
searches without a database.
"""

from __future__ import annotations

from typing import Protocol

from evolve.core.records import Candidate


class History(Protocol):
    def first(self, code_hash: str) -> tuple[int, str] | None:
        """The iteration and id of the earliest evaluated candidate with this code, among
        those committed (the search asks only about iterations it knows are), or None."""
        ...

    def applied(self, candidate: Candidate) -> None:
        """``candidate`` was applied (after the store committed it)."""
        ...


class MemoryHistory:
    """A History held in memory: one entry per distinct evaluated code."""

    def __init__(self) -> None:
        self._first: dict[str, tuple[int, str]] = {}

    def first(self, code_hash: str) -> tuple[int, str] | None:
        return self._first.get(code_hash)

    def applied(self, candidate: Candidate) -> None:
        if candidate.status.evaluated:
            self._first.setdefault(candidate.code_hash, (candidate.iteration, candidate.id))
