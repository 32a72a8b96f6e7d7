"""What the web UI shows, as JSON-ready dictionaries built from a read-only ``Reader``:
the run list, a run's view (summary, best score over time, lineage tree with its layout,
MAP-Elites grids, model statistics, latest candidates) and one program's details.

A run's view reads aggregates and small indexed columns only; a big run's tree is the
ancestry of its best and latest programs rather than every one of its programs.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select

from evolve.cli.output import jsonable
from evolve.code.diff import unified_diff
from evolve.store.models import ProgramRow
from evolve.store.reader import LINEAGE_COLUMNS, Reader, RunSummary, maximizes, primary_metric
from evolve.store.stats import bandit, best_over_time, cells, coverage, features, model_stats
from evolve.store.store import RunInfo

WHOLE_TREE = 1500
"""Runs with at most this many programs show their whole lineage tree."""
TREE_ROOTS = 40
"""Bigger runs show the ancestry of this many best programs, and as many latest ones."""


def run_dict(r: RunSummary) -> dict[str, Any]:
    info = r.info
    return {
        "id": info.id,
        "problem": info.problem,
        "status": info.status,
        "message": info.message,
        "origin": info.origin,
        "seed": info.seed,
        "best_score": r.best_score,
        "candidates": r.candidates,
        "valid": r.valid,
        "spent_usd": r.spent_usd,
        "started": info.created_at,
        "duration_s": info.updated_at - info.created_at,
        "maximize": maximizes(info),
        "metric": primary_metric(info),
        "iterations": (info.config or {}).get("search", {}).get("iterations"),
    }


def runs_payload(reader: Reader) -> list[dict[str, Any]]:
    return jsonable([run_dict(r) for r in reader.runs()])


def view_payload(reader: Reader, run_prefix: str) -> dict[str, Any]:
    """Everything the first view of a run needs, in one answer."""
    info = reader.run(run_prefix)
    parts = {
        "run": lambda: run_dict(reader.summary(info)),
        "progress": lambda: best_over_time(reader, info),
        "tree": lambda: tree_payload(reader, info),
        "grids": lambda: grids_payload(reader, info),
        "models": lambda: model_stats(reader, info),
        "bandit": lambda: bandit(reader, info),
        "recent": lambda: recent(reader, info),
    }
    # Independent queries, each on its own connection: SQLite runs them in parallel.
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(fn) for name, fn in parts.items()}
        return jsonable({name: f.result() for name, f in futures.items()})


def recent(reader: Reader, info: RunInfo, n: int = 12) -> list[dict[str, Any]]:
    """The run's latest candidates, newest first."""
    stmt = (
        select(*LINEAGE_COLUMNS)
        .where(ProgramRow.run_id == info.id)
        .order_by(ProgramRow.iteration.desc())
        .limit(n)
    )
    with reader.session() as s:
        return [dict(r._mapping) for r in s.execute(stmt)]


def _tree_rows(reader: Reader, info: RunInfo) -> tuple[list[dict[str, Any]], int]:
    with reader.session() as s:
        total = s.scalar(select(func.count()).where(ProgramRow.run_id == info.id)) or 0
        if total <= WHOLE_TREE:
            stmt = select(*LINEAGE_COLUMNS).where(ProgramRow.run_id == info.id)
            return [dict(r._mapping) for r in s.execute(stmt)], total
        best = [p.id for p in reader.best(info.id, TREE_ROOTS)]
        latest = [r["id"] for r in recent(reader, info, TREE_ROOTS)]
        # Their ancestors, in one recursive query along the parent ids.
        step = select(ProgramRow.id, ProgramRow.parent_id)
        ancestry = step.where(ProgramRow.id.in_(set(best + latest))).cte("ancestry", recursive=True)
        ancestry = ancestry.union(step.join(ancestry, ProgramRow.id == ancestry.c.parent_id))
        stmt = select(*LINEAGE_COLUMNS).where(ProgramRow.id.in_(select(ancestry.c.id)))
        return [dict(r._mapping) for r in s.execute(stmt)], total


def tree_payload(reader: Reader, info: RunInfo) -> dict[str, Any]:
    """The lineage tree: nodes with a tidy layout (x: leaf order, y: depth), the best
    program's path, and whether it is the whole tree or the ancestry of the best and
    latest programs."""
    rows, total = _tree_rows(reader, info)
    by_id = {r["id"]: r for r in rows}
    children: dict[str, list[str]] = {}
    roots = []
    for r in sorted(rows, key=lambda r: r["iteration"]):
        if r["parent_id"] in by_id:
            children.setdefault(r["parent_id"], []).append(r["id"])
        else:
            roots.append(r["id"])
    x: dict[str, float] = {}
    depth: dict[str, int] = {}
    leaf = 0
    for root in roots:  # iterative post-order: deep ancestries need no recursion
        stack: list[tuple[str, int, bool]] = [(root, 0, False)]
        while stack:
            node, d, done = stack.pop()
            kids = children.get(node, [])
            if done:
                x[node] = (x[kids[0]] + x[kids[-1]]) / 2 if kids else float(leaf)
                leaf += 0 if kids else 1
                continue
            depth[node] = d
            stack.append((node, d, True))
            stack.extend((k, d + 1, False) for k in reversed(kids))
    best = reader.best(info.id, 1)
    path = []
    node_id = best[0].id if best else None
    while node_id in by_id:
        path.append(node_id)
        node_id = by_id[node_id]["parent_id"]
    nodes = [
        {**r, "x": x[r["id"]], "y": depth[r["id"]], "children": len(children.get(r["id"], []))}
        for r in sorted(rows, key=lambda r: r["iteration"])
    ]
    return {
        "nodes": nodes,
        "best_path": path[::-1],
        "total": total,
        "whole": len(rows) == total,
    }


def grids_payload(reader: Reader, info: RunInfo) -> dict[str, Any]:
    """Per island, the MAP-Elites grid over the first two feature dimensions as a matrix of
    best scores (None: empty), other dimensions folded in (best over them)."""
    dims = features(info)
    if not dims:
        return {"features": [], "islands": [], "coverage": coverage(reader, info)}
    cols = dims[0]["bins"]
    nrows = dims[1]["bins"] if len(dims) > 1 else 1
    maximize = maximizes(info)
    grids: dict[int, list[list[float | None]]] = {}
    counts: dict[int, list[list[int]]] = {}
    occupied = cells(reader, info)
    for c in occupied:
        index = c["cell"]
        if not index:
            continue
        col = min(max(int(index[0]), 0), cols - 1)
        row = min(max(int(index[1]), 0), nrows - 1) if len(index) > 1 and nrows > 1 else 0
        z = grids.setdefault(c["island"], [[None] * cols for _ in range(nrows)])
        n = counts.setdefault(c["island"], [[0] * cols for _ in range(nrows)])
        old, new = z[row][col], c["best_score"]
        finite = new is not None and math.isfinite(new)
        if finite and (old is None or (new > old if maximize else new < old)):
            z[row][col] = new
        n[row][col] += c["count"]
    return {
        "features": dims[:2],
        "islands": [{"island": i, "z": grids[i], "counts": counts[i]} for i in sorted(grids)],
        "coverage": coverage(reader, info, occupied),
    }


def program_payload(reader: Reader, prefix: str) -> dict[str, Any]:
    """One program: code, its diff against the parent, outcome, metrics, artifacts and the
    LLM exchanges that made it."""
    p = reader.program(prefix)
    parent = reader.parent(p)
    diff = unified_diff(parent.code, p.code) if parent is not None else ""
    return jsonable(
        {
            "id": p.id,
            "run_id": p.run_id,
            "iteration": p.iteration,
            "island": p.island,
            "generation": p.generation,
            "status": p.status.value,
            "reason": p.reason,
            "stage": p.stage,
            "score": p.score,
            "metrics": p.metrics,
            "artifacts": p.artifacts,
            "cell": list(p.cell) if p.cell else None,
            "parent_id": p.parent_id,
            "parent_score": parent.score if parent is not None else None,
            "inspiration_ids": list(p.inspiration_ids),
            "model": p.model,
            "selected_model": p.selected_model,
            "mutation": p.mutation,
            "tokens_in": p.tokens_in,
            "tokens_out": p.tokens_out,
            "cost_usd": p.cost,
            "timings": {
                "llm": p.llm_seconds,
                "evaluation": p.eval_seconds,
                "engine": p.engine_seconds,
                "waiting": p.wait_seconds,
            },
            "code": p.code,
            "diff": diff,
            "calls": [
                {
                    "index": c.call_index,
                    "model": c.model,
                    "prompt": c.prompt,
                    "response": c.response,
                    "fault": c.fault,
                    "error": c.error,
                    "outcome": c.outcome,
                    "latency_s": c.latency,
                    "tokens_in": c.tokens_in,
                    "tokens_out": c.tokens_out,
                    "cost_usd": c.cost,
                }
                for c in reader.calls(p.id)
            ],
        }
    )
