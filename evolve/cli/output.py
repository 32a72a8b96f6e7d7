"""Shared output helpers of the CLI: the consoles, JSON, scores."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console

from evolve.store.views import candidate_json, jsonable

__all__ = ["console", "err_console", "fmt_score", "jsonable", "print_json", "program_dict"]

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
if not console.is_terminal and "COLUMNS" not in os.environ:
    # Piped or redirected: rich would assume 80 columns and cut table cells short.
    console.size = (160, 50)

program_dict = candidate_json
"""The name ``evolve run`` (``run_cmd.py``) knows the candidate's JSON by."""


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, allow_nan=False) + "\n")


def fmt_score(score: float | None) -> str:
    return "-" if score is None else f"{score:.10g}"
