"""Which ShinkaEvolve settings ``evolve convert`` carries over, and why the others are not:
each key it drops with its reason, each it converts by table (``evo``, ``db``, ``job`` and
the runner's), and the report's lines for the rest.
"""

from __future__ import annotations

from typing import Any

from evolve.convert.report import NOT_NEEDED, NOVELTY, PROMPT_WORDING, Draft, each

PARENTS = "evolve draws parents its own way (search.exploration_ratio, exploitation_ratio)"
ISLANDS = "evolve has a fixed number of islands (search.islands)"
ELSEWHERE = "evolve runs evaluations in its sandbox on this machine (sandbox.* for limits)"
PATCHES = (
    "evolve sets diffs, rewrites or completions per model (mutation in [[llm.models]]) and "
    "has no crossover; the embedded model gets completion prompts"
)
DROPPED: dict[str, str] = {
    "evo.patch_types": PATCHES,
    "evo.patch_type_probs": PATCHES,
    "evo.max_patch_resamples": "evolve asks again llm.attempts times for an unusable answer",
    "evo.job_type": ELSEWHERE,
    "evo.llm_dynamic_selection_kwargs": "evolve's bandit has its own settings (llm.exploration, "
    "llm.discount, llm.cost_weight)",
    "evo.results_dir": NOT_NEEDED,
    "evo.inspiration_sort_order": PROMPT_WORDING,
    "evo.use_text_feedback": "not needed: evolve always shows the model the evaluator's "
    "text_feedback (kept as an artifact)",
    "evo.evolve_prompts": "evolve does not evolve its prompts",
    "db.db_path": NOT_NEEDED,
    "db.archive_size": "evolve keeps no separate archive: inspirations come from the island",
    "db.elite_selection_ratio": "evolve draws inspirations from the island's grid",
    "db.island_elitism": "not needed: evolve never migrates an island's best away",
    "db.enforce_island_separation": "evolve draws inspirations from the parent's island",
    "db.island_selection_strategy": "evolve chooses the island of each proposal itself",
    "db.max_stdout_log_chars": "evolve caps an evaluation's output (sandbox.max_output_bytes)",
    "db.archive_selection_strategy": "evolve ranks programs by the primary metric alone",
    "db.archive_criteria": "evolve ranks programs by the primary metric alone",
    "job.eval_verbose": NOT_NEEDED,
    "job.numeric_threads_per_job": "see sandbox.cpus",
    "runner.max_db_workers": NOT_NEEDED,
    "runner.verbose": "evolve has no such setting",
    "runner.debug": "evolve has no such setting",
}
DROPPED |= each(
    "evo",
    "embedding_model code_embed_sim_threshold novelty_llm_models novelty_llm_kwargs "
    "max_novelty_attempts",
    NOVELTY,
)
DROPPED |= each(
    "evo",
    "meta_rec_interval meta_llm_models meta_llm_kwargs meta_max_recommendations "
    "sample_single_meta_rec",
    "evolve has no meta-recommendation scratchpad",
)
DROPPED |= each(
    "evo",
    "enable_controlled_oversubscription proposal_target_mode proposal_target_min_samples "
    "proposal_target_ratio_cap proposal_buffer_max proposal_target_hard_cap "
    "proposal_target_ewma_alpha",
    "evolve keeps search.max_in_flight proposals waiting",
)
DROPPED |= each(
    "evo",
    "prompt_patch_types prompt_patch_type_probs prompt_evolution_interval prompt_archive_size "
    "prompt_llm_models prompt_llm_kwargs prompt_ucb_exploration_constant prompt_epsilon "
    "prompt_evo_top_k_programs prompt_percentile_recompute_interval",
    "evolve does not evolve its prompts",
)
DROPPED |= each(
    "evo",
    "enable_wandb_logging wandb_project wandb_entity wandb_group wandb_name wandb_mode "
    "wandb_tags wandb_notes wandb_dir wandb_run_id wandb_resume wandb_config",
    "evolve has no W&B logging (evolve ui, evolve export)",
)
DROPPED |= each(
    "db",
    "parent_selection_strategy parent_selection_lambda exploitation_alpha exploitation_ratio "
    "num_beams",
    PARENTS,
)
DROPPED |= each(
    "db",
    "enable_dynamic_islands stagnation_threshold island_spawn_strategy island_spawn_subtree_size",
    ISLANDS,
)
DROPPED |= each(
    "job",
    "conda_env activate_script python_executable image image_tar_path docker_flags partition "
    "cpus gpus mem modules",
    ELSEWHERE,
)
HANDLED = {
    "evo": "task_sys_msg language init_program_path num_generations llm_models llm_kwargs "
    "llm_dynamic_selection max_api_costs max_patch_attempts",
    "db": "num_islands migration_interval migration_rate num_archive_inspirations "
    "num_top_k_inspirations",
    "job": "eval_program_path time extra_cmd_args",
    "runner": "max_evaluation_jobs max_proposal_jobs",
}
"""The keys ``shinka_settings`` converts, by table."""


def report_keys(draft: Draft, settings: dict[str, dict[str, Any]]) -> None:
    """A line in the report for each setting that is dropped or unknown (a key
    starting with ``_`` is passed over without one)."""
    for where, table in settings.items():
        for key, value in table.items():
            if f"{where}.{key}" in DROPPED and value is not None:
                draft.drop(_name(where, key), DROPPED[f"{where}.{key}"])
        known = {k.split(".", 1)[1] for k in DROPPED if k.startswith(f"{where}.")}
        for key in table:
            if key not in known | set(HANDLED[where].split()) and not key.startswith("_"):
                draft.drop(
                    _name(where, key),
                    "not a setting evolve convert knows for ShinkaEvolve; ignored",
                )


def _name(where: str, key: str) -> str:
    """A setting as the report names it: ``evo_config.KEY``, or the runner's bare ``KEY``."""
    return key if where == "runner" else f"{where}_config.{key}"
