"""Tests for the Store (runs, candidates and LLM calls in SQLite, committed as they happen)
and for the read-only Reader reading back what it wrote."""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import event

from evolve.core.records import Candidate, LLMCall
from evolve.core.status import CandidateStatus, RunStatus
from evolve.errors import UserError
from evolve.store.reader import Reader
from evolve.store.store import Store, resolve_db_url


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "lineage.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{db_path}")
    yield s
    s.close()


@pytest.fixture
def reader(store: Store, db_path: Path) -> Iterator[Reader]:
    """A read-only view of the store's database (opened after the store created it)."""
    r = Reader(f"sqlite:///{db_path}")
    yield r
    r.close()


@pytest.fixture
def run_id(store: Store) -> str:
    return store.create_run("demo", "/problems/demo/problem.toml", {"search": {"islands": 2}}, 7)


def make_program(run_id: str, iteration: int, **kw: object) -> Candidate:
    fields: dict[str, object] = {
        "id": f"p{iteration:04d}" + "0" * 28,
        "run_id": run_id,
        "iteration": iteration,
        "code": f"def f():\n    return {iteration}\n",
        "island": iteration % 2,
        "generation": iteration,
        "status": CandidateStatus.OK,
        "score": float(iteration),
        "metrics": {"score": float(iteration)},
        "created_at": 1000.0 + iteration,
    }
    fields.update(kw)
    return Candidate(**fields)  # type: ignore[arg-type]


# --- runs ----------------------------------------------------------------------------------


def test_create_run_and_read_back(store: Store) -> None:
    before = time.time()
    run_id = store.create_run("demo", "/p/problem.toml", {"a": [1, 2], "b": {"c": "d"}}, 42)
    info = store.run(run_id)
    assert info.id == run_id
    assert info.problem == "demo"
    assert info.problem_path == "/p/problem.toml"
    assert info.config == {"a": [1, 2], "b": {"c": "d"}}
    assert info.seed == 42
    assert info.status is RunStatus.RUNNING
    assert info.message == ""
    assert before <= info.created_at <= info.updated_at <= time.time()


def test_run_prefix(store: Store) -> None:
    run_id = store.create_run("demo", "/p", {}, 0)
    assert store.run(run_id[:4]).id == run_id
    assert store.run(run_id).id == run_id
    with pytest.raises(UserError, match="no run"):
        store.run("zzzz-not-a-run")


def test_run_prefix_ambiguous(store: Store) -> None:
    ids = [store.create_run("demo", "/p", {}, n) for n in range(40)]
    # with 40 hex ids, some first character is shared by at least two runs
    shared = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) > 1)
    with pytest.raises(UserError, match="ambiguous"):
        store.run(shared)
    with pytest.raises(UserError, match="ambiguous"):
        store.run("")


def test_runs_in_creation_order(store: Store, reader: Reader) -> None:
    ids = [store.create_run(f"problem{n}", "/p", {}, n) for n in range(3)]
    runs = [r.info for r in reader.runs()]
    assert [r.id for r in runs] == ids
    assert [r.problem for r in runs] == ["problem0", "problem1", "problem2"]


def test_set_run_status(store: Store, run_id: str) -> None:
    created = store.run(run_id)
    store.set_run_status(run_id, RunStatus.COMPLETED, "reached target")
    info = store.run(run_id)
    assert info.status is RunStatus.COMPLETED
    assert info.message == "reached target"
    assert info.updated_at >= created.updated_at
    assert info.created_at == created.created_at
    with pytest.raises(UserError):
        store.set_run_status("nonexistent", RunStatus.FAILED)
    with pytest.raises(ValueError, match="not-a-status"):
        store.set_run_status(run_id, "not-a-status")  # type: ignore[arg-type]


def test_update_run_config(store: Store, run_id: str) -> None:
    store.update_run_config(run_id, {"search": {"islands": 8}})
    assert store.run(run_id).config == {"search": {"islands": 8}}


# --- programs ------------------------------------------------------------------------------


def test_program_round_trip_all_fields(store: Store, run_id: str) -> None:
    parent = make_program(run_id, 0)
    child = Candidate(
        id="c" * 32,
        run_id=run_id,
        iteration=1,
        code="def f():\n    return 'ünïcode ✓'\n",
        island=1,
        generation=3,
        status=CandidateStatus.OK,
        score=0.75,
        metrics={"score": 0.75, "aux": float("nan"), "big": float("inf"), "n": 3.0},
        artifacts={"stdout": "hello\n", "evaluator:feedback": "good"},
        reason="",
        parent_id=parent.id,
        inspiration_ids=("i1", "i2", "i3"),
        cell=(3, 0, 9),
        diff="<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE",
        model="openai/gpt-4.1",
        mutation="diff",
        tokens_in=123,
        tokens_out=45,
        llm_seconds=1.5,
        eval_seconds=2.25,
        engine_seconds=0.125,
        duplicate_of=None,
        created_at=1234.5,
    )
    store.add_program(parent)
    store.add_program(child)
    got = store.programs(run_id)
    assert [p.id for p in got] == [parent.id, child.id]
    back = got[1]
    assert math.isnan(back.metrics["aux"])
    assert math.isnan(back.metrics["big"])  # not finite: stored as null, read back as nan
    assert back.metrics["score"] == 0.75 and back.metrics["n"] == 3.0
    assert set(back.metrics) == set(child.metrics)
    expected = {k: v for k, v in vars(child).items() if k != "metrics"}
    actual = {k: v for k, v in vars(back).items() if k != "metrics"}
    assert actual == expected
    assert isinstance(back.status, CandidateStatus)
    assert isinstance(back.inspiration_ids, tuple)
    assert isinstance(back.cell, tuple)
    assert back.code_hash == child.code_hash
    assert got[0] == parent


def test_failed_program_round_trip(store: Store, run_id: str) -> None:
    failed = make_program(
        run_id,
        0,
        status=CandidateStatus.TIMEOUT,
        score=None,
        metrics={},
        reason="timed out after 5.0s",
        cell=None,
        duplicate_of="d" * 32,
    )
    store.add_program(failed)
    (back,) = store.programs(run_id)
    assert back == failed
    assert back.score is None
    assert back.cell is None
    assert not back.ok


def test_created_at_defaults_to_now(store: Store, run_id: str) -> None:
    before = time.time()
    store.add_program(make_program(run_id, 0, created_at=0.0))
    (back,) = store.programs(run_id)
    assert before <= back.created_at <= time.time()


def test_programs_in_iteration_order(store: Store, reader: Reader, run_id: str) -> None:
    for it in (5, 1, 3, 0, 4, 2):
        store.add_program(make_program(run_id, it))
    assert [p.iteration for p in store.programs(run_id)] == [0, 1, 2, 3, 4, 5]
    assert [p.iteration for p in reader.programs(run_id)] == [0, 1, 2, 3, 4, 5]
    assert list(reader.programs(run_id)) == store.programs(run_id)


def test_programs_are_per_run(store: Store) -> None:
    a = store.create_run("a", "/a", {}, 0)
    b = store.create_run("b", "/b", {}, 0)
    store.add_program(make_program(a, 0, id="a" * 32))
    store.add_program(make_program(b, 0, id="b" * 32))
    store.add_program(make_program(b, 1, id="b" * 31 + "c"))
    assert [p.id for p in store.programs(a)] == ["a" * 32]
    assert len(store.programs(b)) == 2
    assert store.programs("missing") == []


def test_wal_mode(store: Store, run_id: str, db_path: Path) -> None:
    store.add_program(make_program(run_id, 0))
    with sqlite3.connect(db_path) as conn:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    assert mode.lower() == "wal"


def test_each_program_committed_immediately(store: Store, run_id: str, db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    other = Store(f"sqlite:///{db_path}")
    try:
        for it in range(3):
            store.add_program(make_program(run_id, it))
            (count,) = conn.execute(
                "SELECT count(*) FROM programs WHERE run_id = ?", (run_id,)
            ).fetchone()
            assert count == it + 1
            assert len(other.programs(run_id)) == it + 1
        assert other.run(run_id).problem == "demo"
    finally:
        conn.close()
        other.close()


def test_the_log_is_folded_into_the_database_in_the_background(
    store: Store, run_id: str, db_path: Path, tmp_path: Path
) -> None:
    """Commits only append to the write-ahead log; a thread of the Store's copies it into
    the database file (SQLite alone would wait for 1,000 pages, inside some commit)."""
    for it in range(200):
        store.add_program(make_program(run_id, it))
    deadline = time.monotonic() + 10.0
    count = 0
    while count < 200 and time.monotonic() < deadline:
        time.sleep(0.1)
        alone = tmp_path / "alone.db"  # the database file without its log
        alone.write_bytes(db_path.read_bytes())
        with sqlite3.connect(alone) as conn:
            try:
                (count,) = conn.execute("SELECT count(*) FROM programs").fetchone()
            except sqlite3.OperationalError:  # the table itself is still only in the log
                count = 0
        alone.unlink()
    assert count == 200


def test_first_evaluated(store: Store, run_id: str) -> None:
    statuses = [
        CandidateStatus.INVALID,
        CandidateStatus.DUPLICATE,
        CandidateStatus.OK,
        CandidateStatus.ERROR,
        CandidateStatus.TIMEOUT,
    ]
    for it, status in enumerate(statuses):
        store.add_program(
            make_program(
                run_id,
                it,
                code=f"# {status.value}\n",
                status=status,
                score=1.0 if status is CandidateStatus.OK else None,
            )
        )
    for it, status in enumerate(statuses):
        wanted = make_program(run_id, it, code=f"# {status.value}\n")
        found = store.first_evaluated(run_id, wanted.code_hash)
        if status in (CandidateStatus.OK, CandidateStatus.ERROR, CandidateStatus.TIMEOUT):
            assert found == (it, wanted.id)
        else:
            assert found is None, status
    assert store.first_evaluated(run_id, "0" * 64) is None
    other = store.create_run("other", "/o", {}, 0)
    assert store.first_evaluated(other, make_program(run_id, 0, code="# ok\n").code_hash) is None


def test_first_evaluated_returns_earliest(store: Store, run_id: str) -> None:
    store.add_program(
        make_program(run_id, 0, code="same\n", status=CandidateStatus.ERROR, score=None)
    )
    store.add_program(make_program(run_id, 1, code="same\n"))
    found = store.first_evaluated(run_id, make_program(run_id, 0, code="same\n").code_hash)
    assert found is not None and found[0] == 0


# --- what the engine's apply step writes ---------------------------------------------------


def test_mark_applied_is_one_transaction_a_reader_sees(
    store: Store, reader: Reader, run_id: str
) -> None:
    store.add_program(make_program(run_id, 0, cell=None, engine_seconds=0.0))
    commits: list[object] = []
    event.listen(store.engine, "commit", commits.append)
    state = {"mode": "ucb", "arms": [{"pulls": 3.0, "reward": 1.5}]}
    store.mark_applied(run_id, make_program(run_id, 0).id, (2, 5), 0.000125, state)
    assert len(commits) == 1
    (p,) = reader.programs(run_id)
    assert p.cell == (2, 5) and p.engine_seconds == 0.000125
    assert reader.run(run_id).selection == state
    assert store.programs(run_id) == [p]


def test_mark_applied_keeps_what_it_is_not_given(store: Store, reader: Reader, run_id: str) -> None:
    store.add_program(make_program(run_id, 0, cell=(1, 1)))
    store.set_selection(run_id, {"mode": "fixed"})
    store.mark_applied(run_id, make_program(run_id, 0).id, None, 0.5, None)
    (p,) = reader.programs(run_id)
    assert p.cell == (1, 1) and p.engine_seconds == 0.5
    assert reader.run(run_id).selection == {"mode": "fixed"}


def test_mark_applied_is_all_or_nothing(store: Store, reader: Reader, run_id: str) -> None:
    store.add_program(make_program(run_id, 0, cell=None))
    store.set_selection(run_id, {"mode": "fixed"})
    other = store.create_run("other", "/o", {}, 0)
    with pytest.raises(LookupError, match="no candidate"):  # a candidate of another run
        store.mark_applied(other, make_program(run_id, 0).id, (3,), 9.0, {"mode": "ucb"})
    with pytest.raises(LookupError, match="no candidate"):
        store.mark_applied(run_id, "f" * 32, (3,), 9.0, {"mode": "ucb"})
    # The selection, written first in the transaction, was rolled back with it.
    assert reader.run(run_id).selection == {"mode": "fixed"}
    assert reader.run(other).selection is None
    (p,) = reader.programs(run_id)
    assert p.cell is None and p.engine_seconds == make_program(run_id, 0).engine_seconds


# --- read back by the Reader ---------------------------------------------------------------


def test_best_respects_direction_and_ignores_failures(
    store: Store, reader: Reader, run_id: str
) -> None:
    scores = [
        (CandidateStatus.OK, 5.0),
        (CandidateStatus.OK, 9.0),
        (CandidateStatus.OK, 1.0),
        (CandidateStatus.OK, 3.0),
    ]
    for it, (status, score) in enumerate(scores):
        store.add_program(make_program(run_id, it, status=status, score=score))
    # failed programs carrying a (stale) score must not win either way
    store.add_program(make_program(run_id, 4, status=CandidateStatus.ERROR, score=100.0))
    store.add_program(make_program(run_id, 5, status=CandidateStatus.TIMEOUT, score=-100.0))
    store.add_program(make_program(run_id, 6, status=CandidateStatus.INVALID, score=None))
    up, down = directions(reader, run_id)
    assert [p.score for p in reader.best(up, top=3)] == [9.0, 5.0, 3.0]
    assert [p.score for p in reader.best(down, top=3)] == [1.0, 3.0, 5.0]
    assert [p.iteration for p in reader.best(up)] == [1]
    assert [p.iteration for p in reader.best(down)] == [2]
    assert len(reader.best(up, top=100)) == 4
    assert reader.summary(up).best_score == 9.0 and reader.summary(down).best_score == 1.0


def directions(reader: Reader, run_id: str) -> tuple:
    """The run as maximizing and as minimizing (its stored configuration says which)."""
    info = reader.run(run_id)
    return tuple(
        replace(info, config={"evaluator": {"direction": d}}) for d in ("maximize", "minimize")
    )


def test_best_ties_prefer_older(store: Store, reader: Reader, run_id: str) -> None:
    for it in range(3):
        store.add_program(make_program(run_id, it, score=2.0))
    for info in directions(reader, run_id):
        assert reader.best(info)[0].iteration == 0


def test_best_empty(store: Store, reader: Reader, run_id: str) -> None:
    up, down = directions(reader, run_id)
    assert reader.best(up) == []
    store.add_program(make_program(run_id, 0, status=CandidateStatus.ERROR, score=None))
    assert reader.best(down) == []
    assert reader.summary(down).best_score is None


def test_program_prefix(store: Store, reader: Reader, run_id: str) -> None:
    store.add_program(make_program(run_id, 0, id="abc123" + "0" * 26))
    store.add_program(make_program(run_id, 1, id="abd456" + "0" * 26))
    assert reader.program("abc").iteration == 0
    assert reader.program("abd4").iteration == 1
    assert reader.program("abc123" + "0" * 26).iteration == 0
    with pytest.raises(UserError, match="ambiguous"):
        reader.program("ab")
    with pytest.raises(UserError, match="no program"):
        reader.program("ffff")


def test_program_prefix_is_literal(store: Store, reader: Reader, run_id: str) -> None:
    """SQL LIKE wildcards in a prefix are plain characters, not patterns."""
    store.add_program(make_program(run_id, 0, id="abc123" + "0" * 26))
    with pytest.raises(UserError, match="no program"):
        reader.program("%")
    with pytest.raises(UserError, match="no program"):
        reader.program("a_c")
    with pytest.raises(UserError, match="no run"):
        store.run("%")
    with pytest.raises(UserError, match="no run"):
        reader.run("%")


# --- LLM calls -----------------------------------------------------------------------------


def test_llm_calls_round_trip(store: Store, reader: Reader, run_id: str) -> None:
    calls = [
        LLMCall(
            run_id=run_id,
            iteration=1,
            model="local/gemma-3-270m",
            prompt="improve this",
            response="<<<<<<< SEARCH",
            program_id="p" * 32,
            tokens_in=100,
            tokens_out=20,
            latency=0.5,
            seed=3,
            temperature=0.8,
            error="",
        ),
        LLMCall(
            run_id=run_id,
            iteration=2,
            model="openai/gpt-4.1",
            prompt="again",
            response="",
            error="rate limited",
            call_index=1,
            fault="rate_limit",
            cost=0.25,
        ),
    ]
    store.add_llm_calls(calls)
    other = store.create_run("other", "/o", {}, 0)
    store.add_llm_calls([LLMCall(run_id=other, iteration=1, model="m", prompt="p", response="r")])
    assert store.llm_calls(run_id) == calls
    assert list(reader.calls_of_run(run_id)) == calls
    assert store.spent(run_id) == 0.25 and store.spent(other) == 0.0
    assert len(store.llm_calls(other)) == 1
    assert store.llm_calls("missing") == []


# --- forks ---------------------------------------------------------------------------------


def test_fork_copies_the_first_iterations_with_new_ids(store: Store, run_id: str) -> None:
    for it in range(4):
        p = make_program(
            run_id,
            it,
            parent_id=make_program(run_id, it - 1).id if it else None,
            inspiration_ids=(make_program(run_id, 0).id,) if it > 1 else (),
        )
        call = LLMCall(run_id=run_id, iteration=it, model="m", prompt="p", response="r")
        store.add_program(p, [replace(call, program_id=p.id, cost=0.5)] if it else [])
    fork = store.fork_run(run_id[:5], 3, {"search": {"iterations": 9}})
    info = store.run(fork)
    assert info.origin == f"fork:{run_id}:3" and info.status is RunStatus.INTERRUPTED
    assert info.config == {"search": {"iterations": 9}} and info.seed == 7
    old, new = store.programs(run_id)[:3], store.programs(fork)
    assert [p.iteration for p in new] == [0, 1, 2]
    assert not {p.id for p in new} & {p.id for p in old}
    ids = {a.id: b.id for a, b in zip(old, new, strict=True)}
    for a, b in zip(old, new, strict=True):
        assert b.parent_id == ids.get(a.parent_id or "")
        assert b.inspiration_ids == tuple(ids[i] for i in a.inspiration_ids)
        assert replace(b, id=a.id, run_id=run_id, parent_id=a.parent_id,
                       inspiration_ids=a.inspiration_ids) == a  # fmt: skip
    calls = store.llm_calls(fork)
    assert [(c.iteration, c.program_id) for c in calls] == [(1, new[1].id), (2, new[2].id)]
    assert store.spent(fork) == 1.0 and store.spent(run_id) == 1.5


# --- opening databases ---------------------------------------------------------------------


def test_resolve_db_url_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVOLVE_DB", raising=False)
    path = tmp_path / "x.db"
    assert resolve_db_url(str(path)) == f"sqlite:///{path.resolve()}"
    monkeypatch.chdir(tmp_path)
    assert resolve_db_url("rel.db") == f"sqlite:///{(tmp_path / 'rel.db').resolve()}"
    assert resolve_db_url(None) == f"sqlite:///{(tmp_path / 'evolve.db').resolve()}"


def test_resolve_db_url_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_db_url("~/runs.db") == f"sqlite:///{(tmp_path / 'runs.db').resolve()}"


def test_resolve_db_url_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVOLVE_DB", raising=False)
    assert resolve_db_url("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"
    assert resolve_db_url("sqlite:///:memory:") == "sqlite:///:memory:"
    url = "postgresql://user@localhost/evolve"
    assert resolve_db_url(url) == url
    with pytest.raises(UserError, match="not a valid database URL"):
        resolve_db_url("not a url://x")


def test_resolve_db_url_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EVOLVE_DB", str(tmp_path / "env.db"))
    assert resolve_db_url(None) == f"sqlite:///{(tmp_path / 'env.db').resolve()}"
    assert (
        resolve_db_url(str(tmp_path / "flag.db")) == f"sqlite:///{(tmp_path / 'flag.db').resolve()}"
    )
    monkeypatch.setenv("EVOLVE_DB", "sqlite:////srv/evolve.db")
    assert resolve_db_url(None) == "sqlite:////srv/evolve.db"


def test_store_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(UserError, match="no database"):
        Store(f"sqlite:///{missing}", must_exist=True)
    assert not missing.exists()


def test_store_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        Store(f"sqlite:///{tmp_path / 'no' / 'such' / 'x.db'}")


def test_store_reopen_existing(db_path: Path) -> None:
    first = Store(resolve_db_url(str(db_path)))
    run_id = first.create_run("demo", "/p", {}, 1)
    first.add_program(make_program(run_id, 0))
    first.close()
    again = Store(resolve_db_url(str(db_path)), must_exist=True)
    try:
        assert again.run(run_id).problem == "demo"
        assert [p.iteration for p in again.programs(run_id)] == [0]
    finally:
        again.close()


def test_in_memory_store() -> None:
    s = Store("sqlite://")
    try:
        run_id = s.create_run("demo", "/p", {}, 0)
        s.add_program(make_program(run_id, 0))
        assert [p.iteration for p in s.programs(run_id)] == [0]
    finally:
        s.close()
