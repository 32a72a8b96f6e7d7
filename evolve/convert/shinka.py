"""``evolve convert shinka``: a ShinkaEvolve task folder as an evolve problem.

ShinkaEvolve's layout: ``initial.<ext>`` with EVOLVE-BLOCK markers, ``evaluate.py`` (run as
``python evaluate.py --program_path P --results_dir D``; it usually calls
``shinka.core.run_shinka_eval``, which writes ``metrics.json`` and ``correct.json``), and the
settings in a YAML file (``evo_config``, ``db_config``, ``job_config`` and the runner's
``max_evaluation_jobs``...) and/or a run script (``run_evo.py``) that builds
``EvolutionConfig``, ``DatabaseConfig`` and ``LocalJobConfig``. The script is read, never run:
keyword arguments whose values are literals (or names of literals) count, and it wins over
the YAML where both say something, as it does when it loads the YAML and then sets keys.

The folder is copied; ``evolve_evaluator.py`` (from ``shims/shinka_evaluator.py``) runs
``evaluate.py`` unchanged and reads the two files, and a local ``shinka`` package gives it
``run_shinka_eval``. The primary metric is ``combined_score``, maximized.

This module finds the files, gathers the settings (from the YAML config and the run script,
read by ``shinka_script``) and puts the conversion together: ``shinka_keys`` says which
settings are dropped and why, and ``shinka_settings`` carries the others.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evolve.convert.output import WRAPPER, output_folder, write_problem
from evolve.convert.peer_config import named_config, peer_configs, read_yaml, withheld
from evolve.convert.peer_files import functions, imported_from, parse_python, source_folder
from evolve.convert.report import Conversion, Draft
from evolve.convert.shinka_keys import report_keys
from evolve.convert.shinka_script import NAMESPACES, RUNNER, find_script, read_script
from evolve.convert.shinka_settings import carry_settings
from evolve.convert.values import language_of
from evolve.errors import UserError

PEER = "ShinkaEvolve"
INITIAL_SUFFIXES = (".py", ".go", ".sv", ".jl", ".rs", ".cpp", ".cc", ".cxx", ".cu", ".swift")
INITIAL_SUFFIXES += (".json", ".f90", ".f95", ".f03", ".f08")
"""ShinkaEvolve's order of preference for ``initial.<ext>``."""


def convert(folder: Path, out: Path | None = None, config: Path | None = None) -> Conversion:
    """Convert the ShinkaEvolve task in ``folder`` (see the module's docstring)."""
    folder = source_folder(folder)
    target = output_folder(folder, out)
    draft = Draft(PEER)
    settings, read_from = _settings(folder, config, draft)
    evo, db, job, runner = (settings[k] for k in ("evo", "db", "job", "runner"))
    initial = _initial(folder, evo.get("init_program_path"), draft)
    evaluator = folder / Path(str(job.get("eval_program_path") or "evaluate.py")).name
    if not evaluator.is_file():
        raise UserError(f"{folder}: no {evaluator.name} (ShinkaEvolve's evaluator)")
    tree = parse_python(evaluator)
    if "main" not in functions(tree) and "__main__" not in evaluator.read_text(encoding="utf-8"):
        draft.drop(
            evaluator.name,
            "has neither a __main__ block nor main(program_path, "
            f"results_dir): {WRAPPER} cannot run it",
        )
    for name in sorted(imported_from(tree, "shinka")):
        if not name.endswith(":run_shinka_eval"):
            draft.drop(
                f"{evaluator.name} imports {name}",
                "the local shinka stand-in has only "
                "run_shinka_eval: install ShinkaEvolve for evolve's Python, or remove it",
            )

    draft.set("name", folder.name, "")
    draft.set("description", f"Converted from the ShinkaEvolve task {folder.name}.", "", "")
    draft.set("initial_program", initial.name, "", f"{initial.name}: copied unchanged")
    language_of(draft, initial, evo.get("language"), "evo_config.language")
    draft.note("evaluator", f"{evaluator.name}: copied unchanged, run by {WRAPPER}")
    draft.set("evaluator.path", WRAPPER, "", "")
    draft.set(
        "evaluator.primary_metric",
        "combined_score",
        "",
        'evaluator.primary_metric = "combined_score", maximized; correct = false in '
        "correct.json is the candidate's error",
    )
    draft.raw["evaluator"]["direction"] = "maximize"
    if "private" in evaluator.read_text(encoding="utf-8"):
        draft.drop(
            "private metrics",
            "left out: ShinkaEvolve hides them from the model, and "
            "evolve shows a candidate's metrics in its prompts",
        )

    report_keys(draft, settings)
    carry_settings(draft, evo, db, job, runner)
    draft.note("shims", f"{WRAPPER} and shinka/ (run_shinka_eval): written for evolve")
    found = set(peer_configs(folder, (*NAMESPACES, *RUNNER))) | set(read_from)
    configs = withheld(draft, found, evaluator)
    results = str(evo.get("results_dir") or "results").strip("./").split("/")[0]
    db_path = Path(str(db.get("db_path") or "evolution_db.sqlite")).name
    return write_problem(
        draft,
        folder,
        target,
        [
            ("shinka_evaluator.py", WRAPPER, {"PEER_FILE": evaluator.name}),
            ("shinka/__init__.py", "shinka/__init__.py", {}),
            ("shinka/core/__init__.py", "shinka/core/__init__.py", {}),
            ("shinka/core/wrap_eval.py", "shinka/core/wrap_eval.py", {}),
        ],
        skip=lambda p: (
            (p.parent == folder and p.name in ("shinka", results, db_path))
            or p.suffix == ".sqlite"
            or p in configs
        ),
    )


def _settings(
    folder: Path, config: Path | None, draft: Draft
) -> tuple[dict[str, dict[str, Any]], list[Path]]:
    """evo, db, job and runner settings (the YAML config's, then the run script's), and the
    files they were read from."""
    settings: dict[str, dict[str, Any]] = {"evo": {}, "db": {}, "job": {}, "runner": {}}
    script = find_script(folder)
    read = read_script(script, draft) if script else None
    if config is not None:
        path = named_config(folder, config)
        configs = {path.resolve(): read_yaml(path)}
    else:
        configs = {}
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            data = read_yaml(path)
            if any(k in data for k in (*NAMESPACES, *RUNNER)):
                configs[path] = data
        if len(configs) > 1 and read is not None:
            named = {p: d for p, d in configs.items() if p.name in read[1]}
            configs = named if len(named) == 1 else configs
        if len(configs) > 1:
            names = ", ".join(p.name for p in configs)
            raise UserError(f"{folder}: several configs ({names}); choose one with --config")
    if not configs and read is None:
        raise UserError(
            f"{folder}: no ShinkaEvolve config (a YAML file with evo_config/db_config, "
            "or run_evo.py)"
        )
    for path, data in configs.items():
        draft.note("config", f"settings read from {path.name}")
        for key, value in data.items():
            if key in NAMESPACES and isinstance(value, dict):
                settings[NAMESPACES[key]].update(value)
            elif key in (*RUNNER, "verbose", "debug"):
                settings["runner"][key] = value
            else:
                draft.drop(
                    f"{path.name}: {key}",
                    "not a setting evolve convert knows for ShinkaEvolve; ignored",
                )
    if read is not None and script is not None:
        draft.note("script", f"settings read from {script.name} (not run)")
        for where, values in read[0].items():
            settings[where].update(values)
    return settings, [*configs, *([script] if script else [])]


def _initial(folder: Path, said: Any, draft: Draft) -> Path:
    """The initial program the config names, else ``initial.<ext>`` (by ShinkaEvolve's
    order of extensions)."""
    if isinstance(said, str) and said.strip():
        path = folder / Path(said.strip()).name
        if path.is_file():
            return path
        draft.drop(
            "evo_config.init_program_path",
            f"{said!r} is not in {folder.name}; looking for initial.<ext>",
        )
    for suffix in INITIAL_SUFFIXES:
        if (folder / f"initial{suffix}").is_file():
            return folder / f"initial{suffix}"
    raise UserError(f"{folder}: no initial program (initial.<ext>, e.g. initial.py)")
