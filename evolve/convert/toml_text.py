"""problem.toml as ``evolve convert`` writes it: readable, commented, and exact.

Scalars first, then each table with its arrays of tables, in the order of the README's
example; a long text as a multi-line literal string where TOML allows one; then the peer's
models commented out and what was not carried over, as comments. ``write_problem`` checks
that the text reads back as the settings it was made from.
"""

from __future__ import annotations

import json
import re
from typing import Any


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {type(value).__name__}")


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_value(key)


def _text(value: str) -> str:
    """A long text as a multi-line literal string where it can be one (easier to edit)."""
    plain = not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", value)
    if "\n" in value and "'''" not in value and plain and not value.endswith("'"):
        return "'''\n" + value + "'''"
    return toml_value(value)


ORDER = (
    "name",
    "description",
    "initial_program",
    "language",
    "prompt",
    "evaluator",
    "features",
    "sandbox",
    "search",
    "llm",
)
"""problem.toml's keys in the order of the README's example."""


def render_toml(
    config: dict[str, Any], header: list[str], comments: list[str], not_carried: list[str]
) -> str:
    """problem.toml: scalars, then each table (its arrays of tables after it), then the
    commented-out lines and what was not carried over, as comments."""
    order = {key: n for n, key in enumerate(ORDER)}
    config = dict(sorted(config.items(), key=lambda kv: order.get(kv[0], len(order))))
    lines = [f"# {h}" for h in header]
    lines += _table_lines(config)

    def table(path: str, body: dict[str, Any]) -> None:
        lines.extend(["", f"[{path}]", *_table_lines(body)])
        for key, value in body.items():
            if isinstance(value, dict):
                table(f"{path}.{_key(key)}", value)
            elif _is_tables(value):
                for item in value:
                    lines.extend(["", f"[[{path}.{_key(key)}]]", *_table_lines(item)])

    for key, value in config.items():
        if isinstance(value, dict):
            table(_key(key), value)
        elif _is_tables(value):
            for item in value:
                lines.extend(["", f"[[{_key(key)}]]", *_table_lines(item)])
    if comments:
        lines += ["", *comments]
    if not_carried:
        lines += ["", "# Not carried over (also printed by `evolve convert`):"]
        lines += [f"#   {line}" for line in not_carried]
    return "\n".join(lines) + "\n"


def _is_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _table_lines(table: dict[str, Any]) -> list[str]:
    out = []
    for key, value in table.items():
        if value is None or isinstance(value, dict) or _is_tables(value):
            continue
        shown = _text(value) if isinstance(value, str) else toml_value(value)
        out.append(f"{_key(key)} = {shown}")
    return out
