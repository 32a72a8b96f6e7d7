"""The live progress board of ``evolve run`` on a terminal: best score and the step that
reached it, each island's best, candidates per minute, valid rate, spend and the time left
to the iteration budget, redrawn (by rich) after every candidate.

``Progress`` uses it when its console is a terminal; elsewhere it prints plain lines.
"""

from __future__ import annotations

import atexit
import time

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from evolve.cli.output import fmt_score
from evolve.core.objective import Objective
from evolve.events import CandidateDone, RunStarted


class LiveBoard:
    """What the board shows, updated from the Runner's events."""

    def __init__(self, console: Console, metric: str, objective: Objective, islands: int) -> None:
        self.console = console
        self.metric = metric
        self.objective = objective
        self.islands = islands
        self.run_id = ""
        self.total = 0
        self.done = 0
        self.session_done = 0
        self.valid = 0
        self.spent = 0.0
        self.best: tuple[float, int] | None = None
        self.island_best: dict[int, tuple[float, int]] = {}
        self.started = time.monotonic()
        self._live: Live | None = None

    # events -----------------------------------------------------------------------------
    def start(self, event: RunStarted) -> None:
        self.run_id, self.total, self.done = event.run_id, event.total, event.already_done
        self.started = time.monotonic()
        score = event.initial.score
        if score is not None:
            self.best = (score, 0)
            self.island_best = {i: (score, 0) for i in range(self.islands)}
        self._live = Live(self.render(), console=self.console, auto_refresh=False, transient=False)
        self._live.start()
        atexit.register(self.close)

    def update(self, event: CandidateDone) -> None:
        p = event.program
        self.done, self.total = event.done, event.total
        self.session_done += 1
        self.spent += p.cost
        if p.ok:
            self.valid += 1
            old = self.island_best.get(p.island)
            if old is None or self.objective.better(p.score, old[0]):
                self.island_best[p.island] = (p.score, p.iteration)  # type: ignore[assignment]
        if event.best is not None and event.best.score is not None:
            self.best = (event.best.score, event.best.iteration)
        self.refresh()

    def log(self, line: str) -> None:
        """A line printed above the board."""
        self.console.print(line, markup=False, highlight=False)

    def refresh(self) -> None:
        if self._live is not None:
            self._live.update(self.render(), refresh=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # drawing ----------------------------------------------------------------------------
    def rates(self) -> dict[str, float | None]:
        minutes = max(time.monotonic() - self.started, 1e-6) / 60.0
        per_minute = self.session_done / minutes if self.session_done else None
        left = max(self.total - self.done, 0)
        return {
            "per_minute": per_minute,
            "valid_rate": self.valid / self.session_done if self.session_done else None,
            "eta_s": 60.0 * left / per_minute if per_minute else None,
        }

    def render(self) -> Panel:
        r = self.rates()
        best = f"{fmt_score(self.best[0])} (step {self.best[1]})" if self.best is not None else "-"
        head = Table.grid(padding=(0, 3))
        head.add_row(
            Text(f"best {self.metric}: {best}", style="bold"),
            Text(f"candidates {self.done}/{self.total}"),
        )
        rate = "-" if r["per_minute"] is None else f"{r['per_minute']:.1f}"
        valid = "-" if r["valid_rate"] is None else f"{100 * r['valid_rate']:.0f}%"
        eta = "-" if r["eta_s"] is None else _duration(r["eta_s"])
        head.add_row(
            Text(f"{rate} candidates/min   valid {valid}   spent ${self.spent:.4f}"),
            Text(f"to the iteration budget: {eta}"),
        )
        islands = Table("island", f"best {self.metric}", "step", box=None, padding=(0, 2))
        for i in range(max(self.islands, max(self.island_best, default=-1) + 1)):
            b = self.island_best.get(i)
            islands.add_row(str(i), fmt_score(b[0]) if b else "-", str(b[1]) if b else "-")
        return Panel(Group(head, islands), title=f"evolve run {self.run_id}", expand=False)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
