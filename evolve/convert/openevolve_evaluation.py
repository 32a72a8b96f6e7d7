"""OpenEvolve's evaluator: inspecting ``evaluator.py`` (what it defines and imports) and
carrying its ``evaluator:`` settings, the cascade of ``evaluate_stage`` functions included.

The cascade is kept as OpenEvolve runs it: ``evolve_evaluator.py`` calls the stages in turn
within one evaluation (``evaluate_cascade``), given the functions and thresholds returned by
``evaluator_settings``.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from evolve.convert.output import WRAPPER
from evolve.convert.peer_files import functions, imported_from, parse_python
from evolve.convert.report import Draft
from evolve.convert.values import as_float, carry_int
from evolve.errors import UserError

STAGES = ("evaluate_stage1", "evaluate_stage2", "evaluate_stage3")
RESULT = ("openevolve.evaluation_result:EvaluationResult", "openevolve:EvaluationResult")
"""What the local ``openevolve`` stand-in gives an evaluator to import."""


def read_evaluator(folder: Path) -> tuple[Path, ast.Module, set[str]]:
    """``evaluator.py``, parsed, and the names of its functions (it must define
    ``evaluate``)."""
    evaluator = folder / "evaluator.py"
    if not evaluator.is_file():
        raise UserError(f"{folder}: no evaluator.py (OpenEvolve's evaluator file)")
    tree = parse_python(evaluator)
    defined = functions(tree)
    if "evaluate" not in defined:
        raise UserError(f"{evaluator}: defines no evaluate(program_path) function")
    return evaluator, tree, defined


def note_evaluator(draft: Draft, tree: ast.Module) -> None:
    """Report the evaluator copied, and each import from ``openevolve`` the stand-in lacks."""
    draft.note("evaluator", f"evaluator.py: copied unchanged, called by {WRAPPER}")
    for name in sorted(imported_from(tree, "openevolve")):
        if name not in RESULT:
            draft.drop(
                f"evaluator.py imports {name}",
                "the local openevolve stand-in has only "
                "EvaluationResult: install OpenEvolve for evolve's Python, or remove it",
            )


def evaluator_settings(
    draft: Draft, evaluation: dict[str, Any], evaluator: Path, defined: set[str]
) -> tuple[list[str], list[float | None]]:
    """The evaluator's settings; returns OpenEvolve's cascade (functions and thresholds),
    empty when evolve is to call ``evaluate``."""
    returns_score = "combined_score" in evaluator.read_text(encoding="utf-8")
    draft.set("evaluator.path", WRAPPER, "", "")
    why = (
        "the evaluator returns it"
        if returns_score
        else "the evaluator returns none: the mean of its other numeric metrics, as "
        "OpenEvolve ranks programs"
    )
    draft.set(
        "evaluator.primary_metric",
        "combined_score",
        "",
        f'evaluator.primary_metric = "combined_score", maximized ({why})',
    )
    draft.raw["evaluator"]["direction"] = "maximize"
    if evaluation.get("memory_limit_mb") is not None:
        carry_int(
            draft, "sandbox.memory_mb", evaluation["memory_limit_mb"], "evaluator.memory_limit_mb"
        )
    if "parallel_evaluations" in evaluation:
        carry_int(
            draft,
            "search.max_in_flight",
            evaluation["parallel_evaluations"],
            "evaluator.parallel_evaluations",
        )
    args = evaluation.get("evaluator_args")
    if isinstance(args, dict) and args:
        fine = {k: v for k, v in args.items() if _option(v)}
        if fine:
            draft.set("evaluator.options", fine, "evaluator.evaluator_args")
        for key in sorted(set(args) - set(fine)):
            draft.drop(
                f"evaluator.evaluator_args.{key}",
                "evolve's options are text, numbers, booleans or lists of text or of numbers",
            )
    chain, thresholds = _cascade(draft, evaluation, defined)
    timeout = as_float(evaluation.get("timeout", 300))
    source = "evaluator.timeout" if "timeout" in evaluation else "OpenEvolve's default timeout"
    if timeout is None or timeout <= 0:
        draft.drop(source, f"{evaluation.get('timeout')!r} is not a number of seconds")
    elif len(chain) > 1:
        total = timeout * len(chain)
        draft.set(
            "sandbox.timeout",
            total,
            source,
            f"sandbox.timeout = {total!r} ({timeout!r} for each of {len(chain)} stages)",
        )
    else:
        draft.set("sandbox.timeout", timeout, source)
    return chain, thresholds


def _cascade(
    draft: Draft, evaluation: dict[str, Any], defined: set[str]
) -> tuple[list[str], list[float | None]]:
    """The stages OpenEvolve would call and the thresholds between them (both empty when
    the cascade is off or ``evaluate_stage1`` is missing)."""
    chain: list[str] = []
    thresholds: list[float | None] = []
    if evaluation.get("cascade_evaluation", True) is True and "evaluate_stage1" in defined:
        given = evaluation.get("cascade_thresholds", [0.5, 0.75, 0.9])
        given = given if isinstance(given, list) else []
        chain = ["evaluate_stage1"]
        if "evaluate_stage2" in defined:
            chain.append("evaluate_stage2")
            if "evaluate_stage3" in defined and len(given) >= 2:
                chain.append("evaluate_stage3")
        for index, function in enumerate(chain[:-1]):
            value = as_float(given[index]) if index < len(given) else None
            thresholds.append(value)
            if value is None:
                draft.drop(
                    f"evaluator.cascade_thresholds[{index}]",
                    f"missing or not a number: {function} passes on anything but an error",
                )
        shown = "".join(
            f"{f} (>= {t!r}) -> " if t is not None else f"{f} -> "
            for f, t in zip(chain, thresholds, strict=False)
        )
        draft.set(
            "evaluator.function",
            "evaluate_cascade",
            "evaluator.cascade_evaluation",
            f'evaluator.function = "evaluate_cascade": {shown}{chain[-1]} in one evaluation',
        )
        draft.drop(
            "evaluator.cascade_thresholds",
            "kept as OpenEvolve applies them, not as evolve's [[evaluator.stages]]: a program "
            "below a threshold keeps its earlier stage's score (evolve would discard it as "
            "filtered, and refuse a run whose initial program falls short)",
        )
        unused = [f for f in ("evaluate", *STAGES) if f in defined and f not in chain]
        if unused:
            draft.drop(
                f"evaluator.py's {', '.join(unused)}",
                f"not called: OpenEvolve's cascade does not call it here (it ends at {chain[-1]})",
            )
    elif any(f in defined for f in STAGES):
        draft.drop(
            "evaluator.py's evaluate_stage functions",
            "not used: the cascade is off (evaluator.cascade_evaluation)",
        )
    return chain, thresholds


def _option(value: Any) -> bool:
    if isinstance(value, str | int | float | bool):
        return True
    return isinstance(value, list) and (
        all(isinstance(v, str) for v in value)
        or all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    )
