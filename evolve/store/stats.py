"""Aggregates of one run, computed in the database: per model and per island (proposals,
valid rate, improvements over the parent, cost, latency), the MAP-Elites cells and their
coverage, the best score over time, and the model selector's state.

Used by ``evolve stats``, the web UI and the notebook API. Each is a grouped query (or one
scan of small indexed columns), never a load of the programs' code.
"""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import aliased

from evolve.core.status import CandidateStatus
from evolve.store.models import LLMCallRow, ProgramRow
from evolve.store.ranking import beats, best_of
from evolve.store.reader import Reader
from evolve.store.rows import RunInfo

OK = CandidateStatus.OK.value


def _improvements(reader: Reader, info: RunInfo, group: Any) -> dict[Any, int]:
    """Children that beat their parent, counted per ``group`` column."""
    parent = aliased(ProgramRow)
    better = beats(info.objective, ProgramRow.score, parent.score)
    stmt = (
        select(group, func.count())
        .join(parent, parent.id == ProgramRow.parent_id)
        .where(ProgramRow.run_id == info.id, ProgramRow.status == OK, parent.status == OK)
        .where(ProgramRow.score.is_not(None), parent.score.is_not(None), better)
        .group_by(group)
    )
    with reader.connect() as s:
        return {key: n for key, n in s.execute(stmt)}


def _candidates(reader: Reader, info: RunInfo, group: Any) -> list[dict[str, Any]]:
    """Children (iteration > 0) per ``group``: counts, valid ones, best score, cost, mean LLM
    seconds. The filter on children is inside the aggregates so that the query reads the
    covering index of (run, status, ...) rather than the rows."""
    score = ProgramRow.score
    child = ProgramRow.iteration > 0
    stmt = (
        select(
            group.label("key"),
            func.sum(case((child, 1), else_=0)).label("candidates"),
            func.sum(case((and_(child, ProgramRow.status == OK), 1), else_=0)).label("valid"),
            best_of(info.objective, score).label("best_score"),
            func.sum(ProgramRow.cost).label("cost"),
            func.avg(case((child, ProgramRow.llm_seconds), else_=None)).label("mean_llm_seconds"),
        )
        .where(ProgramRow.run_id == info.id)
        .group_by(group)
        .order_by(group)
    )
    with reader.connect() as s:
        return [dict(r._mapping) for r in s.execute(stmt) if r.candidates]


def model_stats(reader: Reader, info: RunInfo) -> list[dict[str, Any]]:
    """Per model that answered: candidates, valid rate, improvements, best score; and from
    its calls (fallbacks and failed calls included): calls, failed calls, cost, latency."""
    rows = {r["key"]: r for r in _candidates(reader, info, ProgramRow.model)}
    improved = _improvements(reader, info, ProgramRow.model)
    stmt = (
        select(
            LLMCallRow.model,
            func.count(),
            func.sum(case((LLMCallRow.fault != "", 1), else_=0)),
            func.sum(LLMCallRow.cost),
            func.avg(LLMCallRow.latency),
        )
        .where(LLMCallRow.run_id == info.id)
        .group_by(LLMCallRow.model)
    )
    with reader.connect() as s:
        calls = {m: (n, failed, cost, latency) for m, n, failed, cost, latency in s.execute(stmt)}
    out = []
    for name in sorted((set(rows) | set(calls)) - {""}):  # "": the initial program
        r = rows.get(name, {})
        n, failed, cost, latency = calls.get(name, (0, 0, 0.0, None))
        candidates = int(r.get("candidates") or 0)
        valid = int(r.get("valid") or 0)
        out.append(
            {
                "model": name,
                "proposals": candidates,
                "valid": valid,
                "valid_rate": valid / candidates if candidates else None,
                "improvements": improved.get(name, 0),
                "best_score": r.get("best_score"),
                "calls": int(n or 0),
                "failed_calls": int(failed or 0),
                "cost": float(cost or 0.0),
                "mean_latency": float(latency) if latency is not None else None,
            }
        )
    return out


def island_stats(reader: Reader, info: RunInfo) -> list[dict[str, Any]]:
    """Per island: candidates, valid rate, improvements, best score, cost, LLM seconds."""
    improved = _improvements(reader, info, ProgramRow.island)
    covered = {c["island"]: c for c in coverage(reader, info)["islands"]}
    out = []
    for r in _candidates(reader, info, ProgramRow.island):
        candidates, valid = int(r["candidates"]), int(r["valid"] or 0)
        out.append(
            {
                "island": r["key"],
                "proposals": candidates,
                "valid": valid,
                "valid_rate": valid / candidates if candidates else None,
                "improvements": improved.get(r["key"], 0),
                "best_score": r["best_score"],
                "cost": float(r["cost"] or 0.0),
                "mean_llm_seconds": float(r["mean_llm_seconds"] or 0.0),
                "cells": covered.get(r["key"], {}).get("cells", 0),
                "coverage": covered.get(r["key"], {}).get("coverage"),
            }
        )
    return out


def features(info: RunInfo) -> list[dict[str, Any]]:
    """The run's MAP-Elites dimensions (name, bins), from its stored configuration."""
    return [
        {"name": f.get("name", f"dim{i}"), "bins": int(f.get("bins", 10))}
        for i, f in enumerate((info.config or {}).get("features") or [])
    ]


def cells(reader: Reader, info: RunInfo) -> list[dict[str, Any]]:
    """Every occupied MAP-Elites cell of every island: its best score and how many valid
    candidates landed there (one grouped query)."""
    score = ProgramRow.score
    stmt = (
        select(ProgramRow.island, ProgramRow.cell, best_of(info.objective, score), func.count())
        .where(ProgramRow.run_id == info.id, ProgramRow.status == OK)
        .where(ProgramRow.cell.is_not(None), score.is_not(None))
        .group_by(ProgramRow.island, ProgramRow.cell)
    )
    out = []
    with reader.connect() as s:
        for island, cell, value, n in s.execute(stmt):
            index = json.loads(cell) if isinstance(cell, str) else cell
            if index is None:
                continue
            out.append({"island": island, "cell": list(index), "best_score": value, "count": n})
    return out


def coverage(
    reader: Reader, info: RunInfo, occupied: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Occupied cells per island and in all, as counts and as shares of the grid
    (``occupied``: the run's ``cells``, when already at hand)."""
    total = math.prod(f["bins"] for f in features(info)) if features(info) else 1
    per: dict[int, set[tuple[int, ...]]] = {}
    for c in occupied if occupied is not None else cells(reader, info):
        per.setdefault(c["island"], set()).add(tuple(c["cell"]))
    union = set().union(*per.values()) if per else set()
    return {
        "grid_cells": total,
        "features": features(info),
        "cells": len(union),
        "coverage": len(union) / total,
        "islands": [
            {"island": i, "cells": len(found), "coverage": len(found) / total}
            for i, found in sorted(per.items())
        ],
    }


def best_over_time(reader: Reader, info: RunInfo) -> dict[str, Any]:
    """The steps at which the best score improved, over the whole run and per island:
    ``[iteration, score, program id]`` triples (one scan of indexed columns)."""
    objective = info.objective
    stmt = (
        select(ProgramRow.iteration, ProgramRow.island, ProgramRow.score)
        .where(ProgramRow.run_id == info.id, ProgramRow.status == OK)
        .where(ProgramRow.score.is_not(None))
        .order_by(ProgramRow.iteration)
    )
    overall: list[list[Any]] = []
    islands: dict[int, list[list[Any]]] = {}
    best: float | None = None
    island_best: dict[int, float] = {}
    with reader.connect() as s:
        for iteration, island, score in s.execute(stmt):
            if best is None or objective.better(score, best):
                best = score
                overall.append([iteration, score])
            mine = island_best.get(island)
            if mine is None or objective.better(score, mine):
                island_best[island] = score
                islands.setdefault(island, []).append([iteration, score])
        steps = {i for i, _ in overall} | {i for v in islands.values() for i, _ in v}
        ids = dict(
            s.execute(
                select(ProgramRow.iteration, ProgramRow.id).where(
                    ProgramRow.run_id == info.id, ProgramRow.iteration.in_(steps)
                )
            ).all()
        )
        last = s.scalar(select(func.max(ProgramRow.iteration)).where(ProgramRow.run_id == info.id))
    return {
        "overall": [[i, v, ids.get(i)] for i, v in overall],
        "islands": {str(k): [[i, v, ids.get(i)] for i, v in islands[k]] for k in sorted(islands)},
        "last_iteration": last or 0,
    }


def bandit(info: RunInfo) -> list[dict[str, Any]]:
    """The model selector's arms as stored after the last candidate, named by model."""
    state = info.selection
    if not state:
        return []
    names = [m.get("name", "") for m in (info.config or {}).get("llm", {}).get("models") or []]
    out = []
    for i, arm in enumerate(state.get("arms") or []):
        pulls = float(arm.get("pulls") or 0.0)
        out.append(
            {
                "model": names[i] if i < len(names) else f"arm {i}",
                "mode": state.get("mode", ""),
                "pulls": pulls,
                "reward": float(arm.get("reward") or 0.0),
                "mean_reward": float(arm.get("reward") or 0.0) / pulls if pulls else None,
                "calls": int(arm.get("calls") or 0),
                "cost": float(arm.get("cost") or 0.0),
            }
        )
    return out


def run_stats(reader: Reader, info: RunInfo) -> dict[str, Any]:
    """Everything above for one run (``evolve stats``, ``LineageDB.stats``)."""
    return {
        "models": model_stats(reader, info),
        "islands": island_stats(reader, info),
        "coverage": coverage(reader, info),
        "bandit": bandit(info),
    }
