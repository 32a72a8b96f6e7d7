"""The verbs of ``evolve``, one module each, every one registered the same way.

A verb's module defines ``command``: its typer signature (its docstring is its help) and
the work, or a call into the module that does it (``run`` calls ``evolve.cli.run_cmd``).
Modules import the engine, the sandbox or the models only inside ``command``, so that
``evolve --help`` or ``evolve runs`` does not load them.
"""

from __future__ import annotations

from importlib import import_module

import typer

VERBS = (
    "run",
    "eval",
    "runs",
    "best",
    "problems",
    "bench",
    "models",
    "show",
    "note",
    "lineage",
    "diff",
    "stats",
    "export",
    "ui",
    "convert",
)
"""Every verb, in the order ``evolve --help`` lists them."""


def register(app: typer.Typer) -> None:
    """Add every verb to the ``evolve`` app."""
    for verb in VERBS:
        app.command(verb)(import_module(f"{__name__}.{verb}").command)
