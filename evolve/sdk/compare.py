"""Comparing a candidate's answer with the expected one, for evaluators and plugins.

``mismatch(actual, expected, abs_tol=0, rel_tol=0)`` returns ``""`` when they agree and a
one-line description of the first difference otherwise. Numbers agree exactly, or within
the tolerances when either is given; NaN agrees with nothing; bools are not numbers; a
list, a tuple and a 1-d array of the same items agree (JSON has only lists); dicts agree
key by key. Meant for values that came back through ``evolve.sdk.runner`` (plain data).
Standard library only; numpy arrays are read with ``tolist()``.
"""

from __future__ import annotations

import math
from typing import Any

_SHOWN = 80


def show(value: Any) -> str:
    """A short repr for messages."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _plain(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and type(value).__module__ == "numpy":
        return tolist()
    return value


def mismatch(
    actual: Any, expected: Any, abs_tol: float = 0.0, rel_tol: float = 0.0, where: str = ""
) -> str:
    """'' if ``actual`` agrees with ``expected``; else what differs, and where."""
    actual, expected = _plain(actual), _plain(expected)
    at = f" at {where}" if where else ""
    if isinstance(expected, bool) or isinstance(actual, bool):
        same = type(actual) is type(expected) and actual == expected
        return "" if same else f"got {show(actual)}, expected {show(expected)}{at}"
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        if not isinstance(actual, int | float):
            return f"got {show(actual)}, expected the number {show(expected)}{at}"
        if abs_tol or rel_tol:
            ok = math.isclose(actual, expected, abs_tol=abs_tol, rel_tol=rel_tol)
        else:
            ok = actual == expected
        if not ok or (isinstance(actual, float) and math.isnan(actual)):
            return f"got {show(actual)}, expected {show(expected)}{at}"
        return ""
    if isinstance(expected, list | tuple):
        if not isinstance(actual, list | tuple):
            return f"got {show(actual)}, expected a sequence of {len(expected)}{at}"
        if len(actual) != len(expected):
            return f"got {len(actual)} items, expected {len(expected)}{at}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            inner = f"{where}[{i}]" if where else f"[{i}]"
            found = mismatch(a, e, abs_tol, rel_tol, inner)
            if found:
                return found
        return ""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"got {show(actual)}, expected a dict{at}"
        if set(actual) != set(expected):
            missing = sorted(map(str, set(expected) - set(actual)))
            extra = sorted(map(str, set(actual) - set(expected)))
            return f"keys differ{at}: missing {missing}, unexpected {extra}"
        for key in expected:
            inner = f"{where}[{key!r}]" if where else f"[{key!r}]"
            found = mismatch(actual[key], expected[key], abs_tol, rel_tol, inner)
            if found:
                return found
        return ""
    if type(actual) is type(expected) and actual == expected:
        return ""
    return f"got {show(actual)}, expected {show(expected)}{at}"
