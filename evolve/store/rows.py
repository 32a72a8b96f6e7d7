"""Rows to records and back, shared by the writer (``Store``) and the readers (``Reader``,
the statistics, the UI): a candidate row is ``Candidate.from_dict`` of its columns, a
candidate becomes a row from ``Candidate.to_dict``; the table's columns bear the record's
field names, so nothing here names a field.

Also the run record (``RunInfo``) and the lookup of a run by id prefix, which the writer
(``evolve run --resume PREFIX``) and the readers share.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from string import hexdigits
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from evolve.core.objective import Objective
from evolve.core.records import Candidate, LLMCall, Note
from evolve.core.status import RunStatus
from evolve.errors import UserError
from evolve.store.models import LLMCallRow, NoteRow, ProgramRow, RunRow

LARGE = frozenset({"code", "diff", "metrics", "artifacts"})
"""The columns of a candidate that can be long: left out of summaries (tree, latest)."""

SUMMARY_COLUMNS = tuple(c for c in ProgramRow.__table__.columns if c.key not in LARGE)
"""Every other column of ``programs``: what the UI's tree and latest candidates show,
under the record's own names."""

_TOP = "\U0010ffff"
"""Sorts after every character: ``prefix <= id < prefix + _TOP`` is an indexed prefix scan."""


@dataclass(frozen=True)
class RunInfo:
    """One run as stored: what it searches, with which settings, and where it stands."""

    id: str
    problem: str
    problem_path: str
    config: dict[str, Any]
    """The validated problem configuration the run uses (``problem.toml`` plus flags)."""
    seed: int
    status: RunStatus
    message: str
    created_at: float
    updated_at: float
    origin: str = ""
    """How the run began: empty, ``replay:RUN`` or ``fork:RUN:ITERATION``."""
    selection: dict[str, Any] | None = None
    """The model selector's state after the last applied candidate."""

    @property
    def objective(self) -> Objective:
        """The direction of the run's primary metric, from its stored configuration."""
        return Objective.of_config(self.config or {})

    @property
    def primary_metric(self) -> str:
        return (self.config or {}).get("evaluator", {}).get("primary_metric", "score")


def columns(row: Any) -> dict[str, Any]:
    """A mapped row's columns by name."""
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


def candidate(row: ProgramRow) -> Candidate:
    return Candidate.from_dict(columns(row))


def call(row: LLMCallRow) -> LLMCall:
    return LLMCall.from_dict(columns(row))


def run_info(row: RunRow) -> RunInfo:
    values = columns(row)
    values["status"] = RunStatus(values["status"])
    values["origin"] = values["origin"] or ""
    return RunInfo(**values)


def program_values(p: Candidate) -> dict[str, Any]:
    """A candidate's row, as the column values of an INSERT."""
    values = p.to_dict()
    values["created_at"] = p.created_at or time.time()
    return values


def call_values(c: LLMCall) -> dict[str, Any]:
    """An LLM call's row, as the column values of an INSERT (its id is the database's)."""
    values = c.to_dict()
    values["created_at"] = c.created_at or time.time()
    return values


def by_prefix(column: Any, prefix: str) -> Any:
    """``column`` starts with ``prefix`` (literally: ``%`` and ``_`` are plain characters),
    as a range over the column's index."""
    prefix = prefix.strip()
    if all(c in hexdigits for c in prefix):  # ids are lowercase hex
        prefix = prefix.lower()
    return and_(
        column >= prefix, column < prefix + _TOP, column.startswith(prefix, autoescape=True)
    )


def some(ids: Any) -> str:
    """A few of ``ids``, shortened, for an error message."""
    found = [str(i)[:12] for i in ids]
    return ", ".join(found[:2]) + (", ..." if len(found) > 2 else "")


def find_run(session: Session, prefix: str | None, where: str) -> RunInfo:
    """A run by id or unique id prefix; the latest run when ``prefix`` is None. ``where``
    names the database in errors."""
    if prefix is None:
        row = session.scalars(select(RunRow).order_by(RunRow.created_at.desc()).limit(1)).first()
        if row is None:
            raise UserError(f"no runs in {where}: start one with `evolve run PROBLEM`")
        return run_info(row)
    rows = session.scalars(
        select(RunRow).where(by_prefix(RunRow.id, prefix)).order_by(RunRow.id).limit(3)
    ).all()
    if not rows:
        raise UserError(f"no run {prefix!r} in {where} (see `evolve runs`)")
    if len(rows) > 1:
        raise UserError(
            f"run id prefix {prefix!r} is ambiguous ({some(r.id for r in rows)}): "
            "give more characters"
        )
    return run_info(rows[0])


def note(row: NoteRow) -> Note:
    return Note(row.run_id, row.text, row.author, row.after, row.created_at, row.id)
