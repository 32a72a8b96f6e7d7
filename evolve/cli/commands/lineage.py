"""``evolve lineage``: the ancestry of a program back to the initial one, with the score
after each step (and each crossover's second parent), as a tree, JSON or Graphviz dot."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Any

import typer

from evolve.cli.options import DbOption, ProgramArg
from evolve.cli.output import fmt_score, print_json
from evolve.store.reader import Reader
from evolve.store.views import lineage_steps


class LineageFormat(StrEnum):
    tree = "tree"
    json = "json"
    dot = "dot"


def command(
    program: ProgramArg,
    db: DbOption = None,
    fmt: Annotated[
        LineageFormat, typer.Option("--format", "-f", help="tree, json or dot (Graphviz).")
    ] = LineageFormat.tree,
) -> None:
    """The ancestry of a program back to the initial one, with the score after each step."""
    reader = Reader.open(db)
    try:
        p = reader.program(program)
        info = reader.run(p.run_id)
        steps = lineage_steps(reader.ancestry(p.id), info.objective)
    finally:
        reader.close()
    metric = info.primary_metric
    if fmt is LineageFormat.json:
        print_json(steps)
        return
    if fmt is LineageFormat.dot:
        sys.stdout.write(_dot(steps, metric))
        return
    lines = [f"lineage of {p.id} (run {info.id}, {metric}, {len(steps)} programs)"]
    nest = len(steps) <= 40  # deeper chains are listed flat, not indented off the screen
    for depth, s in enumerate(steps):
        change = "" if s["change"] is None else f" ({s['change']:+.6g})"
        mark = "  * improved" if s["improved"] else ""
        mark += f"  + mate {s['mate_id'][:12]}" if s.get("mate_id") else ""
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
    shown = {s["id"] for s in steps}
    for s in steps:
        if s["parent_id"]:
            lines.append(f'  "{s["parent_id"]}" -> "{s["id"]}";')
        mate = s.get("mate_id")
        if mate:  # a crossover's second parent, outside the ancestry line
            if mate not in shown:
                lines.append(f'  "{mate}" [label="{mate[:12]}", style=dashed];')
            lines.append(f'  "{mate}" -> "{s["id"]}" [style=dashed, label="mate"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
