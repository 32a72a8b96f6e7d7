"""``evolve bench``: run a search on suites or problems for several seeds and measure each
run against the best known; or line up two saved results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evolve.cli.options import DbOption, JsonOption, SandboxOption, SetOption
from evolve.errors import UserError

NamesArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Suites (see `evolve problems`), bundled problems, or problem folders / files."
    ),
]


def command(
    names: NamesArg = None,
    iterations: Annotated[
        int, typer.Option("--iterations", "-n", min=0, help="Candidates per run.")
    ] = 20,
    seeds: Annotated[
        list[int] | None,
        typer.Option("--seeds", help="Seeds, one run each: --seeds 0 1 2 (default: 0)."),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="Model spec, repeatable (default: each problem's)."),
    ] = None,
    db: DbOption = None,
    sandbox: SandboxOption = None,
    sets: SetOption = None,
    as_json: JsonOption = False,
    save: Annotated[
        Path | None, typer.Option("--save", help="Write the result as JSON here (for --compare).")
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Write a Markdown report here.")
    ] = None,
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option("--compare", help="Line up two saved results: --compare A.json B.json."),
    ] = None,
) -> None:
    """Benchmark the search: each problem for each seed, stored as ordinary runs, measured
    against the best-known values (gap: negative when short of it)."""
    from evolve.benchmark import report

    if compare is not None:
        if names:
            raise UserError("--compare lines up two saved results: give no problems with it")
        _compare(*compare, as_json=as_json)
        return
    names, seeds = _split_seeds(list(names or []), list(seeds or []))
    if not names:
        raise UserError("name a suite or problems to benchmark (see `evolve problems`)")
    runs = _run(names, seeds, iterations, list(model or []), db, sandbox, list(sets or []), as_json)
    models = sorted({m for r in runs for m in r.model})
    doc = report.document(runs, iterations, seeds, models)
    if save is not None:
        _write(save, _dumps(doc))
    summaries = report.summarize(runs)
    heading = (
        f"evolve bench: {' '.join(names)}, {iterations} iterations, seeds {seeds}"
        + (f", {', '.join(models)}" if models else "")
        + "".join(f", --set {s}" for s in sets or [])
    )
    if markdown is not None:
        _write(markdown, report.markdown(summaries, f"## {heading}"))
    if as_json:
        print(_dumps(doc))
        return
    _table(heading, report.COLUMNS, report.rows(summaries))


def _split_seeds(names: list[str], seeds: list[int]) -> tuple[list[str], list[int]]:
    """``--seeds 0 1 2``: the shell gives ``1 2`` as arguments; they are seeds when
    ``--seeds`` was given (no problem or suite is named by a number)."""
    if seeds:
        while names and names[-1].lstrip("-").isdigit():
            seeds.insert(1, int(names.pop()))
        seeds = sorted(set(seeds), key=seeds.index)
    return names, seeds or [0]


def _run(
    names: list[str],
    seeds: list[int],
    iterations: int,
    models: list[str],
    db: str | None,
    sandbox: str | None,
    sets: list[str],
    quiet: bool,
) -> list:
    from evolve.benchmark.catalogue import resolve
    from evolve.benchmark.measure import RunMeasure, run_all, run_one
    from evolve.benchmark.report import fmt, pct
    from evolve.cli.output import err_console

    entries = resolve(names)
    if sets:  # every problem takes the settings, or nothing runs
        from evolve.problem import load_problem
        from evolve.session import overrides

        changes = overrides({}, sets=sets)
        for entry in entries:
            load_problem(str(entry.path), changes)
    total = len(entries) * len(seeds)
    if not quiet:
        err_console.print(f"{total} run(s): {len(entries)} problem(s) x {len(seeds)} seed(s)")

    def one(entry, seed: int) -> RunMeasure:
        return run_one(
            entry,
            seed,
            iterations=iterations,
            db=db,
            models=models,
            listener=lambda event: None,
            sandbox=sandbox,
            sets=sets,
        )

    def done(m: RunMeasure) -> None:
        if not quiet:
            err_console.print(
                f"{m.problem} seed {m.seed}: {m.metric} {fmt(m.best, 10)} (gap {fmt(m.gap, 4)}),"
                f" {pct(m.valid_rate)} valid, {m.seconds:.0f} s, run {m.run_id} ({m.status})",
                markup=False,
            )

    return run_all(entries, seeds, one, done)


def _compare(a: str, b: str, as_json: bool) -> None:
    from evolve.benchmark import report

    _, left = report.load(a)
    _, right = report.load(b)
    table = report.compare(left, right)
    if as_json:
        print(_dumps([dict(zip(report.COMPARE_COLUMNS, row, strict=True)) for row in table]))
        return
    _table(f"A = {a}, B = {b} (change: positive when B is better)", report.COMPARE_COLUMNS, table)


def _table(title: str, columns: tuple[str, ...], rows: list[list[str]]) -> None:
    from rich.table import Table

    from evolve.cli.output import console

    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _dumps(data: object) -> str:
    import json

    return json.dumps(data, indent=2, allow_nan=False)


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
