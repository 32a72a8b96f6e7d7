"""Indexes for inspection: covering indexes over the small columns of ``programs`` and
``llm_calls``, so that the UI's first view, ``evolve runs`` and ``evolve stats`` read
index pages only, never the rows with the programs' code, prompts and answers.

Created by the Store when it opens a database (``CREATE INDEX IF NOT EXISTS``, so older
databases get them too); readers that cannot write still work without them, only slower.
"""

from __future__ import annotations

from sqlalchemy import Engine, text

INDEXES = {
    "ix_programs_run_status_iteration": (
        "programs",
        (
            "run_id",
            "status",
            "iteration",
            "island",
            "score",
            "id",
            "parent_id",
            "cell",
            "model",
            "cost",
            "llm_seconds",
        ),
    ),
    "ix_programs_run_status_score": (
        "programs",
        ("run_id", "status", "score", "iteration", "id"),
    ),
    "ix_programs_id_status_score": ("programs", ("id", "status", "score")),
    "ix_llm_calls_run_model": (
        "llm_calls",
        ("run_id", "model", "fault", "cost", "latency", "program_id"),
    ),
}
"""Index name -> (table, columns)."""


def ensure_indexes(engine: Engine) -> None:
    """Create the inspection indexes that the database lacks."""
    with engine.begin() as conn:
        for name, (table, columns) in INDEXES.items():
            cols = ", ".join(f'"{c}"' for c in columns)
            conn.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({cols})"))
