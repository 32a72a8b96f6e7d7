"""Evolvable regions: the parts of a program between EVOLVE-BLOCK markers.

A program is split into fixed text and evolvable regions::

    fixed[0] <START line> region[0] <END line> fixed[1] ... fixed[n]

The marker lines belong to the fixed text. An edit is accepted only if every fixed
part is byte-for-byte unchanged; ``check_preserved`` says where it was not. A program
without markers is one region: everything may change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

START = "EVOLVE-BLOCK-START"
END = "EVOLVE-BLOCK-END"

# Line-comment (or block-comment opening) tokens, by language.
COMMENT_PREFIXES: dict[str, tuple[str, ...]] = {
    "python": ("#",),
    "shell": ("#",),
    "ruby": ("#",),
    "r": ("#",),
    "julia": ("#",),
    "perl": ("#",),
    "yaml": ("#",),
    "toml": ("#",),
    "c": ("//", "/*"),
    "cpp": ("//", "/*"),
    "cuda": ("//", "/*"),
    "java": ("//", "/*"),
    "javascript": ("//", "/*"),
    "typescript": ("//", "/*"),
    "go": ("//", "/*"),
    "rust": ("//", "/*"),
    "swift": ("//", "/*"),
    "kotlin": ("//", "/*"),
    "scala": ("//", "/*"),
    "csharp": ("//", "/*"),
    "zig": ("//",),
    "triton": ("#",),
    "lua": ("--",),
    "sql": ("--",),
    "haskell": ("--",),
    "matlab": ("%",),
    "latex": ("%",),
    "lisp": (";",),
    "fortran": ("!",),
}

EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".sh": "shell",
    ".bash": "shell",
    ".rb": "ruby",
    ".r": "r",
    ".jl": "julia",
    ".pl": "perl",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".cu": "cuda",
    ".cuh": "cuda",
    ".java": "java",
    ".js": "javascript",
    ".mjs": "javascript",
    ".ts": "typescript",
    ".go": "go",
    ".rs": "rust",
    ".swift": "swift",
    ".kt": "kotlin",
    ".scala": "scala",
    ".cs": "csharp",
    ".zig": "zig",
    ".lua": "lua",
    ".sql": "sql",
    ".hs": "haskell",
    ".m": "matlab",
    ".tex": "latex",
    ".lisp": "lisp",
    ".el": "lisp",
    ".f90": "fortran",
    ".f": "fortran",
}


class BlockError(ValueError):
    """Markers that do not form well-nested START/END pairs."""


def language_for(path: str | Path) -> str:
    """The language of a program file, from its extension ('text' when unknown)."""
    return EXTENSIONS.get(Path(path).suffix.lower(), "text")


def comment_prefix(language: str) -> str:
    """The line-comment token used when the engine writes a comment in this language."""
    return COMMENT_PREFIXES.get(language, ("#",))[0]


def _marker_re(language: str) -> re.Pattern[str]:
    prefixes = COMMENT_PREFIXES.get(language)
    if prefixes is None:  # unknown language: accept any common comment syntax
        prefixes = ("#", "//", "/*", "--", "%", ";", "!")
    alt = "|".join(re.escape(p) for p in prefixes)
    return re.compile(rf"^[ \t]*(?:{alt})[ \t]*({START}|{END})\b.*$")


@dataclass(frozen=True)
class Blocks:
    """A program split into fixed parts and evolvable regions (len(fixed) == len(regions) + 1)."""

    fixed: tuple[str, ...]
    regions: tuple[str, ...]
    marked: bool
    """False when the program had no markers (then the whole program is one region)."""

    def join(self, regions: tuple[str, ...] | list[str] | None = None) -> str:
        """The program text, with ``regions`` in place of the current ones if given."""
        regs = tuple(self.regions if regions is None else regions)
        if len(regs) != len(self.regions):
            raise ValueError(f"expected {len(self.regions)} regions, got {len(regs)}")
        out = [self.fixed[0]]
        for reg, fix in zip(regs, self.fixed[1:], strict=True):
            out.append(reg)
            out.append(fix)
        return "".join(out)


def split(code: str, language: str = "python") -> Blocks:
    """Split ``code`` at its EVOLVE-BLOCK markers; raise BlockError when they are unbalanced."""
    pattern = _marker_re(language)
    lines = code.splitlines(keepends=True)
    fixed: list[str] = []
    regions: list[str] = []
    buf: list[str] = []
    inside = False
    start_line = 0
    for number, line in enumerate(lines, start=1):
        m = pattern.match(line.rstrip("\r\n"))
        if m is None:
            buf.append(line)
            continue
        kind = m.group(1)
        if kind == START:
            if inside:
                raise BlockError(
                    f"line {number}: {START} inside a block opened at line {start_line}; "
                    f"close it with {END} first"
                )
            buf.append(line)
            fixed.append("".join(buf))
            buf = []
            inside, start_line = True, number
        else:
            if not inside:
                raise BlockError(f"line {number}: {END} without a matching {START}")
            regions.append("".join(buf))
            buf = [line]
            inside = False
    if inside:
        raise BlockError(f"line {start_line}: {START} is never closed with {END}")
    if not regions:
        return Blocks(fixed=("", ""), regions=(code,), marked=False)
    fixed.append("".join(buf))
    return Blocks(fixed=tuple(fixed), regions=tuple(regions), marked=True)


def check_preserved(parent: Blocks, child_code: str, language: str = "python") -> str | None:
    """None if ``child_code`` keeps every fixed part of ``parent``; else why not, in one line."""
    if not parent.marked:
        return None
    try:
        child = split(child_code, language)
    except BlockError as exc:
        return f"the edit broke the EVOLVE-BLOCK markers ({exc})"
    if len(child.regions) != len(parent.regions) or not child.marked:
        return (
            f"the edit changed the number of EVOLVE-BLOCKs from {len(parent.regions)} "
            f"to {len(child.regions) if child.marked else 0}"
        )
    for old, new in zip(parent.fixed, child.fixed, strict=True):
        if old != new:
            return f"the edit changed code outside the EVOLVE-BLOCKs: {_first_difference(old, new)}"
    return None


def _first_difference(old: str, new: str) -> str:
    old_lines, new_lines = old.splitlines(), new.splitlines()
    for i in range(max(len(old_lines), len(new_lines))):
        a = old_lines[i] if i < len(old_lines) else "<nothing>"
        b = new_lines[i] if i < len(new_lines) else "<nothing>"
        if a != b:
            return f"{a.strip()[:60]!r} became {b.strip()[:60]!r}"
    return "line endings or trailing whitespace changed"
