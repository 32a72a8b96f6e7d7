"""Writing the converted folder: the peer's files copied, the shims written, problem.toml last.

``write_problem`` validates the draft against ``ProblemConfig`` (a value out of evolve's
range is dropped with the reason, never written), builds the new folder beside the target,
checks that ``evolve.problem.load_problem`` accepts it, and only then moves it into place,
so a failed conversion leaves nothing behind.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from evolve.config import ProblemConfig
from evolve.convert.report import Conversion, Draft
from evolve.convert.toml_text import render_toml
from evolve.errors import UserError

SHIMS = Path(__file__).resolve().parent / "shims"
"""Files written into converted problems (never imported by evolve itself)."""
WRAPPER = "evolve_evaluator.py"
"""The converted problem's evaluator: evolve's side, calling the peer's file unchanged."""
ALWAYS_SKIPPED = ("__pycache__", "problem.toml", WRAPPER)


def output_folder(folder: Path, out: Path | None) -> Path:
    """Where the problem goes: ``out``, or ``<folder>-evolve`` beside the folder; it must be
    new or empty, and not inside the folder being converted."""
    target = (out if out is not None else folder.parent / f"{folder.name}-evolve").resolve()
    if target == folder or target.is_relative_to(folder):
        raise UserError(f"{target}: the output folder must not be inside {folder}")
    if target.exists():
        if not target.is_dir():
            raise UserError(f"{target}: exists and is not a folder (choose another --out)")
        if any(target.iterdir()):
            raise UserError(f"{target}: folder exists and is not empty (choose another --out)")
    return target


def write_problem(
    draft: Draft,
    folder: Path,
    target: Path,
    shims: Iterable[tuple[str, str, dict[str, Any]]],
    skip: Callable[[Path], bool] = lambda _: False,
) -> Conversion:
    """Copy the peer's folder and the shims (``(shim, destination, constants)``) into a
    new folder, write problem.toml, check that evolve loads it, and move it to ``target``."""
    from evolve.problem import load_problem

    config = _validated(draft)
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _copy(folder, building, skip)
        for shim, destination, constants in shims:
            write_shim(shim, building / destination, constants)
        text = render_toml(config, _header(draft, folder), draft.comments, draft.not_carried)
        assert tomllib.loads(text) == config, "problem.toml does not read back as written"
        (building / "problem.toml").write_text(text, encoding="utf-8")
        try:
            load_problem(str(building))
        except UserError as exc:
            where = str(exc).replace(str(building), str(folder))  # the file's original
            raise UserError(f"{folder}: the converted problem does not load: {where}") from None
        if target.exists():
            target.rmdir()  # checked empty by output_folder
        building.rename(target)
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    return Conversion(
        draft.peer,
        folder,
        target,
        config["initial_program"],
        [line for _, line in draft.carried],
        draft.not_carried,
    )


def _validated(draft: Draft) -> dict[str, Any]:
    """The draft's settings, less any value that ``ProblemConfig`` refuses (each one
    dropped with evolve's reason), until what is left validates."""
    for _ in range(50):
        try:
            ProblemConfig.model_validate(draft.raw)
            return draft.raw
        except ValidationError as exc:
            error = exc.errors()[0]
            key = _pop(draft.raw, [str(p) for p in error["loc"]])
            if key is None or key not in draft.sources:
                raise UserError(
                    f"evolve convert made a problem.toml evolve refuses "
                    f"({'.'.join(map(str, error['loc']))}: {error['msg']})"
                ) from None
            draft.carried = [(k, line) for k, line in draft.carried if k != key]
            message = error["msg"].removeprefix("Value error, ")
            source = draft.sources[key] or key
            draft.drop(source, f"not carried: evolve's {key} refuses it ({message})")
    raise UserError("evolve convert could not make a problem.toml evolve accepts")


def _pop(raw: dict[str, Any], loc: list[str]) -> str | None:
    """Remove the deepest table key on ``loc`` (a pydantic error location) and return its
    dotted name; None when the error is about a whole table."""
    node: Any = raw
    path: list[str] = []
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            if isinstance(node[part], dict) and part != loc[-1]:
                node = node[part]
                continue
            node.pop(part)
            return ".".join(path)
        break
    return None


def _copy(folder: Path, building: Path, skip: Callable[[Path], bool]) -> None:
    def ignore(where: str, names: list[str]) -> set[str]:
        here = Path(where)
        return {
            n
            for n in names
            if n.startswith(".")
            or n.endswith(".pyc")
            or (here == folder and n in ALWAYS_SKIPPED)
            or skip(here / n)
        }

    try:
        shutil.copytree(
            folder, building, ignore=ignore, dirs_exist_ok=True, ignore_dangling_symlinks=True
        )
    except (OSError, shutil.Error) as exc:
        raise UserError(f"{folder}: cannot copy the folder: {exc}") from None


def write_shim(shim: str, destination: Path, constants: dict[str, Any]) -> None:
    """Copy ``shims/<shim>`` to ``destination``, setting each module-level constant named
    in ``constants`` (a line ``NAME = ...`` or ``NAME: type = ...``) to its value."""
    text = (SHIMS / shim).read_text(encoding="utf-8")
    for name, value in constants.items():
        pattern = re.compile(rf"^({re.escape(name)}(?:: [^=\n]+)?) = .*$", re.MULTILINE)
        text, count = pattern.subn(lambda m, v=value: f"{m.group(1)} = {v!r}", text)
        assert count == 1, f"{shim} sets {name} {count} times"
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(text, encoding="utf-8")


def _header(draft: Draft, folder: Path) -> list[str]:
    return [
        f"Converted by `evolve convert` from the {draft.peer} problem in {folder}.",
        "The evaluator is the peer's file, unchanged, called through evolve_evaluator.py.",
    ]
