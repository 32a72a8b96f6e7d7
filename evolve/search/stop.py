"""Why a run ends, and the Ctrl-C / SIGTERM handling that can end it early."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from evolve.core.status import RunStatus


@dataclass(frozen=True)
class Stop:
    """The run is ending: why, the status it ends with, and whether the candidates in flight
    are abandoned (else they are finished first)."""

    reason: str
    status: RunStatus
    abandon: bool = False

    @property
    def interrupt(self) -> bool:
        return self.status is RunStatus.INTERRUPTED

    def overrides(self, current: Stop | None) -> bool:
        """Whether this reason replaces ``current``: the first reason stands, except that
        an interrupt overrides other reasons and abandoning overrides finishing."""
        return (
            current is None
            or (self.interrupt and not current.interrupt)
            or (self.abandon and not current.abandon)
        )


USER_INTERRUPT = Stop("interrupted by the user", RunStatus.INTERRUPTED)
ABANDON = Stop("interrupted; in-flight candidates abandoned", RunStatus.INTERRUPTED, abandon=True)


@contextlib.contextmanager
def signals(on_interrupt: Callable[[], None], on_term: Callable[[], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call the handlers while the block runs. Outside the main thread (a
    notebook's worker, a server) signals cannot be handled here; the caller then stops the
    run by cancelling its task."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig, handler in ((signal.SIGINT, on_interrupt), (signal.SIGTERM, on_term)):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, handler)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
