"""``evolve convert openevolve``: an OpenEvolve problem folder as an evolve problem.

OpenEvolve's layout: ``initial_program.<ext>`` with EVOLVE-BLOCK markers, ``evaluator.py``
with ``evaluate(program_path)`` (and optionally ``evaluate_stage1/2/3`` for its cascade)
returning a dict or ``openevolve.evaluation_result.EvaluationResult``, and a YAML config
(``config.yaml``: ``max_iterations``, ``random_seed``, ``llm``, ``prompt``, ``database``,
``evaluator``...). The folder is copied; ``evolve_evaluator.py`` (from
``shims/openevolve_evaluator.py``) calls the evaluator unchanged, and a local ``openevolve``
package gives it ``EvaluationResult``. The primary metric is ``combined_score``, maximized:
the evaluator's own, or the mean OpenEvolve ranks by when it returns none.

This module finds the files and puts the conversion together: ``openevolve_keys`` says
which keys of the config are dropped and why, ``openevolve_settings`` carries the search,
features, prompt and models, and ``openevolve_evaluation`` the evaluator and its cascade.
"""

from __future__ import annotations

from pathlib import Path

from evolve.convert.openevolve_evaluation import evaluator_settings, note_evaluator, read_evaluator
from evolve.convert.openevolve_keys import sections
from evolve.convert.openevolve_settings import (
    feature_settings,
    llm_settings,
    prompt_setting,
    search_settings,
)
from evolve.convert.output import WRAPPER, output_folder, write_problem
from evolve.convert.peer_config import named_config, peer_configs, read_yaml, withheld
from evolve.convert.peer_files import find_one, source_folder
from evolve.convert.report import Conversion, Draft
from evolve.convert.values import language_of
from evolve.errors import UserError

PEER = "OpenEvolve"


def convert(folder: Path, out: Path | None = None, config: Path | None = None) -> Conversion:
    """Convert the OpenEvolve problem in ``folder`` (see the module's docstring)."""
    folder = source_folder(folder)
    target = output_folder(folder, out)
    config_file = _config_file(folder, config)
    data = read_yaml(config_file)
    initial = _initial(folder)
    evaluator, tree, defined = read_evaluator(folder)

    draft = Draft(PEER)
    draft.set("name", folder.name, "")
    draft.set("description", f"Converted from the OpenEvolve problem {folder.name}.", "", "")
    draft.set("initial_program", initial.name, "", f"{initial.name}: copied unchanged")
    language_of(draft, initial, data.get("language"), "language")
    note_evaluator(draft, tree)
    llm, prompt, database, evaluation = sections(draft, data)

    search_settings(draft, data, database, prompt)
    features = feature_settings(draft, database)
    chain, thresholds = evaluator_settings(draft, evaluation, evaluator, defined)
    prompt_setting(draft, prompt)
    llm_settings(draft, llm, data)
    draft.note("shims", f"{WRAPPER} and openevolve/ (EvaluationResult): written for evolve")
    found = {config_file, *peer_configs(folder, ("llm", "prompt", "database", "evaluator"))}
    configs = withheld(draft, found, evaluator)
    return write_problem(
        draft,
        folder,
        target,
        [
            (
                "openevolve_evaluator.py",
                WRAPPER,
                {
                    "FEATURE_DIMENSIONS": tuple(features),
                    "CASCADE": tuple(chain),
                    "THRESHOLDS": tuple(thresholds),
                },
            ),
            ("openevolve/__init__.py", "openevolve/__init__.py", {}),
            ("openevolve/evaluation_result.py", "openevolve/evaluation_result.py", {}),
        ],
        skip=lambda p: (
            p.name.startswith("openevolve_output")
            or (p.parent == folder and p.name == "openevolve")
            or p in configs
        ),
    )


def _initial(folder: Path) -> Path:
    """``initial_program.<ext>``, or else the one other file with EVOLVE-BLOCK markers."""
    try:
        return find_one(folder, "initial_program.*", "initial program", prefer=(".py",))
    except UserError:
        marked = [
            p
            for p in sorted(folder.iterdir())
            if p.is_file()
            and p.name != "evaluator.py"
            and p.stat().st_size < 1_000_000
            and "EVOLVE-BLOCK-START" in p.read_text(encoding="utf-8", errors="replace")
        ]
        if len(marked) == 1:
            return marked[0]
        raise


def _config_file(folder: Path, config: Path | None) -> Path:
    """The config given, else config.yaml, else the folder's one YAML file."""
    if config is not None:
        return named_config(folder, config).resolve()
    for name in ("config.yaml", "config.yml"):
        if (folder / name).is_file():
            return folder / name
    found = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if len(found) == 1:
        return found[0]
    if not found:
        raise UserError(f"{folder}: no OpenEvolve config (config.yaml)")
    names = ", ".join(p.name for p in found)
    raise UserError(f"{folder}: several configs ({names}); choose one with --config")
