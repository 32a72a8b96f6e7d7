"""``evolve show``: everything about one program, from the read-only database."""

from __future__ import annotations

from rich.table import Table

from evolve.cli.options import DbOption, JsonOption, ProgramArg
from evolve.cli.output import console, fmt_score, print_json
from evolve.core.status import CandidateStatus
from evolve.store.reader import Reader
from evolve.store.views import program_view


def command(program: ProgramArg, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Show one program: code, metrics, status, artifacts, parent, model, LLM exchange."""
    reader = Reader.open(db)
    try:
        p = reader.program(program)
        info = reader.run(p.run_id)
        parent = reader.parent(p)
        calls = reader.calls(p.id)
    finally:
        reader.close()
    if as_json:
        print_json(program_view(p, parent, calls))
        return
    metric = info.primary_metric
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
        *([("second parent (crossover)", p.mate_id)] if p.mate_id else []),
        *([(_twin_label(p.status), p.duplicate_of)] if p.duplicate_of else []),
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


def _twin_label(status: CandidateStatus) -> str:
    return "nearest neighbour" if status is CandidateStatus.SIMILAR else "same code as"
