"""Reading the peer's YAML config: its settings as a mapping, which YAML files of the folder
are configs, and which of them stay out of the converted folder.

Configs are read, never copied unless the peer's evaluator reads one: they may hold API keys,
and candidates can read the problem's folder.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evolve.convert.report import Draft
from evolve.errors import UserError

NOT_COPIED = "configs may hold API keys, and candidates can read the problem's folder"


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML file's top-level mapping; a clear ``UserError`` for anything else."""
    try:
        import yaml
    except ImportError:
        raise UserError(
            f"{path}: reading YAML needs PyYAML, which is not installed (pip install pyyaml)"
        ) from None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        first = " ".join(str(exc).split())
        raise UserError(f"{path}: not valid YAML: {first}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of settings, found {type(data).__name__}")
    return data


def peer_configs(folder: Path, keys: Iterable[str]) -> list[Path]:
    """The folder's YAML files that are the peer's configs (a mapping with any of ``keys``):
    read, never copied, since they may hold API keys and candidates can read the folder."""
    found = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            data = read_yaml(path)
        except UserError:
            continue
        if any(key in data for key in keys):
            found.append(path)
    return found


def withheld(draft: Draft, configs: Iterable[Path], evaluator: Path) -> set[Path]:
    """The configs not to copy: all but those the evaluator's source names (it reads
    them), each copied one with a warning."""
    source = evaluator.read_text(encoding="utf-8", errors="replace")
    kept = {p for p in configs if p.name in source}
    for path in sorted(kept):
        draft.drop(
            f"{path.name} (copied: {evaluator.name} reads it)",
            "check that it holds no API key: candidates can read the problem's folder",
        )
    left = sorted(set(configs) - kept)
    if left:
        names = ", ".join(p.name for p in left)
        draft.note("configs", f"{names}: read, not copied ({NOT_COPIED})")
    return set(left)


def named_config(folder: Path, config: Path) -> Path:
    """The config file given with ``--config``: a path, or a name in ``folder``."""
    path = config if config.is_file() else folder / config
    if not path.is_file():
        raise UserError(f"{config}: no such config file (here or in {folder})")
    return path


def section(data: dict[str, Any], key: str, draft: Draft) -> dict[str, Any]:
    """A sub-table of the peer's config (empty when absent; dropped when not a table)."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        draft.drop(key, f"expected a table of settings, found {value!r}; ignored")
        return {}
    return value
