"""``evolve best``: the best program(s) of a run, as code (or JSON), optionally to a file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from evolve.cli.options import DbOption, JsonOption, RunArg
from evolve.cli.output import fmt_score, print_json
from evolve.errors import UserError
from evolve.store.reader import Reader
from evolve.store.views import candidate_json


def command(
    run: RunArg = None,
    db: DbOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the best program to this file.")
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Show the K best programs.")] = 1,
    as_json: JsonOption = False,
) -> None:
    """Print the best program of a run."""
    reader = Reader.open(db)
    try:
        info = reader.run(run)
        programs = reader.best(info, top)
    finally:
        reader.close()
    if not programs:
        raise UserError(f"run {info.id} has no successfully evaluated program")
    if out is not None:
        try:
            out.write_text(programs[0].code, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"--out {out}: cannot write: {exc}") from None
    if as_json:
        found = [candidate_json(p) for p in programs]
        print_json(found if top > 1 else found[0])
        return
    for rank, p in enumerate(programs, start=1):
        header = f"# run {info.id} ({info.problem}), rank {rank}: "
        header += f"{info.primary_metric} = {fmt_score(p.score)}, "
        header += f"program {p.id[:12]}, iteration {p.iteration}, island {p.island}"
        print(header)
        sys.stdout.write(p.code if p.code.endswith("\n") else p.code + "\n")
    if out is not None:
        print(f"# written to {out}", file=sys.stderr)
