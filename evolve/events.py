"""Events the Runner emits while a run goes: the progress display (and later the UI)
subscribe to them. Frozen dataclasses; a listener must not block."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from evolve.core.records import Candidate
from evolve.core.status import RunStatus


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    problem: str
    total: int
    already_done: int
    models: tuple[str, ...]
    initial: Candidate


@dataclass(frozen=True)
class CandidateDone:
    """A candidate was evaluated (or rejected) and committed to the Store."""

    program: Candidate
    done: int
    total: int
    best: Candidate | None
    new_best: bool


@dataclass(frozen=True)
class Stopping:
    reason: str
    in_flight: int


@dataclass(frozen=True)
class RunFinished:
    run_id: str
    status: RunStatus
    message: str
    best: Candidate | None
    done: int
    spent: float = 0.0
    """USD spent on LLM calls by the whole run."""


Event = RunStarted | CandidateDone | Stopping | RunFinished
Listener = Callable[[Event], None]
