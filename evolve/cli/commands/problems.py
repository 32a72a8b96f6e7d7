"""``evolve problems``: the problems bundled with evolve."""

from __future__ import annotations

import tomllib

from rich.table import Table

from evolve.cli.options import JsonOption
from evolve.cli.output import console, print_json
from evolve.resources import bundled_problems


def command(as_json: JsonOption = False) -> None:
    """List the bundled problems."""
    found = []
    for name, folder in bundled_problems().items():
        try:
            raw = tomllib.loads((folder / "problem.toml").read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            raw = {}
        found.append({"name": name, "description": raw.get("description", ""), "path": str(folder)})
    if as_json:
        print_json(found)
        return
    table = Table("name", "description")
    for p in found:
        table.add_row(p["name"], p["description"])
    console.print(table)
