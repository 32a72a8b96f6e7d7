"""SEARCH/REPLACE diffs: parse them out of a model's answer and apply them to a program.

Format (the count of ``<``, ``=`` and ``>`` characters may be 5 to 9)::

    <<<<<<< SEARCH
    lines to find
    =======
    lines to put instead
    >>>>>>> REPLACE

Matching tries, in order: the exact text starting at a line start; the same lines ignoring
trailing whitespace;
the same lines at another indentation (the replacement is re-indented to match). Every
block that does not apply is reported with the reason; none is silently dropped.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

_SEARCH = re.compile(r"^[ \t]*<{5,9}[ \t]*SEARCH[ \t]*$")
_DIVIDER = re.compile(r"^[ \t]*={5,9}[ \t]*$")
_REPLACE = re.compile(r"^[ \t]*>{5,9}[ \t]*REPLACE[ \t]*$")


@dataclass(frozen=True)
class Edit:
    search: str
    replace: str
    error: str = ""
    """Set when the block was malformed (a marker missing): it is reported, never applied."""


@dataclass(frozen=True)
class DiffOutcome:
    """The program after applying what applied, and a reason for each block that did not."""

    code: str
    applied: int
    failures: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failures and self.applied > 0


def parse_edits(text: str) -> list[Edit]:
    """All SEARCH/REPLACE blocks in ``text``, in order; malformed ones carry an ``error``."""
    edits: list[Edit] = []
    state, search, replace = "outside", [], []

    def broken(why: str) -> None:
        edits.append(Edit("".join(search), "".join(replace), error=why))

    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        if _SEARCH.match(bare):
            if state == "search":
                broken("a SEARCH part has no ======= line")
            elif state == "replace":
                broken("a block has no >>>>>>> REPLACE line")
            state, search, replace = "search", [], []
        elif state == "search" and _DIVIDER.match(bare):
            state = "replace"
        elif state == "replace" and _REPLACE.match(bare):
            edits.append(Edit("".join(search), "".join(replace)))
            state = "outside"
        elif state == "search":
            search.append(line.replace("\r\n", "\n"))
        elif state == "replace":
            replace.append(line.replace("\r\n", "\n"))
    if state == "search":
        broken("a SEARCH part has no ======= line")
    elif state == "replace":
        broken("a block has no >>>>>>> REPLACE line")
    return edits


def apply_edits(code: str, edits: list[Edit]) -> DiffOutcome:
    """Apply ``edits`` one after another; a block that does not match is reported, not applied."""
    failures: list[str] = []
    applied = 0
    for number, edit in enumerate(edits, start=1):
        if edit.error:
            failures.append(f"block {number}: {edit.error}")
            continue
        if not edit.search.strip():
            failures.append(f"block {number}: the SEARCH part is empty")
            continue
        new_code = _apply_one(code, edit)
        if new_code is None:
            failures.append(f"block {number}: SEARCH text not found: {_nearest(code, edit.search)}")
            continue
        code = new_code
        applied += 1
    if not edits:
        failures.append("no SEARCH/REPLACE block found in the answer")
    return DiffOutcome(code=code, applied=applied, failures=tuple(failures))


def _apply_one(code: str, edit: Edit) -> str | None:
    index = _find_aligned(code, edit.search)
    if index >= 0:
        return code[:index] + edit.replace + code[index + len(edit.search) :]
    code_lines = code.splitlines(keepends=True)
    search_lines = _trim_blank(edit.search.splitlines())
    if not search_lines:
        return None
    replace_lines = edit.replace.splitlines()
    span = _find_lines(code_lines, search_lines, lambda a, b: a.rstrip() == b.rstrip())
    if span is not None:
        return _splice(code_lines, span, replace_lines, indent_delta="")
    span = _find_lines(code_lines, search_lines, lambda a, b: a.strip() == b.strip())
    if span is None:
        return None
    delta = _indent_delta(code_lines[span[0] : span[1]], search_lines)
    if delta is None:
        return None
    return _splice(code_lines, span, replace_lines, indent_delta=delta)


def _find_aligned(code: str, search: str) -> int:
    """The first exact occurrence of ``search`` that starts at a line start, or -1.

    A match inside a line ("al = 1" in "total = 1") would silently edit the wrong code, and
    a SEARCH written without its indentation must go through re-indentation instead.
    """
    start = 0
    while (index := code.find(search, start)) >= 0:
        if index == 0 or code[index - 1] == "\n":
            return index
        start = index + 1
    return -1


def _trim_blank(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _find_lines(code_lines: list[str], search: list[str], same) -> tuple[int, int] | None:
    n = len(search)
    for i in range(len(code_lines) - n + 1):
        if all(same(code_lines[i + k].rstrip("\r\n"), search[k]) for k in range(n)):
            return i, i + n
    return None


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _indent_delta(found: list[str], search: list[str]) -> tuple[str, int] | None:
    """How the matched code is indented relative to the SEARCH text, consistently on every line.

    Returns (prefix to add, characters to remove) encoded as a tuple, or None if the offset
    is not the same on every non-blank line.
    """
    deltas = set()
    for have, want in zip(found, search, strict=True):
        if not want.strip():
            continue
        a, b = _indent(have.rstrip("\r\n")), _indent(want)
        if a.endswith(b):
            deltas.add(("add", a[: len(a) - len(b)]))
        elif b.endswith(a):
            deltas.add(("remove", len(b) - len(a)))
        else:
            return None
    if len(deltas) != 1:
        return None
    return deltas.pop()  # type: ignore[return-value]


def _splice(code_lines: list[str], span: tuple[int, int], replace: list[str], indent_delta) -> str:
    newline = "\n"
    if code_lines and code_lines[span[0]].endswith("\r\n"):
        newline = "\r\n"
    out_lines: list[str] = []
    for line in replace:
        if indent_delta and line.strip():
            kind, amount = indent_delta
            if kind == "add":
                line = amount + line
            else:
                strip = min(amount, len(_indent(line)))
                line = line[strip:]
        out_lines.append(line + newline)
    tail_had_newline = code_lines[span[1] - 1].endswith("\n")
    if out_lines and not tail_had_newline:
        out_lines[-1] = out_lines[-1].rstrip("\r\n")
    return "".join(code_lines[: span[0]] + out_lines + code_lines[span[1] :])


def _nearest(code: str, search: str) -> str:
    """A hint for the model: the most similar line of the program to the first SEARCH line."""
    lines = [ln for ln in search.splitlines() if ln.strip()]
    if not lines:
        return "(empty)"
    first = lines[0].strip()
    candidates = [ln.strip() for ln in code.splitlines() if ln.strip()]
    close = difflib.get_close_matches(first, candidates, n=1, cutoff=0.5)
    if close:
        return f"{first[:60]!r} (did you mean {close[0][:60]!r}?)"
    return f"{first[:60]!r}"


def unified_diff(old: str, new: str, old_name: str = "parent", new_name: str = "child") -> str:
    """A unified diff between two programs, as stored with every candidate."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name
        )
    )
