"""``evolve run``: assemble Problem, Store, Executor and Ensemble, then drive the Controller."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from evolve.cli.output import console, err_console, fmt_score, print_json, program_dict
from evolve.cli.progress import Progress
from evolve.controller import Controller
from evolve.errors import UserError
from evolve.evaluation.executor import build_executor
from evolve.llm.ensemble import build_ensemble, client_kind, resolve_models
from evolve.llm.replay import Recording, ReplayClient
from evolve.llm.retry import no_sleep, real_sleep
from evolve.problem import Problem, load_problem, problem_from_config, validate_config
from evolve.store.store import Store, resolve_db_url


def parse_model_flag(flag: str) -> dict[str, Any]:
    """``SPEC`` or ``SPEC@WEIGHT`` -> a model table."""
    spec, sep, weight = flag.rpartition("@")
    if sep:
        try:
            value = float(weight)
        except ValueError:
            return {"name": flag}
        if value <= 0:
            raise UserError(f"--model {flag}: the weight after @ must be positive")
        return {"name": spec, "weight": value}
    return {"name": flag}


def _overrides(**flags: Any) -> dict[str, Any]:
    keys = {
        "iterations": "search.iterations",
        "seed": "search.seed",
        "islands": "search.islands",
        "max_in_flight": "search.max_in_flight",
        "target_score": "search.target_score",
        "temperature": "llm.temperature",
        "budget_usd": "llm.budget_usd",
        "sandbox": "sandbox.backend",
    }
    out = {keys[k]: v for k, v in flags.items() if k in keys and v is not None}
    if flags.get("models"):
        out["llm.models"] = [parse_model_flag(m) for m in flags["models"]]
    return out


def _resumed_problem(store: Store, run_id: str, overrides: dict[str, Any]) -> tuple[str, Problem]:
    info = store.run(run_id)
    if "search.seed" in overrides and overrides["search.seed"] != info.seed:
        raise UserError(
            f"--seed cannot change when resuming run {info.id} (its seed is {info.seed})"
        )
    raw = dict(info.config)
    for dotted, value in overrides.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    file = Path(info.problem_path)
    if not file.is_file():
        raise UserError(f"run {info.id}: its problem file {file} no longer exists")
    config = validate_config(raw, file)
    return info.id, problem_from_config(config, file)


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
) -> None:
    overrides = _overrides(
        sandbox=sandbox,
        iterations=iterations,
        seed=seed,
        islands=islands,
        max_in_flight=max_in_flight,
        target_score=target_score,
        temperature=temperature,
        models=models,
        budget_usd=budget_usd,
    )
    sources = [
        name for name, v in (("--resume", resume), ("--replay", replay), ("--fork", fork)) if v
    ]
    if len(sources) > 1:
        raise UserError(f"give only one of {' and '.join(sources)}")
    if at is not None and fork is None:
        raise UserError("--at ITERATION goes with --fork RUN_ID")
    if problem is not None and sources:
        raise UserError(
            f"{sources[0]} takes the problem from the recorded run: drop the PROBLEM argument"
        )
    if problem is None and not sources:
        raise UserError(
            "give a PROBLEM (a problem.toml, its folder or a bundled name) or --resume RUN_ID"
        )
    store = Store(resolve_db_url(db), must_exist=bool(sources))
    clients = None
    sleep = real_sleep
    if resume is not None or fork is not None:
        source = resume or fork
        assert source is not None
        run_id, prob = _resumed_problem(store, source, overrides)
        if fork is not None:
            if at is None:
                raise UserError("--fork RUN_ID needs --at ITERATION (the first iteration to redo)")
            if at < 1:
                raise UserError("--at must be 1 or more (iteration 0 is the initial program)")
            run_id = store.fork_run(run_id, at, prob.config.model_dump(mode="json"))
        else:
            store.update_run_config(run_id, prob.config.model_dump(mode="json"))
    elif replay is not None:
        if models:
            raise UserError("--replay uses the recorded run's models: drop --model")
        source_id, prob = _resumed_problem(store, replay, overrides)
        recording = Recording(source_id, store.llm_calls(source_id))
        specs = [m.name for m in resolve_models(prob.config.llm)[0]]
        clients = {spec: ReplayClient(spec, client_kind(spec), recording) for spec in specs}
        sleep = no_sleep
        run_id = store.create_run(
            prob.name,
            str(prob.file),
            prob.config.model_dump(mode="json"),
            prob.config.search.seed,
            origin=f"replay:{source_id}",
        )
    else:
        assert problem is not None
        prob = load_problem(problem, overrides)
        run_id = ""
    _, notice = resolve_models(prob.config.llm)
    if clients is not None:
        notice = ""
    ensemble = build_ensemble(prob.config.llm, clients)
    executor = build_executor(prob, hidden=store.files())
    if executor.backend.lost:
        err_console.print(f"warning: weaker sandbox: {executor.backend.lost}")
    if not run_id:
        run_id = store.create_run(
            prob.name, str(prob.file), prob.config.model_dump(mode="json"), prob.config.search.seed
        )
    progress = Progress(prob, quiet=as_json, notice=notice)
    controller = Controller(prob, store, executor, ensemble, run_id, listener=progress, sleep=sleep)

    async def search() -> Any:
        try:
            return await controller.run()
        finally:
            await ensemble.close()  # the embedded model's process
            await executor.close()  # warm containers and the like

    try:
        finished = asyncio.run(search())
    except BaseException as exc:
        # The run's rows are already committed; record why it stopped, then re-raise.
        if store.run(run_id).status == "running":
            if isinstance(exc, KeyboardInterrupt):
                store.set_run_status(run_id, "interrupted", "interrupted before the search began")
            else:
                store.set_run_status(run_id, "failed", f"stopped on {type(exc).__name__}: {exc}")
        raise
    programs = store.programs(run_id)
    if as_json:
        print_json(
            {
                "run_id": run_id,
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
