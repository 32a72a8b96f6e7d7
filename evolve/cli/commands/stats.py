"""``evolve stats``: per model and per island (proposals, valid rate, improvements, cost,
latency) and MAP-Elites coverage, aggregated in the read-only database."""

from __future__ import annotations

from rich.table import Table

from evolve.cli.options import DbOption, JsonOption, RunArg
from evolve.cli.output import console, fmt_score, jsonable, print_json
from evolve.store.reader import Reader
from evolve.store.stats import run_stats


def command(run: RunArg = None, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Per model and per island: proposals, valid rate, improvements, cost, latency;
    MAP-Elites coverage."""
    reader = Reader.open(db)
    try:
        info = reader.run(run)
        data = jsonable({"run_id": info.id, "problem": info.problem, **run_stats(reader, info)})
    finally:
        reader.close()
    if as_json:
        print_json(data)
        return
    console.print(f"run {info.id} ({info.problem}), {info.primary_metric}")
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
            f"{m['cost']:.4f}",
            "-" if m["mean_latency"] is None else f"{m['mean_latency']:.2f}s",
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
            f"{i['cost']:.4f}",
            f"{i['mean_llm_seconds']:.2f}",
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
