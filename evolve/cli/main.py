"""The ``evolve`` command line: run a search, evaluate one program, inspect the database.

Every command that prints data takes ``--json``. Bad input is one line on stderr and exit
code 2; an unexpected failure is one line too (``EVOLVE_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from evolve.cli import inspect_cmds, lineage_cmds
from evolve.cli.run_cmd import run_command
from evolve.errors import UserError

app = typer.Typer(
    name="evolve",
    help="LLM-guided evolutionary program search.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database path or SQLAlchemy URL (default: $EVOLVE_DB or ./evolve.db)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class SandboxBackend(StrEnum):
    process = "process"
    docker = "docker"


SandboxOption = Annotated[
    SandboxBackend | None,
    typer.Option(
        "--sandbox", help="Where evaluations run: process or docker (default: the problem's)."
    ),
]


@app.command()
def run(
    problem: Annotated[
        str | None, typer.Argument(help="problem.toml, its folder, or a bundled problem name.")
    ] = None,
    iterations: Annotated[
        int | None,
        typer.Option(
            "--iterations", "-n", min=0, help="Candidates to propose (the run's total budget)."
        ),
    ] = None,
    db: DbOption = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="Model spec, repeatable; SPEC@WEIGHT sets its weight."),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed of the run.")] = None,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Continue the run with this id.")
    ] = None,
    islands: Annotated[
        int | None, typer.Option("--islands", min=1, help="Number of islands.")
    ] = None,
    max_in_flight: Annotated[
        int | None, typer.Option("--max-in-flight", "-j", min=1, help="Proposals running at once.")
    ] = None,
    target_score: Annotated[
        float | None, typer.Option("--target-score", help="Stop when the best score reaches this.")
    ] = None,
    temperature: Annotated[
        float | None, typer.Option("--temperature", min=0.0, max=2.0, help="Sampling temperature.")
    ] = None,
    budget_usd: Annotated[
        float | None,
        typer.Option(
            "--budget-usd", min=0.0, help="Stop starting proposals once this much is spent."
        ),
    ] = None,
    replay: Annotated[
        str | None,
        typer.Option("--replay", help="Re-run a recorded run from its stored LLM answers."),
    ] = None,
    fork: Annotated[
        str | None,
        typer.Option("--fork", help="Start a new run from a recorded run's first iterations."),
    ] = None,
    at: Annotated[
        int | None, typer.Option("--at", help="With --fork: the first iteration to redo.")
    ] = None,
    sandbox: SandboxOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run (or resume, replay, fork) an evolutionary search on a problem."""
    run_command(
        problem=problem,
        iterations=iterations,
        db=db,
        models=model or [],
        seed=seed,
        resume=resume,
        islands=islands,
        max_in_flight=max_in_flight,
        target_score=target_score,
        temperature=temperature,
        as_json=as_json,
        budget_usd=budget_usd,
        replay=replay,
        fork=fork,
        at=at,
        sandbox=sandbox.value if sandbox else None,
    )


@app.command("eval")
def eval_(
    problem: Annotated[
        str, typer.Argument(help="problem.toml, its folder, or a bundled problem name.")
    ],
    program: Annotated[Path, typer.Argument(help="The program file to evaluate.")],
    as_json: JsonOption = False,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0.001, help="Override the sandbox timeout (seconds)."),
    ] = None,
    sandbox: SandboxOption = None,
) -> None:
    """Evaluate one program file in the sandbox, exactly as a run would."""
    inspect_cmds.eval_command(
        problem, program, as_json, timeout, sandbox.value if sandbox else None
    )


@app.command()
def runs(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List the runs in the database."""
    inspect_cmds.runs_command(db, as_json)


@app.command()
def best(
    run: Annotated[
        str | None, typer.Argument(help="Run id or unique prefix (default: the latest run).")
    ] = None,
    db: DbOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the best program to this file.")
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Show the K best programs.")] = 1,
    as_json: JsonOption = False,
) -> None:
    """Print the best program of a run."""
    inspect_cmds.best_command(run, db, out, top, as_json)


@app.command()
def problems(as_json: JsonOption = False) -> None:
    """List the bundled problems."""
    inspect_cmds.problems_command(as_json)


@app.command()
def models(
    problem: Annotated[
        str | None,
        typer.Argument(help="problem.toml, its folder, or a bundled name (its [llm] models)."),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="Model spec, repeatable (instead of the problem's)."),
    ] = None,
    ping: Annotated[
        bool, typer.Option("--ping", help="Make one short real call to each usable model.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for --ping.")
    ] = 30.0,
    as_json: JsonOption = False,
) -> None:
    """List the configured models, their prices, and whether each is usable now."""
    from evolve.cli.models_cmd import models_command

    models_command(problem, model or [], ping, timeout, as_json)


lineage_cmds.register(app)  # show, lineage, diff, stats, export, ui


def _is_a(exc: BaseException, name: str) -> bool:
    """Whether ``exc`` is a click ``name`` (typer vendors its own copy of click)."""
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except Exception as exc:  # last resort: one line, not a traceback
        ctx = getattr(exc, "ctx", None)
        if _is_a(exc, "NoArgsIsHelpError") and ctx is not None:
            print(ctx.get_help())
            sys.exit(0)
        if _is_a(exc, "UsageError"):
            where = ctx.command_path if ctx is not None else "evolve"
            print(f"error: {exc.format_message()} (see: {where} --help)", file=sys.stderr)  # type: ignore[attr-defined]
            sys.exit(2)
        if os.environ.get("EVOLVE_DEBUG"):
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {exc} (set EVOLVE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
