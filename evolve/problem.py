"""Loading a problem: find its file, validate it, read the initial program and its blocks.

``PROBLEM`` on the command line is a ``problem.toml`` path, its folder, or the name of a
bundled problem. Every mistake becomes a ``UserError`` naming the file and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from evolve.code.blocks import BlockError, Blocks, language_for, split
from evolve.config import ProblemConfig
from evolve.core.objective import Objective
from evolve.errors import UserError
from evolve.prompts import DEFAULT_TEMPLATES, Templates
from evolve.resources import bundled_evaluators, bundled_problems

PROBLEM_FILE = "problem.toml"
PLUGIN_GROUP = "evolve.evaluators"


@dataclass(frozen=True)
class EvaluatorTarget:
    """Where the evaluation function lives: a file path, or an importable module."""

    function: str
    path: Path | None = None
    module: str | None = None
    options: tuple[tuple[str, Any], ...] = ()
    files: tuple[Path, ...] = ()
    """Problem files the evaluator reads (its ``*_file`` options, resolved): a backend
    makes them readable to the evaluation."""


@dataclass(frozen=True)
class Problem:
    """A validated problem, ready to run."""

    config: ProblemConfig
    file: Path
    initial_code: str
    language: str
    blocks: Blocks
    evaluator: EvaluatorTarget
    templates: Templates = DEFAULT_TEMPLATES
    """Chat prompt wording: the built-in templates, or the problem's own (``llm.templates``)."""

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def root(self) -> Path:
        return self.file.parent

    @property
    def objective(self) -> Objective:
        """The direction of the primary metric: every comparison of scores goes through it."""
        return Objective.of(self.config.evaluator.direction)


def find_problem_file(spec: str) -> Path:
    """The problem.toml that ``spec`` (a path, a folder or a bundled name) refers to."""
    path = Path(spec).expanduser()
    if path.is_dir():
        candidate = path / PROBLEM_FILE
        if not candidate.is_file():
            raise UserError(f"{path}: folder has no {PROBLEM_FILE} (write one, see README)")
        return candidate.resolve()
    if path.is_file():
        return path.resolve()
    bundled = bundled_problems()
    if spec in bundled:
        return bundled[spec] / PROBLEM_FILE
    names = ", ".join(sorted(bundled)) or "none"
    raise UserError(
        f"{spec}: no such problem file or folder, and no bundled problem by that name "
        f"(bundled: {names})"
    )


def load_problem(spec: str, overrides: dict[str, Any] | None = None) -> Problem:
    """Find, parse and validate a problem; ``overrides`` (dotted keys) are command-line flags."""
    file = find_problem_file(spec)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{file}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{file}: cannot read: {exc}") from None
    for dotted, value in (overrides or {}).items():
        set_dotted(raw, dotted, value)
    config = validate_config(raw, file)
    return problem_from_config(config, file)


def validate_config(raw: dict[str, Any], where: Path | str) -> ProblemConfig:
    """The settings, validated; a mistake is a ``UserError`` saying ``where`` (the problem
    file, or the code that built the problem) and which key."""
    try:
        return ProblemConfig.model_validate(raw)
    except ValidationError as exc:
        raise UserError(f"{where}: {describe_validation_error(exc)}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """The first validation error as 'key: what is wrong (got X)'."""
    errors = exc.errors()
    err = errors[0]
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
    kind = err["type"]
    if kind == "extra_forbidden":
        msg = f"unknown key '{loc}' (check the spelling; see README for the keys a problem takes)"
    elif kind == "missing":
        msg = f"missing required key '{loc}'"
    else:
        text = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
        msg = f"{loc or 'problem'}: {text}{shown}"
    more = len(errors) - 1
    return msg + (f"; and {more} more error{'s' if more > 1 else ''}" if more else "")


def problem_from_config(config: ProblemConfig, file: Path) -> Problem:
    root = file.parent
    initial = (root / config.initial_program).resolve()
    if not initial.is_file():
        raise UserError(f"{file}: initial_program: file {initial} does not exist")
    try:
        code = initial.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{file}: initial_program: cannot read {initial}: {exc}") from None
    language = config.language or language_for(initial)
    try:
        blocks = split(code, language)
    except BlockError as exc:
        raise UserError(f"{initial}: {exc}") from None
    folder = config.llm.templates
    if folder is not None and not (root / folder).is_dir():
        raise UserError(f"{file}: llm.templates: folder {root / folder} does not exist")
    return Problem(
        config=config,
        file=file,
        initial_code=code,
        language=language,
        blocks=blocks,
        evaluator=_evaluator_target(config, file),
        templates=Templates.load(root / folder) if folder is not None else DEFAULT_TEMPLATES,
    )


def _evaluator_target(config: ProblemConfig, file: Path) -> EvaluatorTarget:
    ev = config.evaluator
    options, files = _option_files(ev.options, file)
    if ev.path is not None:
        path = (file.parent / ev.path).resolve()
        if not path.is_file():
            raise UserError(f"{file}: evaluator.path: file {path} does not exist")
        if path.suffix != ".py":
            raise UserError(f"{file}: evaluator.path: {path.name} is not a Python file (.py)")
        return EvaluatorTarget(function=ev.function, path=path, options=options, files=files)
    assert ev.plugin is not None
    builtin = bundled_evaluators()
    if ev.plugin in builtin:
        return EvaluatorTarget(
            function=ev.function, path=builtin[ev.plugin], options=options, files=files
        )
    found = {e.name: e for e in entry_points(group=PLUGIN_GROUP)}
    if ev.plugin not in found:
        names = ", ".join(sorted({*builtin, *found})) or "none installed"
        raise UserError(
            f"{file}: evaluator.plugin: no evaluator plugin named {ev.plugin!r} "
            f"(available: {names})"
        )
    value = found[ev.plugin].value
    module, _, attr = value.partition(":")
    return EvaluatorTarget(
        function=attr or ev.function, module=module, options=options, files=files
    )


def _option_files(
    options: dict[str, Any], file: Path
) -> tuple[tuple[tuple[str, Any], ...], tuple[Path, ...]]:
    """The options with every ``*_file`` value made an absolute path (relative to the
    problem file, and checked to exist), and those files."""
    resolved: dict[str, Any] = {}
    files: list[Path] = []
    for key, value in sorted(options.items()):
        if key.endswith("_file") and isinstance(value, str):
            path = (file.parent / value).resolve()
            if not path.is_file():
                raise UserError(
                    f"{file}: evaluator.options.{key}: file {path} does not exist "
                    "(paths are relative to problem.toml)"
                )
            files.append(path)
            value = str(path)
        resolved[key] = value
    return tuple(resolved.items()), tuple(files)


def set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    """``raw["a"]["b"] = value`` for ``dotted = "a.b"``, making the tables on the way."""
    node = raw
    *parents, leaf = dotted.split(".")
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[leaf] = value
