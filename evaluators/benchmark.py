"""Built-in evaluator plugin ``benchmark``: how much faster the candidate's function is
than a baseline implementation, on given inputs, when its answers are the same.

Every run of either implementation is a fresh process (``evolve.sdk.runner``); the time
measured is from sending the arguments to receiving the answer, so start-up and import
are not counted, and the candidate cannot touch the clock that measures it. Runs of the
baseline and the candidate alternate, ``repeats`` times per input, and each input's time
is the median. Every answer of the candidate is compared with the baseline's (exactly,
or within a tolerance); one that differs is an error naming the input.

score ``speedup`` = total baseline time / total candidate time (> 1: faster).

    [evaluator]
    plugin = "benchmark"
    primary_metric = "speedup"
    [evaluator.options]
    function = "sort_numbers"
    baseline_file = "baseline.py"   # the same function, next to problem.toml
    inputs_file = "inputs.json"     # a JSON list of argument lists; or inline: inputs = '[[...]]'
    arrays = false                  # true: list arguments become numpy float64 arrays
    repeats = 5
    abs_tol = 0.0
    rel_tol = 0.0
    timeout = 30.0                  # seconds per run (never more than the evaluation has left)

The candidate can read the inputs file like any file of the problem; a candidate that
precomputes answers from it at import time is not timed for that work.
"""

from __future__ import annotations

import json
import math
import statistics
from typing import Any

from evolve import EvaluationResult
from evolve.sdk import CallError, run
from evolve.sdk.compare import mismatch


def load_inputs(inputs: str, inputs_file: str, arrays: bool) -> list[list[Any]]:
    """The argument lists, from the file or the inline JSON, checked."""
    if bool(inputs) == bool(inputs_file):
        raise ValueError(
            "benchmark needs exactly one of [evaluator.options] inputs_file = 'inputs.json' "
            "or inputs = '[[...]]'"
        )
    where = inputs_file or "the inputs option"
    try:
        if inputs_file:
            with open(inputs_file, encoding="utf-8") as fh:
                raw = json.load(fh)
        else:
            raw = json.loads(inputs)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{where}: cannot read the inputs as JSON: {exc}") from None
    if not isinstance(raw, list) or not raw or not all(isinstance(a, list) for a in raw):
        raise ValueError(f"{where}: the inputs must be a non-empty JSON list of argument lists")
    if not arrays:
        return raw
    import numpy as np

    return [
        [np.asarray(a, dtype=np.float64) if isinstance(a, list) else a for a in args]
        for args in raw
    ]


def evaluate(
    program_path: str,
    function: str = "",
    baseline_file: str = "",
    inputs: str = "",
    inputs_file: str = "",
    arrays: bool = False,
    repeats: int = 5,
    abs_tol: float = 0.0,
    rel_tol: float = 0.0,
    timeout: float = 30.0,
) -> EvaluationResult:
    """Speed-up of ``function`` over the baseline's, on every input, answers checked."""
    if not function or not baseline_file:
        raise ValueError(
            "benchmark needs [evaluator.options] function = 'NAME' and baseline_file = 'FILE'"
        )
    if repeats < 1:
        raise ValueError(f"benchmark: repeats must be at least 1 (got {repeats})")
    cases = load_inputs(inputs, inputs_file, arrays)
    base_total = cand_total = 0.0
    lines: list[str] = []
    for number, args in enumerate(cases):
        base_times: list[float] = []
        cand_times: list[float] = []
        for _ in range(repeats):
            try:
                base = run(baseline_file, function, args, timeout=timeout, echo=False)
            except CallError as exc:
                raise RuntimeError(f"input {number}: the baseline failed: {exc}") from None
            try:
                cand = run(program_path, function, args, timeout=timeout)
            except CallError as exc:
                raise CallError(
                    exc.kind, f"input {number}: {exc}", traceback=exc.traceback, during=exc.during
                ) from None
            wrong = mismatch(cand.value, base.value, abs_tol, rel_tol)
            if wrong:
                raise ValueError(
                    f"input {number}: {function}'s answer differs from the baseline's: {wrong}"
                )
            base_times.append(base.seconds)
            cand_times.append(cand.seconds)
        base_median = statistics.median(base_times)
        cand_median = statistics.median(cand_times)
        base_total += base_median
        cand_total += cand_median
        lines.append(
            f"input {number}: baseline {base_median * 1e3:.3f} ms, candidate "
            f"{cand_median * 1e3:.3f} ms, speed-up {base_median / max(cand_median, 1e-9):.3g}"
        )
    speedup = base_total / max(cand_total, 1e-9)
    return EvaluationResult(
        metrics={
            "speedup": speedup if math.isfinite(speedup) else 0.0,
            "baseline_seconds": base_total,
            "candidate_seconds": cand_total,
        },
        artifacts={"timings": "\n".join(lines)},
    )
