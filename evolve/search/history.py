"""Which program of the run first had a given code: the search's memory of every program.

The search must know, for deduplication, whether a code was already evaluated, over the
whole run; holding every code hash in memory would make its memory grow with the run. So
the search asks a ``History``: ``StoreHistory`` answers from the Store (the truth, indexed
by code hash), and ``MemoryHistory`` keeps the same answers in a dict, for tests and for
searches without a database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Protocol

from evolve.core.records import Candidate


class History(Protocol):
    def first(self, code_hash: str) -> tuple[int, str] | None:
        """The iteration and id of the earliest evaluated candidate with this code, among
        those committed (the search asks only about iterations it knows are), or None."""
        ...

    def claimed(self, code_hash: str) -> None:
        """A candidate with this code was (or is being) committed as evaluated."""
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

    def claimed(self, code_hash: str) -> None:
        """Nothing to keep: ``applied`` records the candidate in its turn."""

    def applied(self, candidate: Candidate) -> None:
        if candidate.status.evaluated:
            self._first.setdefault(candidate.code_hash, (candidate.iteration, candidate.id))


class StoreHistory:
    """A History answered by a lookup in the Store, in front of which a fixed-size sieve
    (a Bloom filter) of every code claimed for evaluation answers the common case, a code
    never seen, without asking the database. The sieve holds a superset of the evaluated
    codes, so "not in the sieve" is exact; a false "maybe" only costs the lookup."""

    def __init__(self, lookup: Callable[[str], tuple[int, str] | None]) -> None:
        self._lookup = lookup
        self._sieve = Sieve()

    def first(self, code_hash: str) -> tuple[int, str] | None:
        return self._lookup(code_hash) if code_hash in self._sieve else None

    def claimed(self, code_hash: str) -> None:
        self._sieve.add(code_hash)

    def applied(self, candidate: Candidate) -> None:
        if candidate.status.evaluated:  # claimed already; kept here too, to be sure
            self._sieve.add(candidate.code_hash)


class Sieve:
    """A Bloom filter over strings, of fixed size: membership may be a false "yes" (rarely:
    about 1 in 1,000 after 100,000 codes with the defaults), never a false "no". Its memory
    does not grow with the run; a longer run only answers "maybe" more often."""

    def __init__(self, bits: int = 1 << 21, probes: int = 4) -> None:
        self._bits = bytearray(bits // 8)
        self._size, self._probes = bits, probes

    def _positions(self, key: str) -> list[int]:
        digest = hashlib.blake2b(key.encode(), digest_size=4 * self._probes).digest()
        return [
            int.from_bytes(digest[4 * i : 4 * i + 4], "little") % self._size
            for i in range(self._probes)
        ]

    def add(self, key: str) -> None:
        for p in self._positions(key):
            self._bits[p >> 3] |= 1 << (p & 7)

    def __contains__(self, key: str) -> bool:
        return all(self._bits[p >> 3] & (1 << (p & 7)) for p in self._positions(key))
