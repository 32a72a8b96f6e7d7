"""The report of a conversion: what was carried over to problem.toml, and what was not and why.

A conversion fills a ``Draft``: every setting it carries over goes in with the peer's key it
came from (``draft.set``), every one it cannot carry becomes one line saying why
(``draft.drop``). ``output.write_problem`` turns the finished draft into the folder and the
``Conversion`` that ``evolve convert`` prints. The reasons both peers give for the same thing
are here, so that they read alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evolve.convert.toml_text import toml_value

NOT_NEEDED = "not needed: evolve commits every candidate to its database as it is made"
PROMPT_WORDING = "prompt wording is evolve's own (llm.templates can replace it)"
NOVELTY = "evolve has no embedding or LLM novelty filter (it skips exact repeats of a program)"


@dataclass
class Conversion:
    """What ``evolve convert`` did: where the problem went, what came over, what did not."""

    peer: str
    source: Path
    out: Path
    program: str = ""
    """The initial program's file name in ``out``."""
    carried: list[str] = field(default_factory=list)
    not_carried: list[str] = field(default_factory=list)


class Draft:
    """problem.toml's settings as they are gathered, with the report's lines."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.raw: dict[str, Any] = {}
        self.carried: list[tuple[str, str]] = []
        """(evolve's dotted key, the line): a line goes when its key is dropped later."""
        self.dropped: list[tuple[str, str]] = []
        self.sources: dict[str, str] = {}
        self.comments: list[str] = []
        """Lines written commented out at the end of problem.toml (the peer's models)."""

    def set(self, key: str, value: Any, source: str, shown: str | None = None) -> None:
        """Carry ``value`` to evolve's ``key`` (dotted), from the peer's ``source``; the
        report's line is ``shown`` (default: ``key = value``; empty: no line)."""
        node = self.raw
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
        self.sources[key] = source
        text = shown if shown is not None else f"{key} = {toml_value(value)}"
        self.carried = [(k, line) for k, line in self.carried if k != key]
        if text:
            self.carried.append((key, f"{text} (from {source})" if source else text))

    def note(self, key: str, line: str) -> None:
        """A carried line that is no setting (a file copied, a shim written)."""
        self.carried.append((key, line))

    def drop(self, source: str, reason: str) -> None:
        """Something that could not be carried over, and why."""
        self.dropped.append((source, reason))

    @property
    def not_carried(self) -> list[str]:
        """One line per reason: the peer's settings it applies to, then the reason."""
        grouped: dict[str, list[str]] = {}
        for source, reason in self.dropped:
            grouped.setdefault(reason, []).append(source)
        return [f"{', '.join(sources)}: {reason}" for reason, sources in grouped.items()]

    def unknown(self, section: str, table: dict[str, Any], known: Iterable[str]) -> None:
        """One line per key of ``table`` that this converter does not know."""
        for key in table:
            if key not in known:
                where = f"{section}.{key}" if section else key
                self.drop(where, f"not a setting evolve convert knows for {self.peer}; ignored")


def each(section: str, names: str, reason: str) -> dict[str, str]:
    """``{"section.name": reason}`` for each of the space-separated ``names``."""
    return {f"{section}.{name}": reason for name in names.split()}
