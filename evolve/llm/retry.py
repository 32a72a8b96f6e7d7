"""Surviving faulty providers: backoff between retries, and noticing when every model is down.

A transient fault (429, 5xx, timeout, dropped connection, malformed or empty answer) is
retried on the same model after an exponential delay with jitter, or after the server's
Retry-After when it gave one; after ``retries`` the Proposer moves to another model. When
no call has succeeded for ``outage_seconds`` the run stops cleanly (``Outage``), leaving
what is in flight to be redone on resume.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from evolve.core.status import RunStatus
from evolve.llm.base import Fault, LLMError

Sleep = Callable[[float], Awaitable[None]]


class StopSearch(Exception):
    """Raised out of a proposal to stop the whole run cleanly; that proposal is not kept."""

    status = RunStatus.INTERRUPTED
    """What the run's status becomes."""


class Outage(StopSearch):
    """Every model has failed for longer than ``llm.outage_seconds``."""


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 4
    backoff: float = 1.0
    backoff_max: float = 60.0

    def delay(self, retry: int, error: LLMError, jitter: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (0-based) after ``error``."""
        if error.retry_after is not None:
            # Honour the server, within reason (a day-long Retry-After would stall the run).
            return min(error.retry_after, max(self.backoff_max, 1.0))
        step = min(self.backoff_max, self.backoff * (2**retry))
        return step * (0.5 + 0.5 * jitter.random())


class Health:
    """When the ensemble last worked. ``down()`` once nothing has succeeded for a while, or
    at once when every model has refused its credentials."""

    def __init__(
        self,
        outage_seconds: float,
        models: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.outage_seconds = outage_seconds
        self.models = frozenset(models)
        self.clock = clock
        self.last_success = clock()
        self.failing = False
        self.last_error = ""
        self.rejected: set[str] = set()

    def success(self, model: str = "") -> None:
        self.last_success = self.clock()
        self.failing = False
        self.rejected.discard(model)

    def failure(self, error: LLMError, model: str = "") -> None:
        self.failing = True
        self.last_error = str(error)
        if error.fault is Fault.AUTH and model:
            self.rejected.add(model)

    def all_rejected(self) -> bool:
        return bool(self.models) and self.models <= self.rejected

    def down(self) -> bool:
        if self.all_rejected():
            return True
        return self.failing and self.clock() - self.last_success > self.outage_seconds

    def outage(self) -> Outage:
        if self.all_rejected():
            return Outage(
                f"every model refused its credentials (last error: {self.last_error}); "
                "fix the key and resume the run"
            )
        return Outage(
            f"every model has failed for more than {self.outage_seconds:g} s "
            f"(last error: {self.last_error}); resume the run when the provider is back"
        )


async def real_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def no_sleep(_seconds: float) -> None:
    """Replays do not wait: the recorded faults come back at once."""
    await asyncio.sleep(0)
