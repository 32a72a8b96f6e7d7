"""``evolve convert``: an OpenEvolve or ShinkaEvolve problem folder as an evolve problem."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evolve.cli.options import JsonOption
from evolve.cli.output import console, print_json


def command(
    peer: Annotated[
        str, typer.Argument(help="The engine the folder is for: openevolve or shinka.")
    ],
    folder: Annotated[Path, typer.Argument(help="The peer's problem folder.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Where the evolve problem goes (default: FOLDER-evolve beside it)."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="The peer's config file, where the folder has several."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Turn an OpenEvolve or ShinkaEvolve problem folder into an evolve problem folder."""
    from evolve.convert import convert

    done = convert(peer, folder, out, config)
    if as_json:
        print_json(
            {
                "peer": done.peer,
                "source": str(done.source),
                "out": str(done.out),
                "carried": done.carried,
                "not_carried": done.not_carried,
            }
        )
        return
    say = console.print
    say(f"converted the {done.peer} problem {done.source}", markup=False)
    say(f"into {done.out}", markup=False)
    say("carried over:")
    for line in done.carried:
        say(f"  {line}", markup=False)
    say(f"not carried over ({len(done.not_carried)}):")
    for line in done.not_carried:
        say(f"  {line}", markup=False)
    say(f"next: evolve eval {done.out} {done.out / done.program}", markup=False)
    say(f"      evolve run {done.out}", markup=False)
