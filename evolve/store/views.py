"""The records as every output shows them: the CLI's ``--json``, ``evolve export`` (JSON
Lines and CSV), the web UI's payloads and the notebook's DataFrames.

Each view is ``Candidate.to_dict`` (or ``LLMCall.to_dict``), so a field has one name
everywhere and a new field shows up everywhere; a view only adds its own derived keys on
top (a parent's score, ``metric.NAME`` columns, a lineage step's change) and never lists
the record's fields itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from evolve.core.objective import Objective
from evolve.core.records import Candidate, LLMCall

if TYPE_CHECKING:
    from evolve.store.reader import RunSummary

TABLE_LEFT_OUT = ("metrics", "artifacts")
"""Not table columns: the metrics become ``metric.NAME`` columns, the artifacts (long text)
stay in the JSON views."""


def jsonable(value: Any) -> Any:
    """Replace NaN and infinities (not JSON) with None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def candidate_json(p: Candidate, *, code: bool = True) -> dict[str, Any]:
    """The record as JSON (``evolve best --json``, a line of ``evolve export``); ``code``
    False leaves out the code and the diff."""
    return jsonable(p.to_dict(code=code))


def call_json(c: LLMCall) -> dict[str, Any]:
    return jsonable(c.to_dict())


def program_view(
    p: Candidate, parent: Candidate | None, calls: Iterable[LLMCall]
) -> dict[str, Any]:
    """One candidate in full (``evolve show --json``, the UI's program panel): the record,
    its parent's score and the LLM exchanges that made it."""
    view = candidate_json(p)
    view["parent_score"] = jsonable(parent.score) if parent is not None else None
    view["calls"] = [call_json(c) for c in calls]
    return view


def lineage_steps(chain: list[Candidate], objective: Objective) -> list[dict[str, Any]]:
    """A chain of ancestors, oldest first, as ``evolve lineage --format json`` gives it: each
    record without its code, with ``change`` (its score minus the last score before it on
    the chain) and ``improved`` (the change is for the better)."""
    steps = []
    previous: float | None = None
    for p in chain:
        score = p.score if p.ok else None
        change = score - previous if score is not None and previous is not None else None
        step = candidate_json(p, code=False)
        step["change"] = change
        step["improved"] = change is not None and objective.better(score, previous)
        steps.append(step)
        if score is not None:
            previous = score
    return steps


def table_row(p: Candidate, *, code: bool = False) -> dict[str, Any]:
    """The record as one table row (a DataFrame's): its fields but the metrics and
    artifacts, then one ``metric.NAME`` column per metric; ``code`` False leaves out the
    code and the diff."""
    row = p.to_dict(code=code)
    metrics = row["metrics"]
    for name in TABLE_LEFT_OUT:
        del row[name]
    row.update({f"metric.{k}": v for k, v in metrics.items()})
    return row


def csv_row(p: Candidate) -> dict[str, Any]:
    """``table_row`` with lists (cell, inspirations) as space-separated text."""
    row = table_row(p)
    for k, v in row.items():
        if isinstance(v, list):
            row[k] = " ".join(map(str, v))
    return row


def run_json(r: RunSummary) -> dict[str, Any]:
    """A run (``evolve runs --json``, the UI's run list, ``runs_df``): its record but the
    configuration and the model selector's state, with its aggregates, its duration so
    far, its direction and primary metric, and its iteration budget."""
    info = r.info
    out = {k: v for k, v in asdict(info).items() if k not in ("config", "selection")}
    out["status"] = info.status.value
    out.update(
        candidates=r.candidates,
        valid=r.valid,
        best_score=r.best_score,
        spent_usd=r.spent_usd,
        duration_s=info.updated_at - info.created_at,
        maximize=info.objective.maximize,
        metric=info.primary_metric,
        iterations=(info.config or {}).get("search", {}).get("iterations"),
    )
    return jsonable(out)
