"""The Store: the engine's writer. Every run, candidate and LLM call is committed as soon
as it exists, so a crash loses only what was in flight.

It also holds the few reads the engine needs to resume a run (its candidates and calls,
what it has spent, the run's record, the first evaluated candidate with some code); everything
else reads through the read-only ``evolve.store.reader.Reader``. Any SQLAlchemy URL works;
a plain path means SQLite, put in WAL mode so readers never block the writer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import sessionmaker

from evolve.core.records import Candidate, LLMCall, Note
from evolve.core.status import CandidateStatus, RunStatus
from evolve.errors import UserError
from evolve.store import rows
from evolve.store.checkpoint import Checkpointer
from evolve.store.database import resolve_db_url, sqlite_path, writable_engine
from evolve.store.models import LLMCallRow, NoteRow, ProgramRow, RunRow
from evolve.store.rows import RunInfo

__all__ = ["RunInfo", "Store", "resolve_db_url"]

_EVALUATED = [s.value for s in CandidateStatus if s.evaluated]

_ADD_PROGRAM = insert(ProgramRow)
_FIRST_EVALUATED = (
    select(ProgramRow.iteration, ProgramRow.id)
    .where(ProgramRow.run_id == bindparam("run"), ProgramRow.code_hash == bindparam("hash"))
    .where(ProgramRow.status.in_(_EVALUATED))
)
"""No ORDER BY: with one, SQLite walks the (run, iteration) index instead of the hash index,
and a miss (most children are new code) costs a scan of the run. The few twins sort here."""
_ADD_CALL = insert(LLMCallRow)
_SET_SELECTION = (
    update(RunRow).where(RunRow.id == bindparam("run")).values(selection=bindparam("selection"))
)
_THE_CANDIDATE = update(ProgramRow).where(
    ProgramRow.id == bindparam("program"), ProgramRow.run_id == bindparam("run")
)
_SET_ENGINE_SECONDS = _THE_CANDIDATE.values(engine_seconds=bindparam("engine_seconds"))
_SET_CELL_AND_ENGINE_SECONDS = _THE_CANDIDATE.values(
    engine_seconds=bindparam("engine_seconds"), cell=bindparam("cell")
)


class Store:
    """Runs, candidates and LLM calls in a SQL database (SQLite by default), written."""

    def __init__(self, url: str, *, must_exist: bool = False) -> None:
        self.url = url
        self._path = sqlite_path(url)
        self.engine = writable_engine(url, must_exist=must_exist)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        self._checkpointer = Checkpointer(self._path) if self._path is not None else None

    def files(self) -> tuple[Path, ...]:
        """The database's files on disk (SQLite: the file and its journal), if any."""
        if self._path is None:
            return ()
        return tuple(Path(f"{self._path}{suffix}") for suffix in ("", "-wal", "-shm", "-journal"))

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        self.engine.dispose()

    # runs -----------------------------------------------------------------
    def create_run(
        self,
        problem: str,
        problem_path: str,
        config: dict[str, Any],
        seed: int,
        origin: str = "",
    ) -> str:
        run_id = uuid.uuid4().hex[:12]
        now = time.time()
        with self._session.begin() as s:
            s.add(
                RunRow(
                    id=run_id,
                    problem=problem,
                    problem_path=problem_path,
                    config=config,
                    seed=seed,
                    status=RunStatus.RUNNING.value,
                    message="",
                    origin=origin,
                    created_at=now,
                    updated_at=now,
                )
            )
        return run_id

    def set_run_status(self, run_id: str, status: RunStatus, message: str = "") -> None:
        status = RunStatus(status)
        with self._session.begin() as s:
            row = s.get(RunRow, run_id)
            if row is None:
                raise UserError(f"no run {run_id!r} in {self.url}")
            row.status, row.message, row.updated_at = status.value, message, time.time()

    def update_run_config(self, run_id: str, config: dict[str, Any]) -> None:
        with self._session.begin() as s:
            row = s.get(RunRow, run_id)
            if row is not None:
                row.config, row.updated_at = config, time.time()

    def set_selection(self, run_id: str, state: dict[str, Any]) -> None:
        """Keep a copy of the model selector's state (for inspection; it is rebuilt from
        the candidates on resume)."""
        with self.engine.begin() as conn:
            conn.execute(_SET_SELECTION, {"run": run_id, "selection": state})

    def run(self, run_id: str) -> RunInfo:
        """A run by id or unique id prefix."""
        with self._session() as s:
            return rows.find_run(s, run_id, self.url)

    # candidates -------------------------------------------------------------
    def add_program(self, p: Candidate, calls: Sequence[LLMCall] = ()) -> None:
        """Commit one candidate, with the LLM calls that made it, now and together: killing
        the process later cannot lose it."""
        with self.engine.begin() as conn:
            conn.execute(_ADD_PROGRAM, rows.program_values(p))
            if calls:
                conn.execute(_ADD_CALL, [rows.call_values(c) for c in calls])

    def mark_applied(
        self,
        run_id: str,
        program_id: str,
        cell: tuple[int, ...] | None,
        engine_seconds: float,
        selection: dict[str, Any] | None,
    ) -> None:
        """Record what applying a candidate to the search decided, in one transaction: its
        MAP-Elites cell as of its turn (when not None), the engine's time for it, and the
        model selector's state after it (when not None)."""
        # Prepared UPDATE statements on a plain connection (no ORM session, no row loaded,
        # nothing to compile): this runs once per candidate, inside the engine's own time.
        keys = {"run": run_id, "program": program_id, "engine_seconds": engine_seconds}
        with self.engine.begin() as conn:
            if selection is not None:
                conn.execute(_SET_SELECTION, {"run": run_id, "selection": selection})
            if cell is None:
                done = conn.execute(_SET_ENGINE_SECONDS, keys)
            else:
                done = conn.execute(_SET_CELL_AND_ENGINE_SECONDS, {**keys, "cell": list(cell)})
            if done.rowcount != 1:  # rolls the selection back too
                raise LookupError(f"no candidate {program_id} in run {run_id}")

    def programs(self, run_id: str) -> list[Candidate]:
        """All candidates of a run, in iteration order."""
        with self._session() as s:
            stmt = (
                select(ProgramRow).where(ProgramRow.run_id == run_id).order_by(ProgramRow.iteration)
            )
            return [rows.candidate(r) for r in s.scalars(stmt)]

    def first_evaluated(self, run_id: str, code_hash: str) -> tuple[int, str] | None:
        """The iteration and id of this run's earliest evaluated candidate with this code, if
        any. The search asks this for every child, so it reads two columns through the
        (run, hash) index with a prepared statement: tens of microseconds at any run size."""
        with self.engine.connect() as conn:
            row = conn.execute(_FIRST_EVALUATED, {"run": run_id, "hash": code_hash}).first()
        return (row[0], row[1]) if row is not None else None

    # LLM calls ------------------------------------------------------------
    def add_llm_calls(self, calls: Sequence[LLMCall]) -> None:
        if calls:
            with self.engine.begin() as conn:
                conn.execute(_ADD_CALL, [rows.call_values(c) for c in calls])

    def llm_calls(self, run_id: str) -> list[LLMCall]:
        """Every call of the run, in the order they were stored."""
        with self._session() as s:
            stmt = select(LLMCallRow).where(LLMCallRow.run_id == run_id).order_by(LLMCallRow.id)
            return [rows.call(r) for r in s.scalars(stmt)]

    def spent(self, run_id: str) -> float:
        """USD spent on the run's LLM calls so far."""
        with self._session() as s:
            total = s.scalar(select(func.sum(LLMCallRow.cost)).where(LLMCallRow.run_id == run_id))
        return float(total or 0.0)

    # notes ----------------------------------------------------------------
    def add_note(self, note: Note) -> Note:
        """Store a note (a user's may come from another process while the run goes on)."""
        with self._session.begin() as s:
            row = NoteRow(
                run_id=note.run_id,
                after=note.after,
                author=note.author,
                text=note.text,
                created_at=note.created_at or time.time(),
            )
            s.add(row)
            s.flush()
            return rows.note(row)

    def notes(self, run_id: str) -> list[Note]:
        """The run's notes, those in effect by the iteration they took effect after, then
        the ones not yet picked up."""
        with self._session() as s:
            stmt = select(NoteRow).where(NoteRow.run_id == run_id).order_by(NoteRow.id)
            found = [rows.note(r) for r in s.scalars(stmt)]
        return sorted(found, key=lambda n: (n.after is None, n.after or 0, n.id))

    def place_notes(self, run_id: str, after: int) -> list[Note]:
        """Put the users' notes not yet in effect into effect after iteration ``after``."""
        with self._session.begin() as s:
            stmt = select(NoteRow).where(NoteRow.run_id == run_id, NoteRow.after.is_(None))
            found = list(s.scalars(stmt.order_by(NoteRow.id)))
            for row in found:
                row.after = after
            return [rows.note(r) for r in found]

    # whole runs -----------------------------------------------------------
    def fork_run(self, source: str, upto: int, config: dict[str, Any]) -> str:
        """A new run holding copies of ``source``'s candidates (and their calls) before
        iteration ``upto``; resuming it continues from there."""
        info = self.run(source)
        programs = [p for p in self.programs(info.id) if p.iteration < upto]
        if not programs or programs[0].iteration != 0:
            raise UserError(f"run {info.id} has no initial program to fork from")
        new_id = self.create_run(
            info.problem, info.problem_path, config, info.seed, origin=f"fork:{info.id}:{upto}"
        )
        ids = {p.id: uuid.uuid4().hex for p in programs}
        by_program: dict[str, list[LLMCall]] = {}
        for c in self.llm_calls(info.id):
            if c.program_id in ids and c.iteration < upto:
                by_program.setdefault(c.program_id, []).append(c)
        copies = [
            replace(
                p,
                id=ids[p.id],
                run_id=new_id,
                parent_id=ids.get(p.parent_id or "", p.parent_id),
                mate_id=ids.get(p.mate_id or "", p.mate_id),
                inspiration_ids=tuple(ids.get(i, i) for i in p.inspiration_ids),
                duplicate_of=ids.get(p.duplicate_of or "", p.duplicate_of),
            )
            for p in programs
        ]
        calls = [
            replace(c, run_id=new_id, program_id=ids[p.id])
            for p in programs
            for c in by_program.get(p.id, [])
        ]
        with self.engine.begin() as conn:
            conn.execute(_ADD_PROGRAM, [rows.program_values(p) for p in copies])
            if calls:
                conn.execute(_ADD_CALL, [rows.call_values(c) for c in calls])
        self.set_run_status(
            new_id, RunStatus.INTERRUPTED, f"forked from run {info.id} at iteration {upto}"
        )
        return new_id
