"""``evolve note``: add a note to a run, or list its notes. A running run picks a new note
up within a second and shows it to the prompts drawn from then on (``[notes]``); a run that
is not running shows it once resumed."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from evolve.cli.options import DbOption, JsonOption, RunArg
from evolve.cli.output import console, print_json
from evolve.core.records import Note
from evolve.errors import UserError
from evolve.store.store import Store, resolve_db_url

MAX_CHARS = 4000


def command(
    run: RunArg = None,
    text: Annotated[
        str | None, typer.Argument(help="The note (omit it to list the run's notes).")
    ] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a note to a run (shown to its later prompts), or list the run's notes."""
    store = Store(resolve_db_url(db), must_exist=True)
    try:
        info = store.run(run)  # type: ignore[arg-type]  (None: the latest run)
        if text is not None:
            text = text.strip()
            if not text:
                raise UserError('the note is empty: write evolve note RUN "what to try next"')
            if len(text) > MAX_CHARS:
                raise UserError(f"the note has {len(text)} characters; keep it under {MAX_CHARS}")
            note = store.add_note(Note(info.id, text, "user", None, time.time()))
            if as_json:
                print_json(note.to_dict())
            else:
                console.print(
                    f"note {note.id} added to run {info.id} ({info.status.value}): "
                    "later prompts show it"
                )
            return
        notes = store.notes(info.id)
    finally:
        store.close()
    if as_json:
        print_json([n.to_dict() for n in notes])
        return
    if not notes:
        console.print(f"run {info.id} has no notes")
        return
    for n in notes:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(n.created_at))
        where = f"after #{n.after}" if n.after is not None else "not yet picked up"
        console.print(f"[bold]{n.author}[/bold] {when}, {where}:\n{n.text}\n")
