"""``evolve ui``: serve the web UI over the read-only database (``evolve.ui.server``)."""

from __future__ import annotations

from typing import Annotated

import typer

from evolve.cli.options import DbOption


def command(
    db: DbOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")
    ] = 8765,
) -> None:
    """Serve the web UI (read-only, refreshing live while a run writes)."""
    from evolve.ui.server import serve  # the web server: loaded for `ui` only

    serve(db, host, port)
