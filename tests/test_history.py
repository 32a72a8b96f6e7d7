"""The search's memory of a run's programs: a Store-backed history asks the database only
about codes it may hold, and answers exactly as the database would."""

from __future__ import annotations

import hashlib

from evolve.core.records import Candidate
from evolve.search.history import Sieve, StoreHistory
from evolve.search.search import Search
from tests.test_search import MIN, candidate, config, ensemble, initial, result_of


def digest(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def test_sieve_never_forgets_and_rarely_imagines() -> None:
    sieve = Sieve()
    added = [digest(i) for i in range(20_000)]
    for key in added:
        sieve.add(key)
    assert all(key in sieve for key in added)
    imagined = sum(digest(-i) in sieve for i in range(1, 20_001))
    assert imagined < 20  # under 0.1 %


class Database:
    """Committed evaluated candidates by code, as the Store's index answers, counting the
    questions asked of it."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[int, str]] = {}
        self.asked = 0

    def commit(self, c: Candidate) -> None:
        if c.status.evaluated:
            self.rows.setdefault(c.code_hash, (c.iteration, c.id))

    def first(self, code_hash: str) -> tuple[int, str] | None:
        self.asked += 1
        return self.rows.get(code_hash)


def test_store_history_asks_the_database_only_about_codes_it_may_hold() -> None:
    db = Database()
    s = Search(config(200), MIN, ensemble(), lag=4, history=StoreHistory(db.first))
    start = initial()
    db.commit(start)
    s.start([start], [])
    held = 0  # children whose code the database already held when they were made
    while (draw := s.ask()) is not None:
        child = result_of(draw)
        held += child.code_hash in db.rows
        s.known(child.code_hash, draw.view)
        if child.status.evaluated and s.claim(draw.iteration, child.code_hash, child.id):
            child = candidate(draw.iteration, child.code, draw.parent, draw.island)  # a twin
        db.commit(child)
        s.tell(child)
    # The database was asked (twice per child at most: known, then claim) only about codes
    # it held, give or take the sieve's rare false "maybe": new codes, most children, were
    # answered in memory.
    assert 0 < db.asked <= 2 * held + 2
    assert held < 150
    assert s.applied == 200


def test_store_history_knows_candidates_stored_before_a_resume() -> None:
    """A candidate committed past a gap (its turn not yet come) is still found by code, as
    the database would find it: the resumed search notes what the Store holds."""
    db = Database()
    start = initial()
    later = candidate(5, "x = 42\n", start, 0, score=1.0)
    for c in (start, later):
        db.commit(c)
    s = Search(config(20), MIN, ensemble(), lag=4, history=StoreHistory(db.first))
    s.start([start, later], [])
    assert s.applied == 0  # iterations 1-4 are to be redone; 5 waits for them
    assert s.claim(3, later.code_hash, "new") == (5, later.id)
    assert s.claim(4, digest(7), "other") is None
