"""evolve's side of an evaluator converted from OpenEvolve (``evolve convert openevolve``).

evolve calls the functions here; each loads the OpenEvolve evaluator beside this file
(unchanged, ``PEER_FILE``) and calls it as OpenEvolve would:

* ``evaluate``: its ``evaluate``, with the problem's ``[evaluator.options]`` as keyword
  arguments (as OpenEvolve passes ``evaluator.evaluator_args``);
* ``evaluate_cascade``: OpenEvolve's cascade, in one evaluation: the functions of
  ``CASCADE`` in turn (``evaluate_stage1``, ``evaluate_stage2``...), going on to the next
  only while the score so far reaches its threshold (``THRESHOLDS``). A program that falls
  short keeps the last stage's result, as in OpenEvolve (evolve's own
  ``[[evaluator.stages]]`` would discard it as ``filtered``); the ``cascade`` artifact says
  where it stopped. A failure after the first stage keeps the results so far, with
  ``stageN_passed = 0`` and the traceback, as OpenEvolve does; a failure in the first is
  the candidate's error.

What the evaluator returns (a dict, or an ``EvaluationResult`` of the local ``openevolve``
stand-in) becomes evolve's result:

* numbers (and booleans) stay metrics; text, bytes and anything else become artifacts,
  which evolve stores with the candidate and shows the model next time;
* ``combined_score``, evolve's primary metric here, is the evaluator's own when it returns
  one; otherwise it is what OpenEvolve ranks programs by: the mean of the numeric metrics,
  leaving out booleans, ``error`` and the MAP-Elites feature dimensions
  (``FEATURE_DIMENSIONS``), and 0 when there are none.

An exception is the candidate's error (OpenEvolve retried and then scored 0; evolve
records the error and its traceback).
"""

from __future__ import annotations

import importlib.util
import math
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from evolve.sdk.result import EvaluationResult

PEER_FILE = "evaluator.py"
"""The OpenEvolve evaluator, beside this file (set by evolve convert)."""
FEATURE_DIMENSIONS: tuple[str, ...] = ()
"""OpenEvolve's database.feature_dimensions: left out of the mean (set by evolve convert)."""
CASCADE: tuple[str, ...] = ()
"""The cascade's functions, in order (set by evolve convert)."""
THRESHOLDS: tuple[float | None, ...] = ()
"""The score each function but the last must reach to go on (set by evolve convert)."""
PRIMARY = "combined_score"

_loaded: ModuleType | None = None


def _peer() -> ModuleType:
    """The OpenEvolve evaluator, loaded once per process as OpenEvolve loads it."""
    global _loaded
    if _loaded is None:
        path = Path(__file__).resolve().parent / PEER_FILE
        spec = importlib.util.spec_from_file_location("evaluation_module", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules["evaluation_module"] = module
        spec.loader.exec_module(module)
        _loaded = module
    return _loaded


def _number(value: Any) -> float | None:
    if isinstance(value, bool | int | float):
        return float(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        inner = item()
        if isinstance(inner, bool | int | float):
            return float(inner)
    return None


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else repr(value)


def _fitness(raw: dict[str, Any]) -> float:
    """OpenEvolve's ranking score when the evaluator gives no ``combined_score``."""
    values = [
        number
        for key, value in raw.items()
        if key != "error" and key not in FEATURE_DIMENSIONS and not isinstance(value, bool)
        for number in [_number(value)]
        if number is not None and not math.isnan(number)
    ]
    return sum(values) / len(values) if values else 0.0


def _parts(result: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The metrics and artifacts of what an OpenEvolve evaluation function returned."""
    if isinstance(result, dict):
        raw, raw_artifacts = result, {}
    elif hasattr(result, "metrics"):
        raw, raw_artifacts = result.metrics, getattr(result, "artifacts", None) or {}
    else:
        raise TypeError(
            f"{PEER_FILE} returned {type(result).__name__}; expected a dict of metrics or "
            "an EvaluationResult"
        )
    if not isinstance(raw, dict):
        raise TypeError(f"{PEER_FILE}: metrics must be a dict, not {type(raw).__name__}")
    return dict(raw), dict(raw_artifacts)


def convert(raw: dict[str, Any], raw_artifacts: dict[str, Any]) -> EvaluationResult:
    """evolve's result for an OpenEvolve evaluation's metrics and artifacts."""
    metrics: dict[str, float] = {}
    artifacts = {str(k): _text(v) for k, v in raw_artifacts.items()}
    for key, value in raw.items():
        number = _number(value)
        if number is None:
            artifacts[str(key)] = _text(value)
        else:
            metrics[str(key)] = number
    if PRIMARY not in metrics:
        metrics[PRIMARY] = _fitness(raw)
    return EvaluationResult(metrics=metrics, artifacts=artifacts)


def _score(metrics: dict[str, Any]) -> float:
    """What a cascade threshold is compared with: ``combined_score``, else the mean."""
    number = _number(metrics.get(PRIMARY))
    return number if number is not None else _fitness(metrics)


def _numeric(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics OpenEvolve keeps when it merges stages: numbers, less ``error``."""
    return {k: v for k, v in metrics.items() if k != "error" and _number(v) is not None}


def evaluate(program_path: str, **evaluator_args: Any) -> EvaluationResult:
    return convert(*_parts(_peer().evaluate(program_path, **evaluator_args)))


def evaluate_cascade(program_path: str, **_options: Any) -> EvaluationResult:
    peer = _peer()
    metrics, artifacts = _parts(getattr(peer, CASCADE[0])(program_path))
    for number, function in enumerate(CASCADE[1:], start=2):
        threshold = THRESHOLDS[number - 2]
        score = _score(metrics)
        if threshold is not None and not score >= threshold:
            artifacts["cascade"] = (
                f"stopped after {CASCADE[number - 2]}: score {score!r} is below its "
                f"threshold {threshold!r}"
            )
            break
        try:
            more, more_artifacts = _parts(getattr(peer, function)(program_path))
        except Exception as exc:  # noqa: BLE001 - kept with the earlier stages, as OpenEvolve does
            metrics[f"stage{number}_passed"] = 0.0
            artifacts[f"stage{number}_error"] = f"{type(exc).__name__}: {exc}"
            artifacts[f"stage{number}_traceback"] = traceback.format_exc()
            break
        metrics = _numeric(metrics) | _numeric(more)
        artifacts |= more_artifacts
    return convert(metrics, artifacts)
