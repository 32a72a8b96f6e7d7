"""``evolve eval``, ``runs``, ``best`` and ``problems``."""

from __future__ import annotations

import asyncio
import sys
import time
import tomllib
from pathlib import Path

from rich.table import Table

from evolve.cli.output import console, err_console, fmt_score, jsonable, print_json, program_dict
from evolve.core.status import Verdict
from evolve.errors import UserError
from evolve.evaluation.executor import Evaluation, build_executor
from evolve.problem import load_problem
from evolve.resources import bundled_problems
from evolve.store.store import RunInfo, Store, resolve_db_url


def eval_command(
    problem: str, program: Path, as_json: bool, timeout: float | None, sandbox: str | None = None
) -> None:
    overrides: dict[str, object] = {}
    if timeout is not None:
        overrides["sandbox.timeout"] = timeout
    if sandbox is not None:
        overrides["sandbox.backend"] = sandbox
    prob = load_problem(problem, overrides or None)
    if not program.is_file():
        raise UserError(f"{program}: no such program file")
    try:
        code = program.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{program}: cannot read: {exc}") from None
    executor = build_executor(prob)
    if executor.backend.lost:
        err_console.print(f"warning: weaker sandbox: {executor.backend.lost}")

    async def once() -> Evaluation:
        try:
            return await executor.evaluate(code)
        finally:
            await executor.close()

    result = asyncio.run(once())
    if result.status is Verdict.EVALUATOR_ERROR:
        raise UserError(
            f"{prob.evaluator.path or prob.config.evaluator.plugin}: the evaluator failed: {result.reason}"
        )
    kept = (Verdict.OK, Verdict.TIMEOUT, Verdict.FILTERED)
    status = result.status.value if result.status in kept else "error"
    if as_json:
        print_json(
            jsonable(
                {
                    "status": status,
                    "score": result.score,
                    "metrics": result.metrics,
                    "artifacts": result.artifacts,
                    "reason": result.reason,
                    "seconds": result.seconds,
                    "stage": result.stage,
                    "sandbox": executor.backend.name,
                    "primary_metric": prob.config.evaluator.primary_metric,
                }
            )
        )
        return
    console.print(
        f"status: {status}" + (f" ({result.reason})" if result.reason else ""), markup=False
    )
    console.print(f"score ({prob.config.evaluator.primary_metric}): {fmt_score(result.score)}")
    for name, value in sorted(result.metrics.items()):
        console.print(f"  {name} = {value!r}", markup=False)
    for name, text in sorted(result.artifacts.items()):
        console.print(f"--- {name} ---\n{text.rstrip()}", markup=False)
    console.print(f"evaluated in {result.seconds:.2f}s")


def _maximize(info: RunInfo) -> bool:
    return info.config.get("evaluator", {}).get("direction", "maximize") == "maximize"


def runs_command(db: str | None, as_json: bool) -> None:
    store = Store(resolve_db_url(db), must_exist=True)
    rows = []
    for info in store.runs():
        best = store.best(info.id, _maximize(info))
        rows.append(
            {
                "id": info.id,
                "problem": info.problem,
                "status": info.status,
                "message": info.message,
                "best_score": best[0].score if best else None,
                "candidates": max(0, store.count_programs(info.id) - 1),
                "seed": info.seed,
                "spent_usd": store.spent(info.id),
                "origin": info.origin,
                "started": info.created_at,
                "duration_s": info.updated_at - info.created_at,
            }
        )
    if as_json:
        print_json(jsonable(rows))
        return
    if not rows:
        console.print("no runs yet: start one with `evolve run PROBLEM`")
        return
    table = Table("id", "problem", "status", "best", "candidates", "USD", "started", "duration")
    for r in rows:
        table.add_row(
            r["id"] + (f" ({r['origin'].split(':')[0]})" if r["origin"] else ""),
            r["problem"],
            r["status"],
            fmt_score(r["best_score"]),
            str(r["candidates"]),
            f"{r['spent_usd']:.2f}",
            time.strftime("%Y-%m-%d %H:%M", time.localtime(r["started"])),
            f"{r['duration_s']:.0f}s",
        )
    console.print(table)


def best_command(
    run: str | None, db: str | None, out: Path | None, top: int, as_json: bool
) -> None:
    store = Store(resolve_db_url(db), must_exist=True)
    if run is None:
        runs = store.runs()
        if not runs:
            raise UserError(f"no runs in {store.url}: start one with `evolve run PROBLEM`")
        info = runs[-1]
    else:
        info = store.run(run)
    programs = store.best(info.id, _maximize(info), top)
    if not programs:
        raise UserError(f"run {info.id} has no successfully evaluated program")
    if out is not None:
        try:
            out.write_text(programs[0].code, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"--out {out}: cannot write: {exc}") from None
    if as_json:
        print_json([program_dict(p) for p in programs] if top > 1 else program_dict(programs[0]))
        return
    metric = info.config.get("evaluator", {}).get("primary_metric", "score")
    for rank, p in enumerate(programs, start=1):
        header = f"# run {info.id} ({info.problem}), rank {rank}: {metric} = {fmt_score(p.score)}, "
        header += f"program {p.id[:12]}, iteration {p.iteration}, island {p.island}"
        print(header)
        sys.stdout.write(p.code if p.code.endswith("\n") else p.code + "\n")
    if out is not None:
        print(f"# written to {out}", file=sys.stderr)


def problems_command(as_json: bool) -> None:
    found = []
    for name, folder in bundled_problems().items():
        try:
            raw = tomllib.loads((folder / "problem.toml").read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            raw = {}
        found.append({"name": name, "description": raw.get("description", ""), "path": str(folder)})
    if as_json:
        print_json(found)
        return
    table = Table("name", "description")
    for p in found:
        table.add_row(p["name"], p["description"])
    console.print(table)
