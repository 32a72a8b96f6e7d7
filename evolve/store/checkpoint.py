"""Copying SQLite's write-ahead log into the database file from a thread of its own, so the
engine's commits do not pay for it.

In WAL mode a commit appends pages to the ``-wal`` file; now and then a *checkpoint* copies
them into the database and syncs it. SQLite runs that checkpoint inside whichever commit
takes the log past ``wal_autocheckpoint`` pages (1,000 by default), so one candidate in a
hundred or so paid for it, and more as the database grew: over a 100,000-candidate run
these pauses (5 to 10 ms each) were half of the engine's slowdown.

Here a thread with a connection of its own runs a PASSIVE checkpoint every ``PERIOD``
seconds; it never blocks the writer, and copies what was committed before it began. The
writer keeps SQLite's own checkpoint as the backstop, raised to ``WRITER_PAGES``: past that
the log is already copied but for its last pages, so the writer's checkpoint is a short
catch-up, after which SQLite starts the log again from the beginning. Should the thread
stop (an error: it says so once, on stderr), the writer's checkpoint still bounds the log.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from pathlib import Path

PERIOD = 0.2
WRITER_PAGES = 10_000
"""The writer's own ``wal_autocheckpoint`` while a Checkpointer runs (40 MB of 4 KiB pages)."""


class Checkpointer:
    """A thread checkpointing one SQLite database's write-ahead log until ``close``."""

    def __init__(self, path: Path, period: float = PERIOD) -> None:
        self.path = path
        self.period = period
        self.checkpoints = 0
        """PASSIVE checkpoints run so far."""
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"evolve-checkpoint-{path.name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False)
        except sqlite3.Error as exc:
            print(
                f"evolve: cannot checkpoint {self.path} in the background: {exc}", file=sys.stderr
            )
            return
        try:
            while not self._stop.wait(self.period):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                self.checkpoints += 1
        except sqlite3.Error as exc:
            # The writer's own checkpoint goes on bounding the log; only its pace suffers.
            print(f"evolve: background checkpoints of {self.path} stopped: {exc}", file=sys.stderr)
        finally:
            conn.close()

    def close(self) -> None:
        """Stop the thread and close its connection (before the writer's last one closes:
        the last connection to close folds the log into the database and removes it)."""
        self._stop.set()
        self._thread.join()
