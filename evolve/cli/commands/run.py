"""``evolve run``: its options; the run itself is ``evolve.cli.run_cmd.run_command``."""

from __future__ import annotations

from typing import Annotated

import typer

from evolve.cli.options import DbOption, JsonOption, SandboxOption, SetOption


def command(
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
    sets: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run (or resume, replay, fork) an evolutionary search on a problem."""
    from evolve.cli.run_cmd import run_command  # the whole engine: loaded for `run` only

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
        sets=sets or [],
    )
