"""``evolve problems``: the problems bundled with evolve, with their objectives, best-known
values and suites."""

from __future__ import annotations

from typing import Annotated

import typer

from evolve.cli.options import JsonOption


def command(
    as_json: JsonOption = False,
    suite: Annotated[
        str | None, typer.Option("--suite", help="Only the problems of this suite.")
    ] = None,
) -> None:
    """List the bundled problems: objective, best known and suites."""
    from rich.table import Column, Table

    from evolve.benchmark.catalogue import catalogue, suites
    from evolve.benchmark.report import fmt
    from evolve.cli.output import console, print_json
    from evolve.errors import UserError

    entries = catalogue()
    if suite is not None:
        named = suites(entries)
        if suite not in named:
            raise UserError(f"--suite {suite}: no such suite (there are: {', '.join(named)})")
        entries = named[suite]
    found = [
        {
            "name": e.name,
            "objective": f"{e.objective.direction} {e.metric}",
            "best_known": e.best_known,
            "source": e.source,
            "suites": list(e.suites),
            "description": e.description,
            "path": str(e.path.parent),
        }
        for e in entries
    ]
    if as_json:
        print_json(found)
        return
    table = Table("objective", "best known", "suites", "description")
    table.columns.insert(0, Column("name", no_wrap=True))
    for p in found:
        table.add_row(
            p["name"],
            p["objective"],
            fmt(p["best_known"], 10),
            ", ".join(p["suites"]) or "-",
            p["description"],
        )
    console.print(table)
