"""Read-only access to a lineage database, for inspection: the CLI's ``show``, ``lineage``,
``diff``, ``stats`` and ``export``, the web UI and the notebook API.

A SQLite database is opened through a ``file:...?mode=ro`` URI, so nothing here can write
to it (WAL mode lets it read while a run writes). Every lookup goes through an index: ids
by prefix are range scans of the primary key, ancestries walk parent ids one key at a time,
and the run summaries are one aggregate query per table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from string import hexdigits
from typing import Any
from urllib.parse import quote

from sqlalchemy import and_, case, create_engine, func, inspect, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool

from evolve.core.records import Candidate, LLMCall
from evolve.core.status import CandidateStatus
from evolve.errors import UserError
from evolve.store.models import LLMCallRow, ProgramRow, RunRow
from evolve.store.store import RunInfo, _call, _program, _run_info, resolve_db_url

_TOP = "\U0010ffff"
"""Sorts after every character: ``prefix <= id < prefix + _TOP`` is an indexed prefix scan."""

LINEAGE_COLUMNS = (
    ProgramRow.id,
    ProgramRow.run_id,
    ProgramRow.iteration,
    ProgramRow.parent_id,
    ProgramRow.island,
    ProgramRow.generation,
    ProgramRow.status,
    ProgramRow.score,
    ProgramRow.model,
    ProgramRow.created_at,
)
"""The small columns of a program (no code, diff, metrics or artifacts)."""


@dataclass(frozen=True)
class RunSummary:
    """A run with its aggregates, as ``evolve runs`` and the UI list it."""

    info: RunInfo
    candidates: int
    """Programs after the initial one."""
    valid: int
    """Candidates (after the initial program) evaluated successfully."""
    best_score: float | None
    spent_usd: float

    @property
    def maximize(self) -> bool:
        return maximizes(self.info)


def maximizes(info: RunInfo) -> bool:
    """Whether the run's primary metric is to be maximized (its stored configuration)."""
    return (info.config or {}).get("evaluator", {}).get("direction", "maximize") == "maximize"


def primary_metric(info: RunInfo) -> str:
    return (info.config or {}).get("evaluator", {}).get("primary_metric", "score")


def readonly_engine(url: str) -> Engine:
    """An engine that cannot write: SQLite through a ``mode=ro`` URI; other databases in
    read-only transactions where the backend has them (PostgreSQL)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UserError(f"--db {url!r} is not a valid database URL ({exc})") from None
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise UserError(f"{url}: an in-memory database has no runs to inspect; give --db PATH")
        path = Path(parsed.database).expanduser().resolve()
        if not path.is_file():
            raise UserError(f"no database at {path} (give --db PATH or set EVOLVE_DB)")
        uri = f"file:{quote(str(path))}?mode=ro"

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=10.0)
            conn.execute("PRAGMA busy_timeout=10000")
            return conn

        return create_engine("sqlite://", creator=connect, poolclass=QueuePool, pool_size=4)
    options: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        options["execution_options"] = {"postgresql_readonly": True}
    try:
        return create_engine(url, **options)
    except (ArgumentError, ImportError) as exc:
        raise UserError(f"cannot open database {url}: {exc}") from None


class Reader:
    """Runs, programs and LLM calls of one database, read-only."""

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
            if prefix is None:
                row = s.scalars(select(RunRow).order_by(RunRow.created_at.desc()).limit(1)).first()
                if row is None:
                    raise UserError(f"no runs in {self.url}: start one with `evolve run PROBLEM`")
                return _run_info(row)
            rows = s.scalars(
                select(RunRow).where(_prefix(RunRow.id, prefix)).order_by(RunRow.id).limit(3)
            ).all()
        if not rows:
            raise UserError(f"no run {prefix!r} in {self.url} (see `evolve runs`)")
        if len(rows) > 1:
            raise UserError(
                f"run id prefix {prefix!r} is ambiguous ({_some(r.id for r in rows)}): "
                "give more characters"
            )
        return _run_info(rows[0])

    def runs(self) -> list[RunSummary]:
        """Every run, oldest first, with its counts, best score and spend (aggregated in
        the database, from indexes: a few queries whatever the number of programs)."""
        with self.session() as s:
            infos = [_run_info(r) for r in s.scalars(select(RunRow).order_by(RunRow.created_at))]
        return self._summaries(infos)

    def summary(self, info: RunInfo) -> RunSummary:
        """One run with its aggregates."""
        return self._summaries([info])[0]

    def _summaries(self, infos: list[RunInfo]) -> list[RunSummary]:
        ids = [i.id for i in infos]
        child_ok = and_(ProgramRow.status == CandidateStatus.OK.value, ProgramRow.iteration > 0)
        with self.session() as s:
            counts = {
                run_id: (n, valid)
                for run_id, n, valid in s.execute(
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
                s.execute(
                    select(LLMCallRow.run_id, func.sum(LLMCallRow.cost))
                    .where(LLMCallRow.run_id.in_(ids))
                    .group_by(LLMCallRow.run_id)
                ).all()
            )
            out = []
            for info in infos:
                n, valid = counts.get(info.id, (0, 0))
                out.append(
                    RunSummary(
                        info=info,
                        candidates=max(0, n - 1),
                        valid=int(valid or 0),
                        best_score=self._best_score(s, info),
                        spent_usd=float(spent.get(info.id) or 0.0),
                    )
                )
        return out

    def _best_score(self, s: Session, info: RunInfo) -> float | None:
        score = ProgramRow.score
        stmt = (
            select(score)
            .where(ProgramRow.run_id == info.id, ProgramRow.status == CandidateStatus.OK.value)
            .where(score.is_not(None))
            .order_by(score.desc() if maximizes(info) else score.asc())
            .limit(1)
        )
        return s.scalar(stmt)

    def best(self, run_id: str, top: int = 1) -> list[Candidate]:
        """The run's ``top`` best successfully evaluated programs."""
        info = self.run(run_id)
        order = ProgramRow.score.desc() if maximizes(info) else ProgramRow.score.asc()
        with self.session() as s:
            stmt = (
                select(ProgramRow)
                .where(ProgramRow.run_id == info.id, ProgramRow.status == CandidateStatus.OK.value)
                .where(ProgramRow.score.is_not(None))
                .order_by(order, ProgramRow.iteration)
                .limit(top)
            )
            return [_program(r) for r in s.scalars(stmt)]

    # programs -------------------------------------------------------------------------
    def program(self, prefix: str) -> Candidate:
        """A program by id or unique id prefix (across all runs)."""
        if not prefix.strip():
            raise UserError("give a program id (or a unique prefix of one)")
        with self.session() as s:
            ids = s.scalars(
                select(ProgramRow.id)
                .where(_prefix(ProgramRow.id, prefix))
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
                    f"program id prefix {prefix!r} is ambiguous ({_some(ids)}): "
                    "give more characters"
                )
            row = s.get(ProgramRow, ids[0])
            assert row is not None
            return _program(row)

    def parent(self, program: Candidate) -> Candidate | None:
        if program.parent_id is None:
            return None
        with self.session() as s:
            row = s.get(ProgramRow, program.parent_id)
            return _program(row) if row is not None else None

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
                yield _program(row)

    def ancestry(self, program_id: str) -> list[dict[str, Any]]:
        """The program and its ancestors back to the run's initial program, oldest first,
        as small records (no code): one primary-key lookup per generation."""
        chain: list[dict[str, Any]] = []
        seen: set[str] = set()
        current: str | None = program_id
        with self.session() as s:
            while current is not None and current not in seen:
                seen.add(current)
                row = s.execute(select(*LINEAGE_COLUMNS).where(ProgramRow.id == current)).first()
                if row is None:
                    break
                chain.append(dict(row._mapping))
                current = row.parent_id
        chain.reverse()
        return chain

    def calls(self, program_id: str) -> list[LLMCall]:
        """The LLM exchanges that made a program, in the order they happened."""
        with self.session() as s:
            stmt = (
                select(LLMCallRow)
                .where(LLMCallRow.program_id == program_id)
                .order_by(LLMCallRow.call_index, LLMCallRow.id)
            )
            return [_call(r) for r in s.scalars(stmt)]

    def calls_of_run(self, run_id: str) -> Iterator[LLMCall]:
        with self.session() as s:
            stmt = (
                select(LLMCallRow)
                .where(LLMCallRow.run_id == run_id)
                .order_by(LLMCallRow.id)
                .execution_options(yield_per=500)
            )
            for row in s.scalars(stmt):
                yield _call(row)

    def version(self) -> tuple[Any, ...]:
        """A token that changes whenever a run or a program is added or a run's status
        changes (what the UI polls to refresh live)."""
        with self.session() as s:
            programs = s.scalar(select(func.count()).select_from(ProgramRow))
            runs = s.execute(select(func.count(), func.max(RunRow.updated_at))).one()
        return (programs, runs[0], runs[1])


def _prefix(column: Any, prefix: str) -> Any:
    prefix = prefix.strip()
    if all(c in hexdigits for c in prefix):  # ids are lowercase hex
        prefix = prefix.lower()
    return and_(
        column >= prefix, column < prefix + _TOP, column.startswith(prefix, autoescape=True)
    )


def _some(ids: Any) -> str:
    found = [str(i)[:12] for i in ids]
    return ", ".join(found[:2]) + (", ..." if len(found) > 2 else "")
