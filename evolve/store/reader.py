"""The read-only query layer over a lineage database: what ``evolve runs``, ``best``,
``show``, ``lineage``, ``diff``, ``stats`` and ``export``, the web UI and the notebook API
(``evolve.open_db``) read, as ``RunInfo`` / ``Candidate`` / ``LLMCall`` records.

A SQLite database is opened through a ``file:...?mode=ro`` URI (see
``evolve.store.database.readonly_engine``), so nothing here can write to it, and WAL mode
lets it read while a run writes. Every lookup goes through an index: ids by prefix are
range scans of the primary key, ancestries walk parent ids one key at a time, and the run
summaries are one aggregate query per table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from evolve.core.records import Candidate, LLMCall, Note
from evolve.core.status import CandidateStatus
from evolve.errors import UserError
from evolve.store import rows
from evolve.store.database import readonly_engine, resolve_db_url
from evolve.store.models import LLMCallRow, NoteRow, ProgramRow, RunRow
from evolve.store.ranking import best_first, best_of
from evolve.store.rows import RunInfo

OK = CandidateStatus.OK.value


@dataclass(frozen=True)
class RunSummary:
    """A run with its aggregates, as ``evolve runs`` and the UI list it."""

    info: RunInfo
    candidates: int
    """Candidates after the initial program."""
    valid: int
    """Candidates (after the initial program) evaluated successfully."""
    best_score: float | None
    spent_usd: float


class Reader:
    """Runs, candidates and LLM calls of one database, read-only."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = readonly_engine(url)
        try:
            tables = set(inspect(self.engine).get_table_names())
        except OperationalError as exc:
            raise UserError(f"cannot open database {url}: {exc.orig}") from None
        if not {"runs", "programs", "llm_calls"} <= tables:
            raise UserError(
                f"{url} is not an evolve database (no runs/programs tables): check --db"
            )
        self._notes_table = "notes" in tables

    @classmethod
    def open(cls, db: str | None) -> Reader:
        """``--db`` value (path or URL), else ``$EVOLVE_DB``, else ./evolve.db."""
        return cls(resolve_db_url(db))

    def close(self) -> None:
        self.engine.dispose()

    def session(self) -> Session:
        return Session(self.engine)

    def connect(self) -> Connection:
        """A plain connection, for aggregate queries and scans (no ORM overhead)."""
        return self.engine.connect()

    # runs -----------------------------------------------------------------------------
    def run(self, prefix: str | None = None) -> RunInfo:
        """A run by id or unique id prefix; the latest run when ``prefix`` is None."""
        with self.session() as s:
            return rows.find_run(s, prefix, self.url)

    def runs(self) -> list[RunSummary]:
        """Every run, oldest first, with its counts, best score and spend (aggregated in
        the database, from indexes: a few queries whatever the number of candidates)."""
        with self.session() as s:
            infos = [
                rows.run_info(r) for r in s.scalars(select(RunRow).order_by(RunRow.created_at))
            ]
        return self._summaries(infos)

    def summary(self, info: RunInfo) -> RunSummary:
        """One run with its aggregates."""
        return self._summaries([info])[0]

    def _summaries(self, infos: list[RunInfo]) -> list[RunSummary]:
        ids = [i.id for i in infos]
        child_ok = and_(ProgramRow.status == OK, ProgramRow.iteration > 0)
        with self.connect() as c:
            counts = {
                run_id: (n, valid)
                for run_id, n, valid in c.execute(
                    select(
                        ProgramRow.run_id,
                        func.count(),
                        func.sum(case((child_ok, 1), else_=0)),
                    )
                    .where(ProgramRow.run_id.in_(ids))
                    .group_by(ProgramRow.run_id)
                )
            }
            spent = dict(
                c.execute(
                    select(LLMCallRow.run_id, func.sum(LLMCallRow.cost))
                    .where(LLMCallRow.run_id.in_(ids))
                    .group_by(LLMCallRow.run_id)
                ).all()
            )
            out = []
            for info in infos:
                n, valid = counts.get(info.id, (0, 0))
                best = c.scalar(
                    select(best_of(info.objective, ProgramRow.score)).where(
                        ProgramRow.run_id == info.id, ProgramRow.status == OK
                    )
                )
                out.append(
                    RunSummary(
                        info=info,
                        candidates=max(0, n - 1),
                        valid=int(valid or 0),
                        best_score=best,
                        spent_usd=float(spent.get(info.id) or 0.0),
                    )
                )
        return out

    def best(self, info: RunInfo, top: int = 1) -> list[Candidate]:
        """The run's ``top`` best successfully evaluated candidates (ties: the older first)."""
        with self.session() as s:
            stmt = (
                select(ProgramRow)
                .where(ProgramRow.run_id == info.id, ProgramRow.status == OK)
                .where(ProgramRow.score.is_not(None))
                .order_by(best_first(info.objective, ProgramRow.score), ProgramRow.iteration)
                .limit(top)
            )
            return [rows.candidate(r) for r in s.scalars(stmt)]

    # candidates -----------------------------------------------------------------------
    def program(self, prefix: str) -> Candidate:
        """A candidate by id or unique id prefix (across all runs)."""
        if not prefix.strip():
            raise UserError("give a program id (or a unique prefix of one)")
        with self.session() as s:
            ids = s.scalars(
                select(ProgramRow.id)
                .where(rows.by_prefix(ProgramRow.id, prefix))
                .order_by(ProgramRow.id)
                .limit(3)
            ).all()
            if not ids:
                raise UserError(
                    f"no program {prefix!r} in {self.url} (program ids: `evolve best RUN --top K`,"
                    " `evolve export RUN`)"
                )
            if len(ids) > 1:
                raise UserError(
                    f"program id prefix {prefix!r} is ambiguous ({rows.some(ids)}): "
                    "give more characters"
                )
            row = s.get(ProgramRow, ids[0])
            assert row is not None
            return rows.candidate(row)

    def parent(self, program: Candidate) -> Candidate | None:
        if program.parent_id is None:
            return None
        with self.session() as s:
            row = s.get(ProgramRow, program.parent_id)
            return rows.candidate(row) if row is not None else None

    def programs(self, run_id: str) -> Iterator[Candidate]:
        """Every candidate of a run in iteration order, streamed (code included)."""
        with self.session() as s:
            stmt = (
                select(ProgramRow)
                .where(ProgramRow.run_id == run_id)
                .order_by(ProgramRow.iteration)
                .execution_options(yield_per=500)
            )
            for row in s.scalars(stmt):
                yield rows.candidate(row)

    def metric_names(self, run_id: str) -> list[str]:
        """Every metric name any candidate of the run has, sorted (one scan of one column)."""
        names: set[str] = set()
        with self.session() as s:
            for metrics in s.scalars(select(ProgramRow.metrics).where(ProgramRow.run_id == run_id)):
                names.update(metrics or {})
        return sorted(names)

    def ancestry(self, program_id: str) -> list[Candidate]:
        """The candidate and its ancestors back to the run's initial program, oldest first:
        one primary-key lookup per generation."""
        chain: list[Candidate] = []
        seen: set[str] = set()
        current: str | None = program_id
        with self.session() as s:
            while current is not None and current not in seen:
                seen.add(current)
                row = s.get(ProgramRow, current)
                if row is None:
                    break
                chain.append(rows.candidate(row))
                current = row.parent_id
        chain.reverse()
        return chain

    # LLM calls ------------------------------------------------------------------------
    def calls(self, program_id: str) -> list[LLMCall]:
        """The LLM exchanges that made a candidate, in the order they happened."""
        with self.session() as s:
            stmt = (
                select(LLMCallRow)
                .where(LLMCallRow.program_id == program_id)
                .order_by(LLMCallRow.call_index, LLMCallRow.id)
            )
            return [rows.call(r) for r in s.scalars(stmt)]

    def calls_of_run(self, run_id: str) -> Iterator[LLMCall]:
        with self.session() as s:
            stmt = (
                select(LLMCallRow)
                .where(LLMCallRow.run_id == run_id)
                .order_by(LLMCallRow.id)
                .execution_options(yield_per=500)
            )
            for row in s.scalars(stmt):
                yield rows.call(row)

    def notes(self, run_id: str) -> list[Note]:
        """The run's notes, oldest first (none in a database older than notes)."""
        if not self._has_notes():
            return []
        with self.session() as s:
            stmt = select(NoteRow).where(NoteRow.run_id == run_id).order_by(NoteRow.id)
            return [rows.note(r) for r in s.scalars(stmt)]

    def version(self) -> tuple[Any, ...]:
        """A token that changes whenever a run, a candidate or a note is added or a run's
        status changes (what the UI polls to refresh live)."""
        with self.session() as s:
            programs = s.scalar(select(func.count()).select_from(ProgramRow))
            runs = s.execute(select(func.count(), func.max(RunRow.updated_at))).one()
            notes = s.scalar(select(func.max(NoteRow.id))) if self._has_notes() else None
        return (programs, runs[0], runs[1], notes)

    def _has_notes(self) -> bool:
        """Whether the notes table exists (a writer of this version creates it on start)."""
        if not self._notes_table:
            self._notes_table = inspect(self.engine).has_table(NoteRow.__tablename__)
        return self._notes_table
