"""Arguments and options that several verbs of ``evolve`` share, defined once."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database path or SQLAlchemy URL (default: $EVOLVE_DB or ./evolve.db)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ProgramArg = Annotated[str, typer.Argument(help="Program id or a unique prefix of one.")]
RunArg = Annotated[
    str | None, typer.Argument(help="Run id or unique prefix (default: the latest run).")
]
ProblemArg = Annotated[
    str, typer.Argument(help="problem.toml, its folder, or a bundled problem name.")
]


SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Any problem.toml key, repeatable: --set llm.failures=0 --set "
        "search.parent_selection=best (the value read as TOML, else as text).",
    ),
]


class SandboxBackend(StrEnum):
    process = "process"
    docker = "docker"


SandboxOption = Annotated[
    SandboxBackend | None,
    typer.Option(
        "--sandbox", help="Where evaluations run: process or docker (default: the problem's)."
    ),
]
