"""``evolve runs``: the runs of a database, with their best score, candidates and spend."""

from __future__ import annotations

import time

from rich.table import Table

from evolve.cli.options import DbOption, JsonOption
from evolve.cli.output import console, fmt_score, print_json
from evolve.store.reader import Reader
from evolve.store.views import run_json


def command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List the runs in the database."""
    reader = Reader.open(db)
    try:
        rows = [run_json(r) for r in reader.runs()]
    finally:
        reader.close()
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no runs yet: start one with `evolve run PROBLEM`")
        return
    table = Table("id", "problem", "status", "best", "candidates", "USD", "started", "duration")
    for r in rows:
        table.add_row(
            r["id"] + (f" ({r['origin'].split(':')[0]})" if r["origin"] else ""),
            r["problem"],
            r["status"],
            fmt_score(r["best_score"]),
            str(r["candidates"]),
            f"{r['spent_usd']:.2f}",
            time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created_at"])),
            f"{r['duration_s']:.0f}s",
        )
    console.print(table)
