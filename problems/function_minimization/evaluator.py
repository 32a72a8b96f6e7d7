"""Evaluator for the function_minimization problem (Levi N.13 on [-10, 10]^2).

For each of a few fixed seeds ``run_search(seed)`` is called in a fresh process of its own
(``evolve.sdk.call``: nothing the candidate does there, such as patching numpy or
``math``, reaches this process, and what it returns comes back as plain data). It must
return ``(x, y, value)``: three finite real numbers with the point inside the bounds (no
tolerance). The value the program reports is not trusted: the objective is
recomputed at (x, y) with this file's own implementation, and the score is that.

Any violation raises ``ValueError`` with a one-line reason; a candidate that raises, hangs,
crashes or returns something that is not data raises ``evolve.sdk.CallError``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from evolve import EvaluationResult
from evolve.sdk import CallError, call

SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)
LOW: float = -10.0
HIGH: float = 10.0
OPTIMUM: tuple[float, float] = (1.0, 1.0)

# Exactly these types count as real numbers; subclasses (which could override
# ``__float__``) and bools are refused.
_REAL_TYPES: frozenset[type] = frozenset(
    {int, float}
    | {np.dtype(code).type for code in np.typecodes["AllInteger"] + np.typecodes["Float"]}
)


def levi13(x: float, y: float) -> float:
    """Levi function N.13, computed independently of the candidate."""
    return (
        math.sin(3.0 * math.pi * x) ** 2
        + (x - 1.0) ** 2 * (1.0 + math.sin(3.0 * math.pi * y) ** 2)
        + (y - 1.0) ** 2 * (1.0 + math.sin(2.0 * math.pi * x) ** 2)
    )


def _real(value: Any, what: str) -> float:
    """``value`` as a finite float, or ValueError if it is not a finite real number."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if type(value) not in _REAL_TYPES:
        raise ValueError(f"{what} must be a real number, got {type(value).__name__}")
    try:
        result = float(value)
    except OverflowError:
        raise ValueError(f"{what} is too large to be a float") from None
    if not math.isfinite(result):
        raise ValueError(f"{what} is not finite ({result})")
    return result


def _run_one(program_path: str, seed: int) -> tuple[float, float, float]:
    """Run the candidate for one seed, in a fresh process of its own; return the checked
    (x, y, reported value)."""
    try:
        out = call(program_path, "run_search", seed)
    except CallError as exc:
        raise CallError(exc.kind, f"seed {seed}: {exc}", traceback=exc.traceback) from None
    if not isinstance(out, tuple | list) or len(out) != 3:
        raise ValueError(
            f"seed {seed}: run_search must return (x, y, value), got {type(out).__name__}"
            + (f" of length {len(out)}" if isinstance(out, tuple | list) else "")
        )
    x = _real(out[0], f"seed {seed}: x")
    y = _real(out[1], f"seed {seed}: y")
    reported = _real(out[2], f"seed {seed}: reported value")
    for label, v in (("x", x), ("y", y)):
        if not LOW <= v <= HIGH:
            raise ValueError(f"seed {seed}: {label} = {v!r} is outside the bounds [{LOW}, {HIGH}]")
    return x, y, reported


def evaluate(program_path: str) -> EvaluationResult:
    """Score a candidate by the true objective at its points, averaged over ``SEEDS``."""
    values: list[float] = []
    distances: list[float] = []
    errors: list[float] = []
    lines: list[str] = []
    for seed in SEEDS:
        x, y, reported = _run_one(program_path, seed)
        value = levi13(x, y)
        if not math.isfinite(value):
            raise ValueError(f"seed {seed}: objective at ({x!r}, {y!r}) is not finite")
        values.append(value)
        distances.append(math.hypot(x - OPTIMUM[0], y - OPTIMUM[1]))
        errors.append(abs(reported - value))
        lines.append(
            f"seed {seed}: x={x:.6g} y={y:.6g} value={value:.6g} (reported {reported:.6g})"
        )
    n = len(SEEDS)
    metrics = {
        "value": math.fsum(values) / n,
        "best_value": min(values),
        "distance": math.fsum(distances) / n,
        "reported_error": math.fsum(errors) / n,
    }
    return EvaluationResult(metrics=metrics, artifacts={"per_seed": "\n".join(lines)})
