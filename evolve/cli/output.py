"""Shared output helpers of the CLI: JSON, program summaries, the console."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console

from evolve.core.records import Candidate

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
if not console.is_terminal and "COLUMNS" not in os.environ:
    # Piped or redirected: rich would assume 80 columns and cut table cells short.
    console.size = (160, 50)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, allow_nan=False) + "\n")


def jsonable(value: Any) -> Any:
    """Replace NaN and infinities (not JSON) with None, recursively."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def program_dict(p: Candidate, with_code: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": p.id,
        "run_id": p.run_id,
        "iteration": p.iteration,
        "island": p.island,
        "generation": p.generation,
        "status": p.status.value,
        "score": p.score,
        "metrics": p.metrics,
        "reason": p.reason,
        "stage": p.stage,
        "parent_id": p.parent_id,
        "inspiration_ids": list(p.inspiration_ids),
        "cell": list(p.cell) if p.cell else None,
        "model": p.model,
        "mutation": p.mutation,
        "tokens_in": p.tokens_in,
        "tokens_out": p.tokens_out,
        "timings": {
            "llm": p.llm_seconds,
            "evaluation": p.eval_seconds,
            "engine": p.engine_seconds,
            "waiting": p.wait_seconds,
        },
        "duplicate_of": p.duplicate_of,
    }
    if with_code:
        data["code"] = p.code
    return jsonable(data)


def fmt_score(score: float | None) -> str:
    return "-" if score is None else f"{score:.10g}"
