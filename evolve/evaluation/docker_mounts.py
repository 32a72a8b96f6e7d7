"""What a ``docker`` evaluation sees of the host: the read-only mounts.

The ``evolve`` package (which holds the harness, ``evolve/sdk/harness.py``, and the
evaluator side it imports) goes to ``/evolve/lib/evolve``; the evaluator's folder to
``/evolve/problem``; the folders of files an evaluator's options name (``*_file``) to
``/evolve/files/N``; for an evaluator plugin installed by entry point, its distribution's
top-level packages and metadata to ``/evolve/lib``. Files that must stay out of sight (the
run database) are masked with ``/dev/null``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from importlib.metadata import distribution, packages_distributions
from pathlib import Path
from typing import Any

from docker.types import Mount

import evolve
from evolve.errors import UserError
from evolve.problem import EvaluatorTarget

LIB = "/evolve/lib"
"""The harness's import path: the ``evolve`` package (mounted from the engine's) and, for an
evaluator plugin installed by entry point, its distribution's top-level packages and
metadata (mounted from wherever the engine imports them)."""
PROBLEM = "/evolve/problem"
"""The evaluator's folder."""
FILES = "/evolve/files"
"""Folders of the problem files an evaluator's options name (``*_file``), one each."""


def container_view(
    evaluator: EvaluatorTarget, hidden: tuple[Path, ...] = ()
) -> tuple[list[Mount], EvaluatorTarget, str | None]:
    """The read-only mounts an evaluation needs, the evaluator as seen from inside (its
    ``*_file`` options pointing at the mounted files) and the evaluator file's path there."""
    package = Path(evolve.__file__).resolve().parent
    mounts = [Mount(f"{LIB}/evolve", str(package), type="bind", read_only=True)]
    if evaluator.module is not None:
        mounts += [
            Mount(f"{LIB}/{name}", str(source), type="bind", read_only=True)
            for name, source in plugin_code(evaluator.module).items()
        ]
    folders: dict[Path, str] = {}

    def place(path: Path) -> str:
        folder = path.parent
        if folder not in folders:
            folders[folder] = PROBLEM if not folders else f"{FILES}/{len(folders)}"
            mounts.append(Mount(folders[folder], str(folder), type="bind", read_only=True))
        return f"{folders[folder]}/{path.name}"

    inside = place(evaluator.path) if evaluator.path is not None else None
    files = {str(f): place(f) for f in evaluator.files}
    options: tuple[tuple[str, Any], ...] = tuple(
        (k, files.get(v, v) if isinstance(v, str) else v) for k, v in evaluator.options
    )
    for path in hidden:
        path = path.resolve()
        for folder, there in folders.items():
            if path.is_file() and path.is_relative_to(folder):
                target = f"{there}/{path.relative_to(folder).as_posix()}"
                mounts.append(Mount(target, "/dev/null", type="bind", read_only=True))
    return mounts, dataclasses.replace(evaluator, options=options), inside


def plugin_code(module: str) -> dict[str, Path]:
    """What the container needs to import an evaluator plugin's ``module``: each top-level
    package or module of the distribution that provides it, and that distribution's
    metadata folder (so ``importlib.metadata`` works for it inside), by the name each
    takes on the import path. Not the rest of site-packages: the plugin's own dependencies
    come from the image. A UserError if the module cannot be found here."""
    top = module.partition(".")[0]
    tops = packages_distributions()
    owners = set(tops.get(top, ()))
    names = {top} | {n for n, dists in tops.items() if owners & set(dists) and n.isidentifier()}
    found: dict[str, Path] = {}
    for name in sorted(names - {"evolve"}):  # evolve is mounted already
        spec = importlib.util.find_spec(name)
        if spec is None:
            if name == top:
                raise UserError(
                    f"evaluator plugin module {module!r} cannot be imported here, so it "
                    "cannot be mounted into the container"
                )
            continue
        places = list(spec.submodule_search_locations or ())
        if len(places) > 1:
            raise UserError(
                f"evaluator plugin package {name!r} is spread over {len(places)} folders "
                f"({', '.join(places)}): the docker backend mounts one folder per package"
            )
        if places:
            found[name] = Path(places[0]).resolve()
        elif spec.origin and Path(spec.origin).is_file():
            origin = Path(spec.origin).resolve()  # a module file (.py, or an extension)
            found[origin.name] = origin
    for name in sorted(owners):
        dist = distribution(name)
        for folder in {f.parts[0] for f in dist.files or () if f.parts[0].endswith(".dist-info")}:
            path = Path(str(dist.locate_file(folder))).resolve()
            if path.is_dir():
                found[folder] = path
    return found
