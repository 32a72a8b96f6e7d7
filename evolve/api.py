"""Run a search from Python (notebooks, scripts): ``evolve.run`` and, for code that runs
its own event loop, ``evolve.run_async``. The keyword arguments are ``evolve run``'s flags;
both start or resume the run through ``evolve.session``, exactly as the command does, and
return a ``Run``: the run as its database holds it.

    import evolve
    run = evolve.run("function_minimization", iterations=20, seed=1)
    print(run.best.code, run.best_score)
    run = evolve.run(resume=run.id, iterations=40)   # 20 more
"""

from __future__ import annotations

import contextlib
import difflib
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from evolve.cli.progress import Progress
from evolve.core.records import Candidate
from evolve.core.status import RunStatus
from evolve.errors import UserError
from evolve.events import Listener
from evolve.lineage_db import LineageDB
from evolve.problem_builder import Problem
from evolve.session import SETTINGS, Session, Start, python_spelling
from evolve.store.reader import RunSummary

if TYPE_CHECKING:
    import pandas


class Options(TypedDict, total=False):
    """``evolve.run``'s keyword arguments (all optional)."""

    iterations: int
    """Candidates to propose: the run's total budget (``--iterations``)."""
    models: Sequence[str] | str
    """Model specs, ``SPEC`` or ``SPEC@WEIGHT`` (``--model``); default: the problem's."""
    db: str | os.PathLike[str]
    """Database path or SQLAlchemy URL (default: ``$EVOLVE_DB`` or ./evolve.db)."""
    seed: int
    islands: int
    max_in_flight: int
    target_score: float
    temperature: float
    budget_usd: float
    sandbox: str
    """``process`` or ``docker`` (default: the problem's)."""
    resume: str
    """Continue the run with this id (or unique prefix); the problem is the run's."""
    replay: str
    """Re-run a recorded run from its stored LLM answers."""
    fork: str
    """Start a new run from a recorded run's first iterations (with ``at``)."""
    at: int
    progress: bool | Listener
    """Print a line per candidate (default), or call this with each event."""


def run(problem: Problem | str | os.PathLike[str] | None = None, **options: Unpack[Options]) -> Run:
    """Start (or resume, replay, fork) a run and drive it to its end; the problem is an
    ``evolve.Problem``, a problem.toml, its folder or a bundled problem's name.

    Ctrl-C stops it cleanly and the interrupted run is returned (``run.status``), to be
    continued with ``evolve.run(resume=run.id)``: from a script, as on the command line
    (the first finishes the candidates in flight, a second abandons them); in a notebook,
    whose event loop is already running, the search runs in a thread of its own and is
    cancelled (the candidates in flight are redone on resume). Bad settings raise
    ``evolve.errors.UserError`` with the command line's one-line message."""
    session, listener = _open(problem, options)
    # Recorded as interrupted by the session: the run is returned as it stands.
    with contextlib.suppress(KeyboardInterrupt):
        session.run(listener)
    return Run.of(session)


async def run_async(
    problem: Problem | str | os.PathLike[str] | None = None, **options: Unpack[Options]
) -> Run:
    """``run`` for code with an event loop of its own (``await evolve.run_async(...)``).
    Cancelling the task records the run as interrupted (resumable) and re-raises."""
    session, listener = _open(problem, options)
    await session.drive(listener)
    return Run.of(session)


@dataclass(frozen=True)
class Run:
    """A run as its database holds it: what ``evolve.run`` returns, and what
    ``evolve.open_db(db)`` gives back about it later (``summary`` is the ``RunSummary`` its
    ``runs()`` lists, ``db`` that read-only view itself)."""

    summary: RunSummary
    best: Candidate | None
    """The best program (by the problem's direction), or None if none was valid."""
    db: LineageDB

    @classmethod
    def open(cls, run_id: str, db: LineageDB) -> Run:
        full = db.run(run_id).id
        summary = next(s for s in db.runs() if s.info.id == full)
        return cls(summary, next(iter(db.best(full)), None), db)

    @classmethod
    def of(cls, session: Session) -> Run:
        session.store.close()
        return cls.open(session.run_id, LineageDB(session.store.url))

    @property
    def id(self) -> str:
        return self.summary.info.id

    @property
    def status(self) -> RunStatus:
        return RunStatus(self.summary.info.status)

    @property
    def message(self) -> str:
        """Why the run stopped."""
        return self.summary.info.message

    @property
    def candidates(self) -> int:
        """Candidates proposed (after the initial program)."""
        return self.summary.candidates

    @property
    def best_score(self) -> float | None:
        return self.summary.best_score

    @property
    def spent_usd(self) -> float:
        return self.summary.spent_usd

    def programs(self) -> list[Candidate]:
        """Every candidate, in iteration order (the initial program first)."""
        return self.db.programs(self.id)

    def lineage(self, program_id: str | None = None) -> list[Candidate]:
        """From the initial program to ``program_id`` (default: the best program)."""
        target = program_id or (self.best.id if self.best else None)
        return self.db.lineage(target) if target else []

    def stats(self) -> dict[str, Any]:
        """Per model, per island, MAP-Elites coverage and the bandit (as ``evolve stats``)."""
        return self.db.stats(self.id)

    def programs_df(self, code: bool = False) -> pandas.DataFrame:
        return self.db.programs_df(self.id, code=code)

    def __repr__(self) -> str:
        score = "none" if self.best_score is None else f"{self.best_score:g}"
        return (
            f"<evolve.Run {self.id[:12]} {self.status.value}: {self.candidates} candidates, "
            f"best score {score}>"
        )


def _open(problem: Any, options: dict[str, Any]) -> tuple[Session, Listener | None]:
    """Check the keyword arguments and open the run's session; its progress listener."""
    known = Options.__annotations__
    for key in options:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UserError(f"evolve.run: unknown keyword argument {key!r}{hint}")
    for key in ("resume", "replay", "fork"):
        _check(options, key, str, "a run id")
    _check(options, "at", int, "an iteration number")
    _check(options, "db", str | os.PathLike, "a path or a database URL")
    models = options.get("models") or []
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, Sequence) or not all(isinstance(m, str) for m in models):
        raise UserError("models: give model specs as strings, such as ['local/gemma-3-270m']")
    if problem is not None and not isinstance(problem, Problem | str | os.PathLike):
        raise UserError(
            "problem: give an evolve.Problem, a problem.toml, its folder or a bundled name "
            f"(got {type(problem).__name__})"
        )
    progress = options.get("progress", True)
    if not isinstance(progress, bool) and not callable(progress):
        raise UserError("progress: give True, False or a function called with each event")
    db = options.get("db")
    session = Session.open(
        Start(
            problem=os.fspath(problem) if problem is not None else None,
            resume=options.get("resume"),
            replay=options.get("replay"),
            fork=options.get("fork"),
            at=options.get("at"),
        ),
        db=os.fspath(db) if db is not None else None,
        settings={key: options.get(key) for key in SETTINGS},
        models=list(models),
        spell=python_spelling,
    )
    if session.weaker:
        warnings.warn(f"weaker sandbox: {session.weaker}", RuntimeWarning, stacklevel=3)
    if progress is True:
        return session, Progress(session.problem, notice=session.notice)
    return session, progress if callable(progress) else None


def _check(options: dict[str, Any], key: str, kind: Any, what: str) -> None:
    value = options.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise UserError(f"{key}: give {what} (got {type(value).__name__} {value!r})")
