"""``run_shinka_eval`` for a converted ShinkaEvolve evaluator (``evolve convert shinka``).

It does what ShinkaEvolve documents, in this process: load the candidate program, call its
experiment function ``num_runs`` times (keyword arguments from ``get_experiment_kwargs(i)``,
else ``seed=i + 1``), check each result with ``validate_fn``, turn the results into metrics
with ``aggregate_metrics_fn``, add the run-time statistics and validation counts, write
``metrics.json`` and ``correct.json`` to ``results_dir`` and return ``(metrics, correct,
error)``. A NaN or infinite ``combined_score`` makes the program incorrect; an exception
gives the error metrics (``default_metrics_on_error`` over the usual zeros) and
``correct = False``. ``extra_data`` in the metrics is pickled to ``extra.pkl``.

Differences: runs are always sequential (``run_workers`` is accepted and ignored: evolve's
sandbox gives an evaluation its CPUs), early stopping is not done (every run runs), and
``plotting_fn`` is not called.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import pickle
import statistics
import time
from collections.abc import Callable
from typing import Any

ERROR_METRICS: dict[str, Any] = {
    "combined_score": 0.0,
    "execution_time_mean": 0.0,
    "execution_time_std": 0.0,
    "num_successful_runs": 0,
    "num_valid_runs": 0,
    "num_invalid_runs": 0,
    "all_validation_errors": [],
}


def load_program(program_path: str) -> Any:
    """The candidate program, imported from its file as the module ``program``."""
    spec = importlib.util.spec_from_file_location("program", program_path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load a module from {program_path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _plain(value: Any) -> Any:
    """JSON for numpy scalars and arrays (and a string for anything else)."""
    for method in ("item", "tolist"):
        convert = getattr(value, method, None)
        if callable(convert):
            try:
                return convert()
            except (TypeError, ValueError):
                continue
    return str(value)


def save_json_results(
    results_dir: str,
    metrics: dict[str, Any],
    correct: bool,
    error: str | None = None,
    verbose: bool = True,
) -> None:
    """Write ``correct.json`` (``{"correct", "error"}``) and ``metrics.json``."""
    os.makedirs(results_dir, exist_ok=True)
    with open(os.path.join(results_dir, "correct.json"), "w", encoding="utf-8") as fh:
        json.dump({"correct": bool(correct), "error": error}, fh, indent=2)
    with open(os.path.join(results_dir, "metrics.json"), "w", encoding="utf-8") as fh:
        json.dump(metrics, fh, indent=2, default=_plain)
    if verbose:
        print(f"results written to {results_dir}")


def run_shinka_eval(
    program_path: str,
    results_dir: str,
    experiment_fn_name: str,
    num_runs: int,
    get_experiment_kwargs: Callable[[int], dict[str, Any]] | None = None,
    aggregate_metrics_fn: Callable[[list[Any]], dict[str, Any]] | None = None,
    validate_fn: Callable[[Any], tuple[bool, str | None]] | None = None,
    plotting_fn: Callable[[Any], list[Any]] | None = None,
    default_metrics_on_error: dict[str, Any] | None = None,
    early_stop_method: Any = None,
    early_stop_threshold: float | None = None,
    early_stop_score_fn: Callable[[Any], float] | None = None,
    early_stop_kwargs: dict[str, Any] | None = None,
    run_workers: int = 1,
    max_workers_cap: int | None = None,
    verbose: bool | None = None,
) -> tuple[dict[str, Any], bool, str | None]:
    """Run the program's ``experiment_fn_name`` ``num_runs`` times and score it (see the
    module's docstring); returns ``(metrics, correct, first_error)``."""
    if verbose is None:
        verbose = os.environ.get("SHINKA_EVAL_VERBOSE", "1") != "0"
    correct = True
    error: str | None = None
    results: list[Any] = []
    seconds: list[float] = []
    errors: list[str] = []
    valid = invalid = 0
    try:
        module = load_program(program_path)
        experiment = getattr(module, experiment_fn_name, None)
        if experiment is None:
            raise AttributeError(
                f"Experiment function '{experiment_fn_name}' not found in {program_path}"
            )
        for index in range(num_runs):
            kwargs = get_experiment_kwargs(index) if get_experiment_kwargs else {"seed": index + 1}
            started = time.perf_counter()
            result = experiment(**kwargs)
            seconds.append(time.perf_counter() - started)
            results.append(result)
            if verbose:
                print(f"run {index + 1}/{num_runs} took {seconds[-1]:.2f}s")
            if validate_fn is None:
                continue
            ok, message = validate_fn(result)
            if ok:
                valid += 1
                continue
            invalid += 1
            correct = False
            if message:
                error = error or f"Validation failed: {message}"
                if message not in errors:
                    errors.append(message)
        if aggregate_metrics_fn is not None:
            metrics = dict(aggregate_metrics_fn(results))
        else:
            metrics = {
                "num_successful_runs": len(results),
                "first_run_result_type": str(type(results[0])) if results else "N/A",
                "raw_results_preview": str(results[:2]) if results else "N/A",
            }
        metrics["execution_time_mean"] = statistics.fmean(seconds) if seconds else 0.0
        metrics["execution_time_std"] = statistics.pstdev(seconds) if seconds else 0.0
        if validate_fn is not None:
            metrics["num_valid_runs"] = valid
            metrics["num_invalid_runs"] = invalid
            metrics["all_validation_errors"] = errors
        score = metrics.get("combined_score")
        if isinstance(score, int | float) and not math.isfinite(score):
            correct = False
            error = error or f"combined_score is {score}"
    except Exception as exc:  # noqa: BLE001 - any failure of the candidate or the evaluator
        print(f"Evaluation error: {exc}")
        metrics = {**ERROR_METRICS, **(default_metrics_on_error or {})}
        if validate_fn is not None:
            metrics["num_invalid_runs"] = len(results) or num_runs
            metrics["all_validation_errors"] = [str(exc)]
        correct = False
        error = str(exc)
    if "extra_data" in metrics:
        os.makedirs(results_dir, exist_ok=True)
        with open(os.path.join(results_dir, "extra.pkl"), "wb") as fh:
            pickle.dump(metrics.pop("extra_data"), fh)
    save_json_results(results_dir, metrics, correct, error, verbose=verbose)
    return metrics, correct, error
