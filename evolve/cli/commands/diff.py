"""``evolve diff``: a unified diff between two programs, or a program and its parent."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from evolve.cli.options import DbOption
from evolve.code.diff import unified_diff
from evolve.errors import UserError
from evolve.store.reader import Reader


def command(
    a: Annotated[str, typer.Argument(help="Program id (or prefix).")],
    b: Annotated[
        str | None,
        typer.Argument(help="Second program (default: diff A against its parent)."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Unified diff between two programs (default: a program and its parent)."""
    reader = Reader.open(db)
    try:
        if b is None:
            second = reader.program(a)
            first = reader.parent(second)
            if first is None:
                raise UserError(
                    f"program {second.id[:12]} is the initial program (no parent): give a second id"
                )
        else:
            first, second = reader.program(a), reader.program(b)
    finally:
        reader.close()
    text = unified_diff(
        first.code,
        second.code,
        f"{first.id[:12]} (iteration {first.iteration})",
        f"{second.id[:12]} (iteration {second.iteration})",
    )
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
