"""Where the files that ship with evolve live: bundled problems, evaluator plugins, the
sandbox's image files. (The sandbox harness is a module, ``evolve.sdk.harness``.)

From a source checkout (``pip install -e .``) they are the repository's top-level
``problems/`` and ``sandbox/`` folders; from a wheel, copies under ``evolve/_bundled``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled_dir(name: str) -> Path:
    """The folder ``name`` (problems, sandbox, evaluators) that ships with evolve."""
    for candidate in (_PACKAGE / "_bundled" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"evolve is installed without its {name}/ folder")


def bundled_problems() -> dict[str, Path]:
    """Bundled problem names -> their folders."""
    try:
        root = bundled_dir("problems")
    except FileNotFoundError:
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if (p / "problem.toml").is_file()}


def bundled_evaluators() -> dict[str, Path]:
    """Built-in evaluator plugin names -> their files (``evaluators/NAME.py``)."""
    try:
        root = bundled_dir("evaluators")
    except FileNotFoundError:
        return {}
    return {p.stem: p for p in sorted(root.glob("*.py")) if not p.stem.startswith("_")}
