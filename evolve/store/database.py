"""Opening a lineage database: where it is (``--db``, ``$EVOLVE_DB``, ./evolve.db), the
writer's engine (SQLite in WAL mode, tables and indexes created, older databases brought
up to date) and the readers' engine, which cannot write.

A reader of a SQLite database in WAL mode needs the ``-wal`` and ``-shm`` files beside it,
and SQLite creates them when they are missing, which a read-only folder forbids. The last
writer to close removes them (after copying the log into the database), so a finished run
on read-only storage has none: that database is opened ``immutable`` (nothing can change it
there, since no writer could create the log either). When a ``-wal`` file exists (a writer
is running, or one was killed) it holds committed rows, and the database is read through it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import QueuePool

from evolve.errors import UserError
from evolve.store.checkpoint import WRITER_PAGES
from evolve.store.indexes import ensure_indexes
from evolve.store.models import Base

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


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite database URL (None for other databases and ``:memory:``)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UserError(f"--db {url!r} is not a valid database URL ({exc})") from None
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser().resolve()


def writable_engine(url: str, *, must_exist: bool = False) -> Engine:
    """The writer's engine, with the tables, columns and indexes this version uses."""
    path = sqlite_path(url)
    if path is not None:
        if must_exist and not path.exists():
            raise UserError(f"no database at {path} (give --db PATH or set EVOLVE_DB)")
        if not path.parent.exists():
            raise UserError(f"cannot create database {path}: folder {path.parent} does not exist")
    try:
        engine = create_engine(url)
    except (ArgumentError, ImportError) as exc:
        raise UserError(f"cannot open database {url}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        Base.metadata.create_all(engine)
        _add_missing_columns(engine)
        ensure_indexes(engine)
    except OperationalError as exc:
        raise UserError(f"cannot open database {url}: {exc.orig}") from None
    return engine


def readonly_engine(url: str) -> Engine:
    """An engine that cannot write: SQLite through a ``mode=ro`` URI (``immutable`` on
    read-only storage, see the module's docstring); other databases in read-only
    transactions where the backend has them (PostgreSQL)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UserError(f"--db {url!r} is not a valid database URL ({exc})") from None
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is None:
            raise UserError(f"{url}: an in-memory database has no runs to inspect; give --db PATH")
        if not path.is_file():
            raise UserError(f"no database at {path} (give --db PATH or set EVOLVE_DB)")
        uri = f"file:{quote(str(path))}?mode=ro"
        if _needs_immutable(path):
            uri += "&immutable=1"

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


def _needs_immutable(path: Path) -> bool:
    """No write-ahead log beside the database, and none can be created: nothing can be
    writing it, and a plain read-only connection would fail creating its ``-shm`` file."""
    if Path(f"{path}-wal").exists():
        return False
    return not os.access(path.parent, os.W_OK, effective_ids=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # The Store's Checkpointer copies the log in the background; this is the backstop.
    cursor.execute(f"PRAGMA wal_autocheckpoint={WRITER_PAGES}")
    cursor.close()


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
