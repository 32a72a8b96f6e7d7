"""The evaluation an evaluator runs in: its time limit and when it started.

The sandbox harness sets it (``configure``) before it imports the evaluator; the function
runner (``evolve.sdk.runner``) reads it to fit each call in what is left of the
evaluation's time, leaving the evaluator a margin to report. Nothing is read from the
command line or guessed from the running script: outside the harness nothing is set, and
calls take the timeout they are given. A process the evaluator starts (pytest, say) is
told its share explicitly and calls ``configure`` itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from evolve.sdk.procs import age


@dataclass(frozen=True)
class Context:
    """One evaluation's clock."""

    timeout: float | None
    """Seconds the whole evaluation may take (None: no overall limit)."""
    started: float
    """When it started, on the ``time.monotonic`` clock."""
    harness: bool = False
    """True in the sandbox harness's own process: there the runner also adopts and kills
    whatever a program's process leaves behind."""

    def remaining(self) -> float | None:
        """Seconds left for calls to the program: the limit, less what has passed and a
        margin for the evaluator to report (None: no overall limit)."""
        if self.timeout is None:
            return None
        margin = max(0.5, min(3.0, 0.15 * self.timeout))
        return self.started + self.timeout - margin - time.monotonic()


_current: Context | None = None


def configure(
    timeout: float | None, *, started: float | None = None, harness: bool = False
) -> Context:
    """Set this process's evaluation: ``timeout`` seconds from ``started`` (a
    ``time.monotonic`` value; default: when this process started). Returns it."""
    global _current
    if started is None:
        started = time.monotonic() - age()
    _current = Context(timeout, started, harness)
    return _current


def current() -> Context | None:
    """This process's evaluation, if one was configured."""
    return _current


def remaining_time() -> float | None:
    """Seconds left for calls to the program in this evaluation (None: no overall limit)."""
    return None if _current is None else _current.remaining()
