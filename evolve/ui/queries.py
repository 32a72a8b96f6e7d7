"""What the web UI shows, as JSON-ready dictionaries built from a read-only ``Reader``:
the run list, a run's view (summary, best score over time, lineage tree with its layout,
MAP-Elites grids, model statistics, latest candidates) and one program's details.

A run's view reads aggregates and small indexed columns only; a big run's tree is the
ancestry of its best and latest programs rather than every one of its programs.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select

from evolve.store.models import ProgramRow
from evolve.store.reader import Reader
from evolve.store.rows import SUMMARY_COLUMNS, RunInfo
from evolve.store.stats import bandit, best_over_time, cells, coverage, features, model_stats
from evolve.store.views import jsonable, program_view, run_json

WHOLE_TREE = 1500
"""Runs with at most this many programs show their whole lineage tree."""
TREE_ROOTS = 40
"""Bigger runs show the ancestry of this many best programs, and as many latest ones."""


def runs_payload(reader: Reader) -> list[dict[str, Any]]:
    return [run_json(r) for r in reader.runs()]


def view_payload(reader: Reader, run_prefix: str) -> dict[str, Any]:
    """Everything the first view of a run needs, in one answer."""
    info = reader.run(run_prefix)
    parts = {
        "run": lambda: run_json(reader.summary(info)),
        "progress": lambda: best_over_time(reader, info),
        "tree": lambda: tree_payload(reader, info),
        "grids": lambda: grids_payload(reader, info),
        "models": lambda: model_stats(reader, info),
        "bandit": lambda: bandit(info),
        "recent": lambda: recent(reader, info),
        "notes": lambda: [n.to_dict() for n in reader.notes(info.id)],
    }
    # Independent queries, each on its own connection: SQLite runs them in parallel.
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(fn) for name, fn in parts.items()}
        return jsonable({name: f.result() for name, f in futures.items()})


def _summaries(reader: Reader, where: Any, order: Any = None, limit: int | None = None) -> Any:
    """The small columns of the candidates ``where`` picks, under the record's names."""
    stmt = select(*SUMMARY_COLUMNS).where(where).order_by(order).limit(limit)
    with reader.connect() as c:
        return [dict(r._mapping) for r in c.execute(stmt)]


def recent(reader: Reader, info: RunInfo, n: int = 12) -> list[dict[str, Any]]:
    """The run's latest candidates, newest first."""
    return _summaries(reader, ProgramRow.run_id == info.id, ProgramRow.iteration.desc(), n)


def _tree_rows(reader: Reader, info: RunInfo) -> tuple[list[dict[str, Any]], int]:
    with reader.connect() as c:
        total = c.scalar(select(func.count()).where(ProgramRow.run_id == info.id)) or 0
    if total <= WHOLE_TREE:
        return _summaries(reader, ProgramRow.run_id == info.id), total
    best = [p.id for p in reader.best(info, TREE_ROOTS)]
    latest = [r["id"] for r in recent(reader, info, TREE_ROOTS)]
    # Their ancestors, in one recursive query along the parent ids.
    step = select(ProgramRow.id, ProgramRow.parent_id)
    ancestry = step.where(ProgramRow.id.in_(set(best + latest))).cte("ancestry", recursive=True)
    ancestry = ancestry.union(step.join(ancestry, ProgramRow.id == ancestry.c.parent_id))
    return _summaries(reader, ProgramRow.id.in_(select(ancestry.c.id))), total


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
    best = reader.best(info, 1)
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
    objective = info.objective
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
        if objective.better(c["best_score"], z[row][col]):
            z[row][col] = c["best_score"]
        n[row][col] += c["count"]
    return {
        "features": dims[:2],
        "islands": [{"island": i, "z": grids[i], "counts": counts[i]} for i in sorted(grids)],
        "coverage": coverage(reader, info, occupied),
    }


def program_payload(reader: Reader, prefix: str) -> dict[str, Any]:
    """One program: its record (code, diff against the parent, outcome, metrics,
    artifacts), its parent's score and the LLM exchanges that made it."""
    p = reader.program(prefix)
    return program_view(p, reader.parent(p), reader.calls(p.id))
