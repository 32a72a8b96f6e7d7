"""``evolve show``, ``lineage``, ``diff``, ``stats``, ``export`` and ``ui``: inspecting a
run's lineage from the read-only database (``evolve.store.reader``).

Program and run ids may be abbreviated to a unique prefix. Every command takes ``--db``;
those that print data take ``--json`` (``lineage`` has ``--format json``, ``export`` writes
JSON Lines or CSV).
"""

from __future__ import annotations

import csv
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.table import Table

from evolve.cli.output import console, fmt_score, jsonable, print_json, program_dict
from evolve.code.diff import unified_diff
from evolve.core.records import Candidate
from evolve.errors import UserError
from evolve.store import stats
from evolve.store.reader import Reader, maximizes, primary_metric

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database path or SQLAlchemy URL (default: $EVOLVE_DB or ./evolve.db)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ProgramArg = Annotated[str, typer.Argument(help="Program id or a unique prefix of one.")]
RunArg = Annotated[
    str | None, typer.Argument(help="Run id or unique prefix (default: the latest run).")
]


class LineageFormat(StrEnum):
    tree = "tree"
    json = "json"
    dot = "dot"


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


def show_command(program_id: str, db: str | None, as_json: bool) -> None:
    """Everything about one program."""
    reader = Reader.open(db)
    p = reader.program(program_id)
    info = reader.run(p.run_id)
    parent = reader.parent(p)
    calls = reader.calls(p.id)
    if as_json:
        data = program_dict(p)
        data.update(
            jsonable(
                {
                    "artifacts": p.artifacts,
                    "parent_score": parent.score if parent else None,
                    "cost_usd": p.cost,
                    "selected_model": p.selected_model,
                    "diff": unified_diff(parent.code, p.code) if parent else "",
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
                        for c in calls
                    ],
                }
            )
        )
        print_json(data)
        return
    metric = primary_metric(info)
    out = console
    out.rule(f"program {p.id} (run {p.run_id}, iteration {p.iteration})")
    status = p.status.value + (f": {p.reason}" if p.reason else "")
    rows = [
        ("status", status),
        (metric, fmt_score(p.score)),
        (
            "parent",
            f"{parent.id} (iteration {parent.iteration}, {metric} {fmt_score(parent.score)})"
            if parent
            else "none (the initial program)",
        ),
        ("island / generation", f"{p.island} / {p.generation}"),
        ("evaluation stage reached", str(p.stage) if p.stage else "- (not evaluated)"),
        ("MAP-Elites cell", ", ".join(map(str, p.cell)) if p.cell else "-"),
        ("model", (p.model or "-") + (f" ({p.mutation})" if p.mutation else "")),
        ("tokens / cost", f"{p.tokens_in} in, {p.tokens_out} out, ${p.cost:.4f}"),
        ("time", f"LLM {p.llm_seconds:.2f}s, evaluation {p.eval_seconds:.2f}s"),
    ]
    table = Table(show_header=False, box=None)
    for key, value in rows:
        table.add_row(key, value)
    for name, value in sorted(p.metrics.items()):
        table.add_row(f"metric {name}", repr(value))
    out.print(table)
    out.rule("code")
    out.print(p.code, markup=False, highlight=False)
    for name, text in sorted(p.artifacts.items()):
        out.rule(f"artifact {name}")
        out.print(text.rstrip(), markup=False)
    for c in calls:
        state = c.fault or c.outcome or "became this program"
        out.rule(f"LLM call {c.call_index}: {c.model} ({state}, {c.latency:.2f}s)")
        out.print("--- prompt ---", markup=False)
        out.print(c.prompt.rstrip(), markup=False)
        out.print("--- response ---", markup=False)
        out.print((c.response or c.error).rstrip(), markup=False)


def lineage_command(program_id: str, db: str | None, fmt: LineageFormat) -> None:
    """The ancestry of a program back to the initial one, with the score after each step."""
    reader = Reader.open(db)
    p = reader.program(program_id)
    info = reader.run(p.run_id)
    maximize = maximizes(info)
    chain = reader.ancestry(p.id)
    steps = []
    previous: float | None = None
    for node in chain:
        score = node["score"] if node["status"] == "ok" else None
        change = score - previous if score is not None and previous is not None else None
        improved = change is not None and (change > 0 if maximize else change < 0)
        steps.append({**node, "change": change, "improved": improved})
        if score is not None:
            previous = score
    if fmt is LineageFormat.json:
        print_json(jsonable(steps))
        return
    if fmt is LineageFormat.dot:
        sys.stdout.write(_dot(steps, primary_metric(info)))
        return
    metric = primary_metric(info)
    lines = [f"lineage of {p.id} (run {info.id}, {metric}, {len(steps)} programs)"]
    nest = len(steps) <= 40  # deeper chains are listed flat, not indented off the screen
    for depth, s in enumerate(steps):
        change = "" if s["change"] is None else f" ({s['change']:+.6g})"
        mark = "  * improved" if s["improved"] else ""
        indent = "    " * depth if nest else ""
        lines.append(
            f"{indent}└── #{s['iteration']} {s['id'][:12]} island {s['island']} {s['status']} "
            f"{metric}={fmt_score(s['score'])}{change} {s['model'] or 'initial'}{mark}"
        )
    sys.stdout.write("\n".join(lines) + "\n")


def _dot(steps: list[dict[str, Any]], metric: str) -> str:
    lines = ["digraph lineage {", "  rankdir=TB;", "  node [shape=box, fontname=monospace];"]
    for s in steps:
        label = f"#{s['iteration']} {s['id'][:12]}\\n{metric}={fmt_score(s['score'])}"
        lines.append(f'  "{s["id"]}" [label="{label}"];')
    for s in steps:
        if s["parent_id"]:
            lines.append(f'  "{s["parent_id"]}" -> "{s["id"]}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def diff_command(a: str, b: str | None, db: str | None) -> None:
    """``B`` against ``A``; with one program, the program against its parent."""
    reader = Reader.open(db)
    if b is None:
        second = reader.program(a)
        parent = reader.parent(second)
        if parent is None:
            raise UserError(
                f"program {second.id[:12]} is the initial program (no parent): give a second id"
            )
        first = parent
    else:
        first, second = reader.program(a), reader.program(b)
    text = unified_diff(
        first.code,
        second.code,
        f"{first.id[:12]} (iteration {first.iteration})",
        f"{second.id[:12]} (iteration {second.iteration})",
    )
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")


def stats_command(run: str | None, db: str | None, as_json: bool) -> None:
    """Per model and per island; MAP-Elites coverage."""
    reader = Reader.open(db)
    info = reader.run(run)
    data = jsonable(
        {
            "run_id": info.id,
            "problem": info.problem,
            "models": stats.model_stats(reader, info),
            "islands": stats.island_stats(reader, info),
            "coverage": stats.coverage(reader, info),
            "bandit": stats.bandit(reader, info),
        }
    )
    if as_json:
        print_json(data)
        return
    console.print(f"run {info.id} ({info.problem}), {primary_metric(info)}")
    models = Table(
        "model", "proposals", "valid", "improved", "best", "calls", "failed", "USD", "latency"
    )
    for m in data["models"]:
        models.add_row(
            m["model"],
            str(m["proposals"]),
            _pct(m["valid_rate"]),
            str(m["improvements"]),
            fmt_score(m["best_score"]),
            str(m["calls"]),
            str(m["failed_calls"]),
            f"{m['cost_usd']:.4f}",
            "-" if m["mean_latency_s"] is None else f"{m['mean_latency_s']:.2f}s",
        )
    console.print(models)
    islands = Table("island", "proposals", "valid", "improved", "best", "USD", "LLM s", "cells")
    for i in data["islands"]:
        islands.add_row(
            str(i["island"]),
            str(i["proposals"]),
            _pct(i["valid_rate"]),
            str(i["improvements"]),
            fmt_score(i["best_score"]),
            f"{i['cost_usd']:.4f}",
            f"{i['mean_llm_s']:.2f}",
            f"{i['cells']} ({_pct(i['coverage'])})",
        )
    console.print(islands)
    cov = data["coverage"]
    dims = " x ".join(f"{f['name']} ({f['bins']})" for f in cov["features"]) or "none"
    console.print(
        f"MAP-Elites coverage: {cov['cells']} of {cov['grid_cells']} cells "
        f"({_pct(cov['coverage'])}); dimensions: {dims}"
    )


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


EXPORT_COLUMNS = (
    "id",
    "run_id",
    "iteration",
    "parent_id",
    "island",
    "generation",
    "status",
    "reason",
    "stage",
    "score",
    "model",
    "selected_model",
    "mutation",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "llm_s",
    "evaluation_s",
    "engine_s",
    "waiting_s",
    "cell",
    "duplicate_of",
    "created_at",
)


def _export_row(p: Candidate) -> dict[str, Any]:
    return {
        "id": p.id,
        "run_id": p.run_id,
        "iteration": p.iteration,
        "parent_id": p.parent_id,
        "island": p.island,
        "generation": p.generation,
        "status": p.status.value,
        "reason": p.reason,
        "stage": p.stage,
        "score": p.score,
        "model": p.model,
        "selected_model": p.selected_model,
        "mutation": p.mutation,
        "tokens_in": p.tokens_in,
        "tokens_out": p.tokens_out,
        "cost_usd": p.cost,
        "llm_s": p.llm_seconds,
        "evaluation_s": p.eval_seconds,
        "engine_s": p.engine_seconds,
        "waiting_s": p.wait_seconds,
        "cell": list(p.cell) if p.cell is not None else None,
        "duplicate_of": p.duplicate_of,
        "created_at": p.created_at,
    }


def export_command(run: str | None, db: str | None, fmt: ExportFormat, out: Path | None) -> None:
    """Every candidate of a run, one per line (JSON Lines: with code, metrics, artifacts
    and diff) or per row (CSV: the scalar columns plus one ``metric.NAME`` column each)."""
    reader = Reader.open(db)
    info = reader.run(run)
    if out is None:
        _export(reader, info.id, fmt, sys.stdout)
        return
    try:
        with open(out, "w", encoding="utf-8", newline="") as stream:
            _export(reader, info.id, fmt, stream)
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write: {exc}") from None
    if out is not None:
        print(f"exported run {info.id} to {out}", file=sys.stderr)


def _export(reader: Reader, run_id: str, fmt: ExportFormat, stream: IO[str]) -> None:
    if fmt is ExportFormat.jsonl:
        for p in reader.programs(run_id):
            row = _export_row(p)
            row.update(metrics=p.metrics, artifacts=p.artifacts, diff=p.diff, code=p.code)
            stream.write(json.dumps(jsonable(row), allow_nan=False) + "\n")
        return
    names = sorted({k for p in reader.programs(run_id) for k in p.metrics})
    writer = csv.writer(stream)
    writer.writerow([*EXPORT_COLUMNS, *(f"metric.{n}" for n in names)])
    for p in reader.programs(run_id):
        row = _export_row(p)
        row["cell"] = " ".join(map(str, row["cell"])) if row["cell"] else ""
        metrics = jsonable(p.metrics)
        writer.writerow(
            [_cell(row[c]) for c in EXPORT_COLUMNS] + [_cell(metrics.get(n)) for n in names]
        )


def _cell(value: Any) -> Any:
    return "" if value is None else value


def register(app: typer.Typer) -> None:
    """Add the commands to the ``evolve`` app."""

    @app.command()
    def show(program: ProgramArg, db: DbOption = None, as_json: JsonOption = False) -> None:
        """Show one program: code, metrics, status, artifacts, parent, model, LLM exchange."""
        show_command(program, db, as_json)

    @app.command()
    def lineage(
        program: ProgramArg,
        db: DbOption = None,
        fmt: Annotated[
            LineageFormat, typer.Option("--format", "-f", help="tree, json or dot (Graphviz).")
        ] = LineageFormat.tree,
    ) -> None:
        """The ancestry of a program back to the initial one, with the score after each step."""
        lineage_command(program, db, fmt)

    @app.command()
    def diff(
        a: Annotated[str, typer.Argument(help="Program id (or prefix).")],
        b: Annotated[
            str | None,
            typer.Argument(help="Second program (default: diff A against its parent)."),
        ] = None,
        db: DbOption = None,
    ) -> None:
        """Unified diff between two programs (default: a program and its parent)."""
        diff_command(a, b, db)

    @app.command()
    def stats(run: RunArg = None, db: DbOption = None, as_json: JsonOption = False) -> None:
        """Per model and per island: proposals, valid rate, improvements, cost, latency;
        MAP-Elites coverage."""
        stats_command(run, db, as_json)

    @app.command()
    def export(
        run: RunArg = None,
        db: DbOption = None,
        fmt: Annotated[
            ExportFormat, typer.Option("--format", "-f", help="jsonl or csv.")
        ] = ExportFormat.jsonl,
        out: Annotated[
            Path | None, typer.Option("--out", "-o", help="Write to this file (default: stdout).")
        ] = None,
    ) -> None:
        """Every candidate of a run as JSON Lines or CSV, for analysis elsewhere."""
        export_command(run, db, fmt, out)

    @app.command()
    def ui(
        db: DbOption = None,
        host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[
            int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")
        ] = 8765,
    ) -> None:
        """Serve the web UI (read-only, refreshing live while a run writes)."""
        from evolve.ui.server import serve

        serve(db, host, port)
