"""The Store: every run, candidate and LLM call, committed as soon as it exists.

In-memory archives are caches rebuilt from here, so resuming is exact and a crash loses
only what was in flight. Any SQLAlchemy URL works; a plain path means SQLite, which is put
in WAL mode so readers (``evolve runs``, the UI) never block the writer.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, inspect, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import sessionmaker

from evolve.core.records import Candidate, LLMCall
from evolve.core.status import CandidateStatus
from evolve.errors import UserError
from evolve.store.indexes import ensure_indexes
from evolve.store.models import Base, LLMCallRow, ProgramRow, RunRow

DEFAULT_DB = "evolve.db"


def resolve_db_url(db: str | None) -> str:
    """``--db`` value, else ``$EVOLVE_DB``, else ./evolve.db; a path becomes a SQLite URL."""
    value = db or os.environ.get("EVOLVE_DB") or DEFAULT_DB
    if "://" in value:
        try:
            make_url(value)
        except ArgumentError as exc:
            raise UserError(f"--db {value!r} is not a valid database URL ({exc})") from None
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


@dataclass(frozen=True)
class RunInfo:
    id: str
    problem: str
    problem_path: str
    config: dict[str, Any]
    seed: int
    status: str
    message: str
    created_at: float
    updated_at: float
    origin: str = ""


class Store:
    """Runs, programs and LLM calls in a SQL database (SQLite by default)."""

    def __init__(self, url: str, *, must_exist: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self._sqlite = parsed.get_backend_name() == "sqlite"
        self._path: Path | None = None
        if self._sqlite and parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database)
            self._path = path.resolve()
            if must_exist and not path.exists():
                raise UserError(f"no database at {path} (give --db PATH or set EVOLVE_DB)")
            if not path.parent.exists():
                raise UserError(
                    f"cannot create database {path}: folder {path.parent} does not exist"
                )
        try:
            self.engine: Engine = create_engine(url, future=True)
        except (ArgumentError, ImportError) as exc:
            raise UserError(f"cannot open database {url}: {exc}") from None
        if self._sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            Base.metadata.create_all(self.engine)
            _add_missing_columns(self.engine)
            ensure_indexes(self.engine)
        except OperationalError as exc:
            raise UserError(f"cannot open database {url}: {exc.orig}") from None
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def files(self) -> tuple[Path, ...]:
        """The database's files on disk (SQLite: the file and its journal), if any."""
        if not self._sqlite or not self._path:
            return ()
        return tuple(Path(f"{self._path}{suffix}") for suffix in ("", "-wal", "-shm", "-journal"))

    def close(self) -> None:
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
                    status="running",
                    message="",
                    origin=origin,
                    created_at=now,
                    updated_at=now,
                )
            )
        return run_id

    def set_run_status(self, run_id: str, status: str, message: str = "") -> None:
        with self._session.begin() as s:
            row = s.get(RunRow, run_id)
            if row is None:
                raise UserError(f"no run {run_id!r} in {self.url}")
            row.status, row.message, row.updated_at = status, message, time.time()

    def update_run_config(self, run_id: str, config: dict[str, Any]) -> None:
        with self._session.begin() as s:
            row = s.get(RunRow, run_id)
            if row is not None:
                row.config, row.updated_at = config, time.time()

    def run(self, run_id: str) -> RunInfo:
        """A run by id or unique id prefix."""
        with self._session() as s:
            rows = s.scalars(
                select(RunRow).where(RunRow.id.startswith(run_id, autoescape=True)).limit(2)
            ).all()
        if not rows:
            raise UserError(f"no run {run_id!r} in {self.url} (see `evolve runs`)")
        if len(rows) > 1:
            raise UserError(f"run id prefix {run_id!r} is ambiguous: give more characters")
        return _run_info(rows[0])

    def runs(self) -> list[RunInfo]:
        with self._session() as s:
            rows = s.scalars(select(RunRow).order_by(RunRow.created_at)).all()
        return [_run_info(r) for r in rows]

    # programs -------------------------------------------------------------
    def add_program(self, p: Candidate, calls: Sequence[LLMCall] = ()) -> None:
        """Commit one candidate, with the LLM calls that made it, now and together: killing
        the process later cannot lose it."""
        with self._session.begin() as s:
            s.add(_program_row(p))
            s.add_all(_call_row(c) for c in calls)

    def set_cell(self, program_id: str, cell: tuple[int, ...]) -> None:
        """Record a candidate's MAP-Elites cell (known once it takes its turn in the archive)."""
        with self._session.begin() as s:
            row = s.get(ProgramRow, program_id)
            if row is not None:
                row.cell = list(cell)

    def programs(self, run_id: str) -> list[Candidate]:
        """All candidates of a run, in iteration order."""
        return list(self.iter_programs(run_id))

    def iter_programs(self, run_id: str) -> Iterator[Candidate]:
        with self._session() as s:
            stmt = (
                select(ProgramRow).where(ProgramRow.run_id == run_id).order_by(ProgramRow.iteration)
            )
            for row in s.scalars(stmt):
                yield _program(row)

    def program(self, program_id: str) -> Candidate:
        """A program by id or unique id prefix."""
        with self._session() as s:
            stmt = (
                select(ProgramRow)
                .where(ProgramRow.id.startswith(program_id, autoescape=True))
                .limit(2)
            )
            rows = s.scalars(stmt).all()
        if not rows:
            raise UserError(f"no program {program_id!r} in {self.url}")
        if len(rows) > 1:
            raise UserError(f"program id prefix {program_id!r} is ambiguous: give more characters")
        return _program(rows[0])

    def find_evaluated(self, run_id: str, code_hash: str) -> Candidate | None:
        """The evaluated program of this run with this code, if any."""
        with self._session() as s:
            stmt = (
                select(ProgramRow)
                .where(ProgramRow.run_id == run_id, ProgramRow.code_hash == code_hash)
                .where(ProgramRow.status.in_([s.value for s in CandidateStatus if s.evaluated]))
                .order_by(ProgramRow.iteration)
                .limit(1)
            )
            row = s.scalars(stmt).first()
        return _program(row) if row is not None else None

    def best(self, run_id: str, maximize: bool, top: int = 1) -> list[Candidate]:
        order = ProgramRow.score.desc() if maximize else ProgramRow.score.asc()
        with self._session() as s:
            stmt = (
                select(ProgramRow)
                .where(ProgramRow.run_id == run_id, ProgramRow.status == CandidateStatus.OK.value)
                .where(ProgramRow.score.is_not(None))
                .order_by(order, ProgramRow.iteration)
                .limit(top)
            )
            return [_program(r) for r in s.scalars(stmt)]

    def count_programs(self, run_id: str) -> int:
        with self._session() as s:
            return s.scalar(select(func.count()).where(ProgramRow.run_id == run_id)) or 0

    # LLM calls ------------------------------------------------------------
    def add_llm_calls(self, calls: Sequence[LLMCall]) -> None:
        with self._session.begin() as s:
            s.add_all(_call_row(c) for c in calls)

    def spent(self, run_id: str) -> float:
        """USD spent on the run's LLM calls so far."""
        with self._session() as s:
            total = s.scalar(select(func.sum(LLMCallRow.cost)).where(LLMCallRow.run_id == run_id))
        return float(total or 0.0)

    def llm_calls(self, run_id: str) -> list[LLMCall]:
        """Every call of the run, in the order they were stored."""
        with self._session() as s:
            stmt = select(LLMCallRow).where(LLMCallRow.run_id == run_id).order_by(LLMCallRow.id)
            return [_call(r) for r in s.scalars(stmt)]

    # whole runs -----------------------------------------------------------
    def set_selection(self, run_id: str, state: dict[str, Any]) -> None:
        with self._session.begin() as s:
            row = s.get(RunRow, run_id)
            if row is not None:
                row.selection = state

    def selection(self, run_id: str) -> dict[str, Any] | None:
        with self._session() as s:
            row = s.get(RunRow, run_id)
            return row.selection if row is not None else None

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
        for call in self.llm_calls(info.id):
            if call.program_id in ids and call.iteration < upto:
                by_program.setdefault(call.program_id, []).append(call)
        with self._session.begin() as s:
            for p in programs:
                copy = replace(
                    p,
                    id=ids[p.id],
                    run_id=new_id,
                    parent_id=ids.get(p.parent_id or "", p.parent_id),
                    inspiration_ids=tuple(ids.get(i, i) for i in p.inspiration_ids),
                    duplicate_of=ids.get(p.duplicate_of or "", p.duplicate_of),
                )
                s.add(_program_row(copy))
                s.add_all(
                    _call_row(replace(c, run_id=new_id, program_id=ids[p.id]))
                    for c in by_program.get(p.id, [])
                )
        self.set_run_status(new_id, "interrupted", f"forked from run {info.id} at iteration {upto}")
        return new_id


def _add_missing_columns(engine: Engine) -> None:
    """Bring a database made by an older version up to date: add the columns it lacks
    (every later column has a default). Nothing is dropped or rewritten."""
    inspector = inspect(engine)
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            if not inspector.has_table(table.name):
                continue
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                default = column.default.arg if column.default is not None else None
                if callable(default):
                    default = None
                clause = "" if default is None else f" DEFAULT {_sql_literal(default)}"
                conn.execute(
                    text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}{clause}')
                )


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _program_row(p: Candidate) -> ProgramRow:
    values = p.to_dict()
    values["created_at"] = p.created_at or time.time()
    return ProgramRow(**values)


def _call_row(call: LLMCall) -> LLMCallRow:
    values = call.to_dict()
    values["created_at"] = call.created_at or time.time()
    return LLMCallRow(**values)


def _columns(row: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


def _call(r: LLMCallRow) -> LLMCall:
    return LLMCall.from_dict(_columns(r))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _finite(metrics: dict[str, float]) -> dict[str, float | None]:
    """JSON has no NaN or infinity: store them as null."""
    return {k: (v if math.isfinite(v) else None) for k, v in metrics.items()}


def _run_info(r: RunRow) -> RunInfo:
    return RunInfo(
        id=r.id,
        problem=r.problem,
        problem_path=r.problem_path,
        config=r.config,
        seed=r.seed,
        status=r.status,
        message=r.message,
        created_at=r.created_at,
        updated_at=r.updated_at,
        origin=r.origin or "",
    )


def _program(r: ProgramRow) -> Candidate:
    return Candidate.from_dict(_columns(r))
