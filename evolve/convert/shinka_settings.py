"""Carrying ShinkaEvolve's settings to problem.toml: the task message, the search (numbers
of generations, islands, migration, inspirations), the job's time and options, and the
generation settings, with the peer's models written commented out under a guessed provider.
"""

from __future__ import annotations

from typing import Any

from evolve.convert.report import Draft
from evolve.convert.values import as_float, as_int, clock_seconds

SELECTION = {"ucb": "ucb", "ucb1": "ucb", "asymmetric_ucb": "ucb", "thompson": "thompson"}
SELECTION |= {"fixed": "fixed"}
"""ShinkaEvolve's model selection strategies, as evolve's ``llm.selection``."""


def carry_settings(
    draft: Draft,
    evo: dict[str, Any],
    db: dict[str, Any],
    job: dict[str, Any],
    runner: dict[str, Any],
) -> None:
    """Every setting of ``evo``, ``db``, ``job`` and the runner's that evolve has."""
    message = evo.get("task_sys_msg")
    if isinstance(message, str) and message.strip():
        text = message.strip()
        draft.set("prompt", text, "evo_config.task_sys_msg", f"prompt: {len(text)} characters")
    else:
        draft.drop(
            "evo_config.task_sys_msg",
            "no task message (ShinkaEvolve's generic one "
            "applies there): write the task in problem.toml's prompt",
        )
    numbers = (
        ("search.iterations", evo, "num_generations", as_int, "evo_config"),
        ("llm.budget_usd", evo, "max_api_costs", as_float, "evo_config"),
        ("llm.attempts", evo, "max_patch_attempts", as_int, "evo_config"),
        ("search.islands", db, "num_islands", as_int, "db_config"),
        ("search.migration_rate", db, "migration_rate", as_float, "db_config"),
        ("sandbox.parallel", runner, "max_evaluation_jobs", as_int, ""),
        ("search.max_in_flight", runner, "max_proposal_jobs", as_int, ""),
    )
    for key, table, name, kind, where in numbers:
        if table.get(name) is None:
            continue
        number = kind(table[name])
        source = f"{where}.{name}" if where else name
        if number is None:
            draft.drop(source, f"{table[name]!r} is not a number")
        else:
            draft.set(key, number, source)
    interval = as_int(db.get("migration_interval"))
    if interval is not None and interval >= 1:
        draft.set(
            "search.migration_interval",
            interval,
            "db_config.migration_interval",
            f"search.migration_interval = {interval} candidates",
        )
    elif db.get("migration_interval") is not None:
        draft.set(
            "search.migration_rate",
            0.0,
            "db_config.migration_interval",
            "search.migration_rate = 0.0 (migration off)",
        )
    inspirations = [
        as_int(db.get(k, 1)) for k in ("num_archive_inspirations", "num_top_k_inspirations")
    ]
    if ("num_archive_inspirations" in db or "num_top_k_inspirations" in db) and all(
        i is not None and i >= 0 for i in inspirations
    ):
        total = min(16, sum(i or 0 for i in inspirations))
        draft.set(
            "search.num_inspirations",
            total,
            "db_config.num_archive_inspirations + num_top_k_inspirations",
        )
    seconds = clock_seconds(job.get("time")) if job.get("time") is not None else None
    if seconds:
        draft.set("sandbox.timeout", seconds, "job_config.time")
    elif job.get("time") is not None:
        draft.drop("job_config.time", f"{job['time']!r} is not HH:MM:SS")
    extra = job.get("extra_cmd_args")
    if isinstance(extra, dict) and extra:
        options = {str(k): v for k, v in extra.items() if isinstance(v, str | int | float | bool)}
        draft.set("evaluator.options", options, "job_config.extra_cmd_args")
    _llm(draft, evo)


def _llm(draft: Draft, evo: dict[str, Any]) -> None:
    """Temperatures, max tokens and model selection; the models commented out."""
    kwargs = evo.get("llm_kwargs")
    if isinstance(kwargs, dict):
        temps = kwargs.get("temperatures")
        temps = [temps] if isinstance(temps, int | float) else temps
        if isinstance(temps, list) and temps and all(as_float(t) is not None for t in temps):
            values = [float(t) for t in temps]
            draft.set(
                "llm.temperature",
                values if len(values) > 1 else values[0],
                "evo_config.llm_kwargs.temperatures",
            )
        if as_int(kwargs.get("max_tokens")) is not None:
            draft.set(
                "llm.max_tokens", as_int(kwargs["max_tokens"]), "evo_config.llm_kwargs.max_tokens"
            )
        for key in sorted(set(kwargs) - {"temperatures", "max_tokens"}):
            draft.drop(
                f"evo_config.llm_kwargs.{key}",
                "evolve sets this per model "
                "([[llm.models]]: reasoning_effort, thinking_budget) or not at all",
            )
    selection = evo.get("llm_dynamic_selection", "ucb")
    if "llm_dynamic_selection" in evo:
        chosen = SELECTION.get(str(selection).lower()) if selection is not None else "fixed"
        if chosen:
            draft.set("llm.selection", chosen, "evo_config.llm_dynamic_selection")
        else:
            draft.drop(
                "evo_config.llm_dynamic_selection",
                f"{selection!r}: evolve has ucb, thompson and fixed",
            )
    models = evo.get("llm_models")
    if not isinstance(models, list) or not models:
        return
    names = ", ".join(map(str, models))
    draft.drop(
        f"evo_config.llm_models {names}",
        "not carried: evolve uses its embedded model "
        "and needs no key; problem.toml lists them commented out (check each provider)",
    )
    lines = [
        "# ShinkaEvolve's models (uncomment to use them; check each provider prefix;",
        "# evolve checks their keys at start):",
    ]
    for model in map(str, models):
        lines += ["# [[llm.models]]", f'# name = "{_provider(model)}"']
    draft.comments.extend(lines)


def _provider(model: str) -> str:
    """A guess at evolve's PROVIDER/MODEL for a ShinkaEvolve model name."""
    lower = model.lower()
    if lower.startswith(("gpt-", "o1", "o3", "o4", "gpt5")):
        return f"openai/{model}"
    if lower.startswith("claude"):
        return f"anthropic/{model}"
    if lower.startswith("gemini"):
        return f"litellm/gemini/{model}"
    return f"litellm/{model}"
