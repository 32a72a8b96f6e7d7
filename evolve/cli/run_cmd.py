"""``evolve run``: the command's flags in, the run's progress and outcome out. Starting or
resuming the run itself is ``evolve.session``, shared with the Python API ``evolve.run``."""

from __future__ import annotations

from evolve.cli.output import console, err_console, fmt_score, print_json, program_dict
from evolve.cli.progress import Progress
from evolve.session import Session, Start, parse_model

parse_model_flag = parse_model
"""``SPEC`` or ``SPEC@WEIGHT`` -> a model table (``evolve models`` reads ``--model`` too)."""


def run_command(
    problem: str | None,
    iterations: int | None,
    db: str | None,
    models: list[str],
    seed: int | None,
    resume: str | None,
    islands: int | None,
    max_in_flight: int | None,
    target_score: float | None,
    temperature: float | None,
    as_json: bool,
    budget_usd: float | None = None,
    replay: str | None = None,
    fork: str | None = None,
    at: int | None = None,
    sandbox: str | None = None,
    sets: list[str] | None = None,
) -> None:
    session = Session.open(
        Start(problem=problem, resume=resume, replay=replay, fork=fork, at=at),
        db=db,
        settings={
            "iterations": iterations,
            "seed": seed,
            "islands": islands,
            "max_in_flight": max_in_flight,
            "target_score": target_score,
            "temperature": temperature,
            "budget_usd": budget_usd,
            "sandbox": sandbox,
        },
        models=models,
        sets=sets or [],
    )
    if session.weaker:
        err_console.print(f"warning: weaker sandbox: {session.weaker}")
    progress = Progress(session.problem, quiet=as_json, notice=session.notice)
    finished = session.run(progress)
    programs = session.store.programs(session.run_id)
    if as_json:
        print_json(
            {
                "run_id": session.run_id,
                "status": finished.status,
                "message": finished.message,
                "candidates": len(programs) - 1,
                "spent_usd": finished.spent,
                "best": program_dict(finished.best) if finished.best else None,
                "time_split": progress.time_split(programs),
            }
        )
        return
    progress.summary(finished, programs)
    if finished.best is not None:
        console.print(
            f"\nBest program (score {fmt_score(finished.best.score)}, id {finished.best.id[:12]}):"
        )
        console.print(finished.best.code, markup=False)
