"""Carrying an OpenEvolve config's settings to problem.toml: the search (iterations, seed,
islands, population, migration, inspirations), the MAP-Elites features, the task prompt,
and the generation settings, with the peer's models written commented out.

Units that differ are converted: OpenEvolve's ``population_size`` counts all islands
(evolve's counts one), and its ``migration_interval`` counts generations of one island
(evolve's counts candidates of the whole run, so it is multiplied by the islands).
"""

from __future__ import annotations

import math
import re
from typing import Any

from evolve.convert.report import Draft
from evolve.convert.values import as_float, as_int, carry_float, carry_int

OPENAI_BASE = "https://api.openai.com/v1"
FEATURES = {"complexity": "code_length", "score": "combined_score"}
"""OpenEvolve's built-in feature dimensions that evolve has (``diversity`` it has not)."""


def search_settings(
    draft: Draft, data: dict[str, Any], database: dict[str, Any], prompt: dict[str, Any]
) -> None:
    """Iterations, seed, islands, population and migration (in evolve's units), the
    exploration shares, and how many inspirations a prompt shows."""
    value = data.get("max_iterations")
    if value is not None:
        carry_int(draft, "search.iterations", value, "max_iterations")
    seed = data.get("random_seed", database.get("random_seed"))
    if seed is not None:
        where = "random_seed" if "random_seed" in data else "database.random_seed"
        carry_int(draft, "search.seed", seed, where)
    where = "database.num_islands" if "num_islands" in database else "OpenEvolve's default"
    carry_int(draft, "search.islands", database.get("num_islands", 5), where)
    islands = as_int(database.get("num_islands", 5)) or 0
    islands = islands if 1 <= islands <= 256 else 4  # refused below: evolve's default
    if "population_size" in database:
        total = as_int(database["population_size"])
        if total is None or total < 1:
            draft.drop(
                "database.population_size",
                f"{database['population_size']!r} is not a positive integer",
            )
        else:
            per_island = max(5, math.ceil(total / islands))
            draft.set(
                "search.population_size",
                per_island,
                "database.population_size",
                f"search.population_size = {per_island} per island ({total} in all over "
                f"{islands} islands)",
            )
    if "migration_interval" in database:
        interval = as_int(database["migration_interval"])
        if interval is None or interval < 1:
            draft.drop(
                "database.migration_interval",
                f"{database['migration_interval']!r} is not a positive integer",
            )
        else:
            draft.set(
                "search.migration_interval",
                interval * islands,
                "database.migration_interval",
                f"search.migration_interval = {interval * islands} candidates ({interval} "
                f"generations of each of {islands} islands)",
            )
    if "migration_rate" in database:
        carry_float(
            draft, "search.migration_rate", database["migration_rate"], "database.migration_rate"
        )
    ratios = {k: as_float(database.get(k)) for k in ("exploration_ratio", "exploitation_ratio")}
    given = {k: v for k, v in ratios.items() if k in database}
    if given:
        explore = ratios["exploration_ratio"] if "exploration_ratio" in given else 0.2
        exploit = ratios["exploitation_ratio"] if "exploitation_ratio" in given else 0.7
        if explore is None or exploit is None or explore + exploit > 1:
            draft.drop(
                "database.exploration_ratio/exploitation_ratio",
                "not two shares that add up to at most 1",
            )
        else:
            for key in given:
                carry_float(draft, f"search.{key}", database[key], f"database.{key}")
    if "num_top_programs" in prompt or "num_diverse_programs" in prompt:
        top = as_int(prompt.get("num_top_programs", 3))
        diverse = as_int(prompt.get("num_diverse_programs", 2))
        if top is None or diverse is None or top < 0 or diverse < 0:
            draft.drop("prompt.num_top_programs/num_diverse_programs", "not counts")
        else:
            shown = min(16, top + diverse)
            draft.set(
                "search.num_inspirations", shown, "prompt.num_top_programs + num_diverse_programs"
            )


def feature_settings(draft: Draft, database: dict[str, Any]) -> list[str]:
    """MAP-Elites dimensions evolve has; returns the peer's names (left out of the mean)."""
    dims = database.get("feature_dimensions", ["complexity", "diversity"])
    bins = database.get("feature_bins", 10)
    if not isinstance(dims, list) or not all(isinstance(d, str) for d in dims):
        draft.drop("database.feature_dimensions", f"{dims!r} is not a list of names")
        return []
    table = []
    for dim in dims:
        name = FEATURES.get(dim, dim)
        if dim == "diversity":
            draft.drop(
                "database.feature_dimensions 'diversity'",
                "evolve has no such descriptor (built in: code_length, line_count, or any metric)",
            )
            continue
        count = as_int(bins.get(dim, 10) if isinstance(bins, dict) else bins)
        if count is None or not 1 <= count <= 1000:
            draft.drop(
                f"database.feature_bins for {dim}", "not a count from 1 to 1000; evolve uses 10"
            )
            count = 10
        table.append({"name": name, "bins": count})
    if table:
        shown = ", ".join(f"{t['name']} ({t['bins']} bins)" for t in table)
        draft.set("features", table, "database.feature_dimensions", f"features: {shown}")
    return [d for d in dims if d != "diversity"]


def prompt_setting(draft: Draft, prompt: dict[str, Any]) -> None:
    """The task text: OpenEvolve's system message, unless it is absent or names a template."""
    message = prompt.get("system_message")
    if isinstance(message, str) and message.strip() and not re.fullmatch(r"\w+", message.strip()):
        text = message.strip()
        draft.set("prompt", text, "prompt.system_message", f"prompt: {len(text)} characters")
    else:
        draft.drop(
            "prompt.system_message",
            "no task text (absent, or the name of a template): "
            "write the task in problem.toml's prompt",
        )


def llm_settings(draft: Draft, llm: dict[str, Any], data: dict[str, Any]) -> None:
    """The generation settings evolve has; the peer's models written commented out."""
    temperature = llm.get("temperature")
    if temperature is not None:
        carry_float(draft, "llm.temperature", temperature, "llm.temperature")
    for key, kind in (("max_tokens", carry_int), ("timeout", carry_float), ("retries", carry_int)):
        if llm.get(key) is not None:
            kind(draft, f"llm.{key}", llm[key], f"llm.{key}")
    models: list[dict[str, Any]] = []
    for entry in llm.get("models") or []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            models.append(entry)
    for role, weight in (("primary_model", 1.0), ("secondary_model", 0.2)):
        if isinstance(llm.get(role), str):
            given = llm.get(f"{role}_weight")
            models.append({"name": llm[role], "weight": weight if given is None else given})
    rewrite = data.get("diff_based_evolution") is False
    if "diff_based_evolution" in data or "allow_full_rewrites" in data:
        draft.drop(
            "diff_based_evolution",
            "evolve sets full rewrites or diffs per model "
            f"(mutation = {'rewrite' if rewrite else 'diff'!r} in [[llm.models]]); the "
            "embedded model gets completion prompts",
        )
    if not models:
        return
    names = ", ".join(f"{m['name']} (weight {m.get('weight', 1.0)})" for m in models)
    draft.drop(
        f"llm models {names}",
        "not carried: evolve uses its embedded model and needs no "
        "key; problem.toml lists them commented out, or give --model openai/NAME",
    )
    lines = ["# OpenEvolve's models (uncomment to use them; evolve checks their keys at start):"]
    for model in models:
        base = model.get("api_base") or llm.get("api_base") or OPENAI_BASE
        lines += ["# [[llm.models]]", f'# name = "openai/{model["name"]}"']
        if base != OPENAI_BASE:
            lines.append(f'# base_url = "{base}"')
        key = model.get("api_key", llm.get("api_key"))
        if isinstance(key, str) and (found := re.fullmatch(r"\$\{(\w+)\}", key.strip())):
            lines.append(f'# api_key_env = "{found.group(1)}"')
        elif key:
            draft.drop(
                f"api_key of {model['name']}",
                "not copied (a key belongs in an environment variable: api_key_env)",
            )
        weight = as_float(model.get("weight"))
        if weight is not None and weight > 0:
            lines.append(f"# weight = {weight!r}")
        lines.append(f'# mutation = "{"rewrite" if rewrite else "diff"}"')
        effort = model.get("reasoning_effort", llm.get("reasoning_effort"))
        if effort in ("minimal", "low", "medium", "high"):
            lines.append(f'# reasoning_effort = "{effort}"')
    draft.comments.extend(lines)
