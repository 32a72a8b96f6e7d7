"""Carrying one of the peer's values to a problem.toml key: the value read as evolve's type
(an integer, a number, seconds), set on the draft or dropped with the reason, and the
problem's language.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from evolve.convert.report import Draft


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def clock_seconds(value: Any) -> float | None:
    """Seconds in ``HH:MM:SS`` (or ``MM:SS``, or a number of seconds)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"\d+(:\d{1,2}){0,2}", value.strip()):
        seconds = 0
        for part in value.strip().split(":"):
            seconds = seconds * 60 + int(part)
        return float(seconds)
    return None


def carry_int(draft: Draft, key: str, value: Any, source: str) -> None:
    """Set evolve's ``key`` to ``value`` as an integer, or drop ``source`` as not one."""
    number = as_int(value)
    if number is None:
        draft.drop(source, f"{value!r} is not an integer")
    else:
        draft.set(key, number, source)


def carry_float(draft: Draft, key: str, value: Any, source: str) -> None:
    """Set evolve's ``key`` to ``value`` as a number, or drop ``source`` as not one."""
    number = as_float(value)
    if number is None:
        draft.drop(source, f"{value!r} is not a number")
    else:
        draft.set(key, number, source)


def language_of(draft: Draft, initial: Path, said: Any, source: str) -> None:
    """Carry the peer's language where evolve knows it, and say how candidates are named."""
    from evolve.code.blocks import COMMENT_PREFIXES, language_for
    from evolve.evaluation.backend import program_name

    inferred = language_for(initial)
    language = inferred
    if isinstance(said, str) and said.strip():
        name = said.strip().lower()
        if name in COMMENT_PREFIXES:
            language = name
            draft.set("language", name, source)
        elif name != inferred:
            draft.drop(
                source,
                f"{said!r} is not a language evolve knows; it reads the markers "
                "with any common comment syntax",
            )
    if language == inferred and "language" not in draft.raw and inferred != "text":
        draft.set("language", inferred, "", f'language = "{inferred}" (from the extension)')
    candidate = program_name(language)
    if Path(candidate).suffix != initial.suffix:
        draft.drop(
            f"{initial.name}'s extension",
            f"evolve writes each {language} candidate as {candidate} for the evaluator, not "
            f"with {initial.suffix!r}: an evaluator that needs the extension must copy the file",
        )
