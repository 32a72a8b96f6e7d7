"""Built-in evaluator plugin ``function_cases``: call a candidate's function on test cases.

Each case runs in a fresh process of the candidate's own (``evolve.sdk.runner``), so no
state carries over and nothing the candidate does reaches this evaluator; its answer is
compared with the expected one (exactly, or within a tolerance). score = the fraction of
cases answered correctly; the artifact ``failures`` lists the cases that were not. A
program that does not load, or lacks the function, is an error.

Cases are a JSON list of ``{"args": [...], "kwargs": {...}, "expected": ..., "name": "..."}``
(``kwargs`` and ``name`` optional), in a file next to problem.toml or inline::

    [evaluator]
    plugin = "function_cases"
    primary_metric = "score"
    [evaluator.options]
    function = "solve"
    cases_file = "cases.json"      # or: cases = '[{"args": [2, 3], "expected": 5}]'
    abs_tol = 1e-9                 # default 0: numbers must be equal
    rel_tol = 0.0
    timeout = 10.0                 # seconds per case (never more than the evaluation has left)

The candidate can read the cases file like any file of the problem: use it to check work,
not to keep answers secret.
"""

from __future__ import annotations

import json
from typing import Any

from evolve import EvaluationResult
from evolve.sdk import CallError, run
from evolve.sdk.compare import mismatch, show

MAX_LISTED = 20


def load_cases(cases: str, cases_file: str) -> list[dict[str, Any]]:
    """The cases from the file or the inline JSON, checked."""
    if bool(cases) == bool(cases_file):
        raise ValueError(
            "function_cases needs exactly one of [evaluator.options] cases_file = 'cases.json' "
            "or cases = '[...]'"
        )
    where = cases_file or "the cases option"
    try:
        if cases_file:
            with open(cases_file, encoding="utf-8") as fh:
                raw = json.load(fh)
        else:
            raw = json.loads(cases)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{where}: cannot read the cases as JSON: {exc}") from None
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where}: the cases must be a non-empty JSON list")
    for number, case in enumerate(raw):
        if not isinstance(case, dict) or "expected" not in case:
            raise ValueError(f"{where}: case {number} must be an object with an 'expected' key")
        unknown = set(case) - {"args", "kwargs", "expected", "name"}
        if unknown:
            raise ValueError(f"{where}: case {number} has unknown keys {sorted(unknown)}")
        if not isinstance(case.get("args", []), list):
            raise ValueError(f"{where}: case {number}: 'args' must be a list")
        if not isinstance(case.get("kwargs", {}), dict):
            raise ValueError(f"{where}: case {number}: 'kwargs' must be an object")
    return raw


def evaluate(
    program_path: str,
    function: str = "",
    cases: str = "",
    cases_file: str = "",
    abs_tol: float = 0.0,
    rel_tol: float = 0.0,
    timeout: float = 10.0,
) -> EvaluationResult:
    """Score = the fraction of cases for which ``function`` returns the expected value."""
    if not function:
        raise ValueError("function_cases needs [evaluator.options] function = 'NAME'")
    checked = load_cases(cases, cases_file)
    failures: list[str] = []
    for number, case in enumerate(checked):
        label = f"case {number}" + (f" ({case['name']})" if case.get("name") else "")
        args, kwargs = case.get("args", []), case.get("kwargs", {})
        shown = ", ".join([*map(show, args), *(f"{k}={show(v)}" for k, v in kwargs.items())])
        try:
            answer = run(program_path, function, args, kwargs, timeout=timeout).value
        except CallError as exc:
            if exc.during == "load":
                raise
            failures.append(f"{label}: {function}({shown}): {exc}")
            continue
        wrong = mismatch(answer, case["expected"], abs_tol, rel_tol)
        if wrong:
            failures.append(f"{label}: {function}({shown}) {wrong}")
    total = len(checked)
    passed = total - len(failures)
    listed = failures[:MAX_LISTED]
    if len(failures) > MAX_LISTED:
        listed.append(f"... and {len(failures) - MAX_LISTED} more failing cases")
    return EvaluationResult(
        metrics={"score": passed / total, "passed": passed, "total": total},
        artifacts={"failures": "\n".join(listed)} if listed else {},
    )
