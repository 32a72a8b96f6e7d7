"""evolve's side of an evaluator converted from ShinkaEvolve (``evolve convert shinka``).

ShinkaEvolve runs ``python evaluate.py --program_path P --results_dir D`` and reads
``D/metrics.json`` and ``D/correct.json``. ``evaluate`` here does the same in this process:
it runs the unchanged evaluator beside this file (``PEER_FILE``) as a script, with those
arguments (plus ``--KEY VALUE`` for each of the problem's ``[evaluator.options]``, as
ShinkaEvolve adds ``extra_cmd_args``) and the working directory set to this folder, as
ShinkaEvolve starts it from the task's folder. A script without a ``__main__`` block that
defines ``main(program_path, results_dir)`` gets that called instead. Its ``shinka.core``
import finds the local stand-in, whose ``run_shinka_eval`` runs the candidate in this
process, as ShinkaEvolve's does.

Then the two files become evolve's result:

* ``correct: false`` is the candidate's error, with the evaluator's message (ShinkaEvolve
  keeps such programs as incorrect; evolve records them as failed);
* ``combined_score`` (0 when absent, as ShinkaEvolve reads it) is evolve's primary metric;
  the other numbers at the top level and in ``public`` are metrics too (a ``public`` name
  that is already taken is prefixed ``public.``);
* ``text_feedback``, and text, lists and tables among them, become artifacts, which evolve
  shows the model next time;
* ``private`` metrics are left out: ShinkaEvolve keeps them from the model, and evolve
  shows a candidate's metrics in its prompts.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import tempfile
from pathlib import Path
from typing import Any

from evolve.sdk.result import EvaluationResult

PEER_FILE = "evaluate.py"
"""The ShinkaEvolve evaluator, beside this file (set by evolve convert)."""
PRIMARY = "combined_score"


class IncorrectProgram(Exception):
    """The evaluator judged the candidate incorrect (``correct.json``)."""


def _number(value: Any) -> float | None:
    if isinstance(value, bool | int | float):
        return float(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        inner = item()
        if isinstance(inner, bool | int | float):
            return float(inner)
    return None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return json.dumps(value, indent=1, default=str)


def _run(program_path: str, results: Path, options: dict[str, Any]) -> None:
    folder = Path(__file__).resolve().parent
    script = folder / PEER_FILE
    argv = [str(script), "--program_path", str(Path(program_path).resolve())]
    argv += ["--results_dir", str(results)]
    for key, value in options.items():
        argv += [f"--{key}", str(value)]
    saved_argv, saved_cwd = sys.argv, os.getcwd()
    sys.argv = argv
    os.chdir(folder)
    try:
        names = runpy.run_path(str(script), run_name="__main__")
        main = names.get("main")
        if not (results / "metrics.json").exists() and callable(main):
            main(argv[2], str(results))
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise RuntimeError(f"{PEER_FILE} exited with status {exc.code}") from None
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)


def _read(results: Path, name: str) -> Any:
    path = results / name
    if not path.exists():
        raise RuntimeError(
            f"{PEER_FILE} wrote no {name} (ShinkaEvolve reads it from --results_dir)"
        )
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def convert(metrics_json: Any, correct_json: Any) -> EvaluationResult:
    """evolve's result for what the evaluator wrote; raises for an incorrect program."""
    correct = correct_json.get("correct", False) if isinstance(correct_json, dict) else False
    if correct is not True:
        why = correct_json.get("error") if isinstance(correct_json, dict) else None
        raise IncorrectProgram(why or "the evaluator marked the program incorrect")
    if not isinstance(metrics_json, dict):
        raise TypeError(f"metrics.json holds {type(metrics_json).__name__}, not a table")
    metrics: dict[str, float] = {}
    artifacts: dict[str, str] = {}
    public = metrics_json.get("public")
    for key, value in metrics_json.items():
        if key in ("public", "private"):
            continue
        number = _number(value)
        if number is not None:
            metrics[key] = number
        elif value not in (None, "", [], {}):
            artifacts[key] = _text(value)
    for key, value in (public if isinstance(public, dict) else {}).items():
        name = key if key not in metrics and key not in artifacts else f"public.{key}"
        number = _number(value)
        if number is not None:
            metrics[name] = number
        elif value not in (None, "", [], {}):
            artifacts[name] = _text(value)
    metrics.setdefault(PRIMARY, 0.0)
    return EvaluationResult(metrics=metrics, artifacts=artifacts)


def evaluate(program_path: str, **options: Any) -> EvaluationResult:
    results = Path(tempfile.mkdtemp(prefix="shinka-results-"))
    _run(program_path, results, options)
    return convert(_read(results, "metrics.json"), _read(results, "correct.json"))
