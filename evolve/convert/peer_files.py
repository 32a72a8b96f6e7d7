"""Finding the peer's files and reading its Python: the folder given, the one file of a kind
in it, and what a Python file defines and imports (parsed, never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from evolve.errors import UserError


def source_folder(folder: Path) -> Path:
    if not folder.exists():
        raise UserError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder (give the peer's problem folder)")
    return folder.resolve()


def find_one(folder: Path, pattern: str, what: str, prefer: Iterable[str] = ()) -> Path:
    """The one file of ``folder`` matching ``pattern`` (first by ``prefer``'s suffixes)."""
    found = sorted(p for p in folder.glob(pattern) if p.is_file())
    for suffix in prefer:
        chosen = [p for p in found if p.suffix == suffix]
        if chosen:
            return chosen[0]
    if len(found) == 1:
        return found[0]
    if not found:
        raise UserError(f"{folder}: no {what} ({pattern})")
    names = ", ".join(p.name for p in found)
    raise UserError(f"{folder}: several {what}s ({names}); keep one")


def parse_python(path: Path) -> ast.Module:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise UserError(f"{path}: not valid Python (line {exc.lineno}: {exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None


def functions(tree: ast.Module) -> set[str]:
    """The names of a module's top-level functions."""
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def imported_from(tree: ast.Module, package: str) -> set[str]:
    """Every ``package.x.y`` (or ``package.x.y:name``) a module imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == package}
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and node.module.split(".")[0] == package
        ):
            found |= {f"{node.module}:{a.name}" for a in node.names}
    return found
