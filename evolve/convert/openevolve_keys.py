"""Which keys of an OpenEvolve config ``evolve convert`` carries over, and why the others
are not: each key it drops with its reason, each it converts by section, and the report's
lines for the rest.
"""

from __future__ import annotations

from typing import Any

from evolve.convert.peer_config import section
from evolve.convert.report import NOT_NEEDED, NOVELTY, PROMPT_WORDING, Draft, each

DROPPED: dict[str, str] = {
    "checkpoint_interval": NOT_NEEDED,
    "log_level": "evolve has no log settings",
    "log_dir": "evolve has no log settings",
    "max_code_length": "evolve does not limit a program's length",
    "enforce_evolve_blocks": "not needed: evolve always rejects edits outside the EVOLVE-BLOCKs",
    "early_stopping_patience": "evolve stops at search.iterations or search.target_score",
    "convergence_threshold": "evolve stops at search.iterations or search.target_score",
    "early_stopping_metric": "evolve stops at search.iterations or search.target_score",
    "diff_pattern": "evolve parses its own SEARCH/REPLACE format",
    "max_tasks_per_child": "not needed: every evaluation runs in a fresh sandboxed process",
    "evolution_trace": "evolve keeps every prompt and answer in its database (evolve export)",
    "file_suffix": "evolve names candidate files by the problem's language",
    "llm.top_p": "evolve does not send top_p",
    "llm.retry_delay": "evolve backs off exponentially (llm.backoff, llm.backoff_max)",
    "llm.evaluator_models": "evolve has no LLM feedback on programs",
    "llm.system_message": PROMPT_WORDING,
    "llm.random_seed": "models are not seeded (evolve records every answer; evolve run --replay)",
    "llm.manual_mode": "evolve has no manual mode",
    "llm.provider": "give evolve a model as PROVIDER/MODEL (see README, Using a real model)",
    "prompt.template_dir": PROMPT_WORDING,
    "prompt.evaluator_system_message": "evolve has no LLM feedback on programs",
    "prompt.island_system_messages": "evolve has one task prompt for every island",
    "prompt.use_template_stochasticity": PROMPT_WORDING,
    "prompt.template_variations": PROMPT_WORDING,
    "prompt.include_artifacts": "evolve always shows the parent's evaluation output",
    "prompt.max_artifact_bytes": "evolve truncates and redacts artifacts itself",
    "prompt.artifact_security_filter": "evolve truncates and redacts artifacts itself",
    "prompt.use_meta_prompting": "evolve has no meta-prompting",
    "prompt.meta_prompt_weight": "evolve has no meta-prompting",
    "database.archive_size": "evolve keeps no separate elite archive: parents come from each "
    "island's MAP-Elites grid and its top programs",
    "database.elite_selection_ratio": "evolve draws inspirations from the island's grid",
    "database.diversity_metric": NOVELTY,
    "database.diversity_reference_size": NOVELTY,
    "database.embedding_model": NOVELTY,
    "database.embedding_api_base": NOVELTY,
    "database.similarity_threshold": NOVELTY,
    "database.novelty_llm": NOVELTY,
    "evaluator.max_retries": "evolve evaluates a candidate once; a failure is recorded as its error",
    "evaluator.cpu_limit": "see sandbox.cpus (evolve's CPU-time limit per evaluation)",
    "evaluator.distributed": "evolve evaluates on this machine (sandbox.backend = docker for "
    "containers)",
    "evaluator.use_llm_feedback": "evolve has no LLM feedback on programs",
    "evaluator.llm_feedback_weight": "evolve has no LLM feedback on programs",
}
DROPPED |= each(
    "prompt",
    "suggest_simplification_after_chars include_changes_under_chars code_length_threshold "
    "concise_implementation_max_lines comprehensive_implementation_min_lines "
    "diff_summary_max_line_len diff_summary_max_lines programs_as_changes_description "
    "system_message_changes_description initial_changes_description",
    PROMPT_WORDING,
)
DROPPED |= each(
    "database",
    "db_path in_memory log_prompts artifacts_base_path artifact_size_threshold "
    "cleanup_old_artifacts artifact_retention_days max_snapshot_artifacts",
    NOT_NEEDED,
)
DROPPED |= each(
    "evaluator", "enable_artifacts max_artifact_storage", "not needed: evolve always stores them"
)
HANDLED = {
    "": "max_iterations random_seed language diff_based_evolution allow_full_rewrites llm "
    "prompt database evaluator",
    "llm": "models primary_model primary_model_weight secondary_model secondary_model_weight "
    "api_base api_key temperature max_tokens timeout retries reasoning_effort",
    "prompt": "system_message num_top_programs num_diverse_programs",
    "database": "population_size num_islands exploration_ratio exploitation_ratio random_seed "
    "feature_dimensions feature_bins migration_interval migration_rate",
    "evaluator": "timeout memory_limit_mb cascade_evaluation cascade_thresholds "
    "parallel_evaluations evaluator_args",
}
"""The keys ``openevolve_settings`` and ``openevolve_evaluation`` convert, by section."""


def sections(draft: Draft, data: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The config's ``llm``, ``prompt``, ``database`` and ``evaluator`` tables, with a line
    in the report for each key that is dropped or unknown (its own or the top level's)."""
    llm, prompt = section(data, "llm", draft), section(data, "prompt", draft)
    database, evaluation = section(data, "database", draft), section(data, "evaluator", draft)
    for where, table in (
        ("", data),
        ("llm", llm),
        ("prompt", prompt),
        ("database", database),
        ("evaluator", evaluation),
    ):
        prefix = f"{where}." if where else ""
        for key in table:
            if prefix + key in DROPPED and table[key] is not None:
                draft.drop(prefix + key, DROPPED[prefix + key])
        known = {k.removeprefix(prefix) for k in DROPPED if k.startswith(prefix)}
        draft.unknown(
            where, table, {k for k in known if "." not in k} | set(HANDLED[where].split())
        )
    return llm, prompt, database, evaluation
