"""A problem built in code, ``evolve.Problem``: the initial program's text, the evaluator as
a Python function or a file, and problem.toml's settings as keyword arguments.

It is written out as an ordinary problem folder (``problem.toml``, the initial program,
and the function's source as ``evaluator.py``) and loaded from there, so the settings go
through the same validation and messages as a hand-written problem.toml, and a run of it is
a run of that folder: ``evolve.run(problem)`` and ``evolve run FOLDER`` give the same run,
and ``resume`` finds the folder again.

    def evaluate(program_path):
        import runpy
        f = runpy.run_path(program_path)["f"]
        return {"score": -abs(f(3) - 9)}

    problem = evolve.Problem("square", PROGRAM, evaluate, search={"islands": 2})
"""

from __future__ import annotations

import inspect
import json
import os
import re
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from evolve.code.blocks import EXTENSIONS, language_for
from evolve.code.names import undefined_names
from evolve.config import ProblemConfig
from evolve.errors import UserError
from evolve.problem import PROBLEM_FILE, load_problem, validate_config

EVALUATOR_KEYS = ("function", "primary_metric", "direction", "options", "stages")
"""Keywords that go into problem.toml's ``[evaluator]`` table (``evaluator`` itself is the
function or the file)."""
EVALUATOR_FILE = "evaluator.py"
MARK = "# Written by evolve.Problem; it is rewritten each time the code that builds it runs."
"""problem.toml's first line: a folder whose problem.toml lacks it is someone's own."""


class Problem:
    """A problem built in code, written to ``folder`` (default: ``./NAME``) as a problem
    folder. ``initial_program`` is the program's text (or a ``Path`` to copy it from), with
    EVOLVE-BLOCK markers around what may change. ``evaluator`` is a function
    ``evaluate(program_path) -> dict | EvaluationResult`` whose source alone is written to
    evaluator.py (so it imports what it uses inside its body), or the path of a Python file.
    Other keywords are problem.toml's keys, a table given as a dict (``search={"seed": 1}``),
    plus ``[evaluator]``'s keys (``primary_metric``, ``direction``, ``options``, ``stages``,
    ``function``); a stage's ``function`` may be a function too. Mistakes are a
    ``UserError`` naming the key."""

    def __init__(
        self,
        name: str,
        initial_program: str | os.PathLike[str],
        evaluator: Callable[..., Any] | str | os.PathLike[str],
        *,
        folder: str | os.PathLike[str] | None = None,
        **settings: Any,
    ) -> None:
        where = f"evolve.Problem({name!r})"
        if not isinstance(name, str) or not name.strip():
            raise UserError(f"{where}: name must be a non-empty string")
        self.folder = _folder(name, folder, where)
        language = settings.get("language")
        program_file, program = _initial(initial_program, language, where)
        table = {k: settings.pop(k) for k in EVALUATOR_KEYS if k in settings}
        sources = _evaluator(evaluator, table, where)
        raw = {"name": name, "initial_program": program_file, "evaluator": table, **settings}
        self.config: ProblemConfig = validate_config(raw, where)
        self.file = self.folder / PROBLEM_FILE
        _claim(self.folder, where)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.file.write_text(
            MARK + "\n" + to_toml(self.config.model_dump(mode="json", exclude_unset=True)),
            encoding="utf-8",
        )
        (self.folder / program_file).write_text(program, encoding="utf-8")
        if sources:
            header = (
                '"""Written by evolve.Problem from the evaluator\'s source: edit that code."""\n'
            )
            text = "\n\n".join([header, *sources])  # each ends with a newline: PEP 8's two lines
            (self.folder / EVALUATOR_FILE).write_text(text, encoding="utf-8")
        # What every problem folder is checked for: the blocks, the files, the plugin.
        self.loaded = load_problem(str(self.file))

    @property
    def name(self) -> str:
        return self.config.name

    def __fspath__(self) -> str:
        """Its problem.toml: a ``Problem`` goes wherever a problem's path does."""
        return str(self.file)

    def __repr__(self) -> str:
        return f"evolve.Problem({self.name!r}, folder={str(self.folder)!r})"


def _folder(name: str, folder: str | os.PathLike[str] | None, where: str) -> Path:
    if folder is not None:
        return Path(folder).expanduser().resolve()
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
        raise UserError(
            f"{where}: the name cannot be a folder's name (the default folder): give folder="
        )
    return Path.cwd() / name


def _claim(folder: Path, where: str) -> None:
    """Refuse to write into a folder holding files that evolve.Problem did not write."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise UserError(f"{where}: folder {folder} is a file")
    file = folder / PROBLEM_FILE
    if file.is_file():
        with file.open(encoding="utf-8", errors="replace") as f:
            if f.readline().rstrip("\n") == MARK:
                return
    if any(folder.iterdir()):
        raise UserError(
            f"{where}: folder {folder} holds files evolve.Problem did not write: "
            "give another folder="
        )


def _initial(program: str | os.PathLike[str], language: Any, where: str) -> tuple[str, str]:
    """The initial program's file name in the folder, and its text."""
    if isinstance(program, os.PathLike):
        path = Path(program).expanduser()
        try:
            return path.name, path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{where}: initial_program: cannot read {path}: {exc}") from None
    if not isinstance(program, str):
        raise UserError(
            f"{where}: initial_program must be the program's text or a Path "
            f"(got {type(program).__name__})"
        )
    if "\n" not in program and language_for(program) != "text" and Path(program).is_file():
        raise UserError(
            f"{where}: initial_program is the program's text; for the file {program} "
            f"give Path({program!r})"
        )
    suffix = ".py"
    if isinstance(language, str):
        suffix = next((s for s, lang in EXTENSIONS.items() if lang == language), ".txt")
    return "initial_program" + suffix, program


def _evaluator(evaluator: Any, table: dict[str, Any], where: str) -> list[str]:
    """Fill in ``table`` ([evaluator]) for ``evaluator``; the function sources to write."""
    functions: list[Callable[..., Any]] = []
    if callable(evaluator):
        if "function" in table:
            raise UserError(
                f"{where}: function= names the evaluator's function in a file; "
                "an evaluator given as a function is called by its own name"
            )
        functions.append(evaluator)
        table["path"] = EVALUATOR_FILE
        table["function"] = evaluator.__name__
    elif isinstance(evaluator, str | os.PathLike):
        path = Path(evaluator).expanduser().resolve()
        if not path.is_file():
            raise UserError(f"{where}: evaluator: no such file {path}")
        table["path"] = str(path)
    else:
        raise UserError(
            f"{where}: evaluator must be a function or the path of a Python file "
            f"(got {type(evaluator).__name__})"
        )
    stages = table.get("stages")
    if isinstance(stages, list):  # a stage's function may be given as a function too
        table["stages"] = [_stage(s, functions) for s in stages]
    if functions and not callable(evaluator):
        raise UserError(
            f"{where}: stages: a stage given as a function needs the evaluator given as a "
            "function too (a file's functions are named by string)"
        )
    sources = [_source(fn, where) for fn in functions]
    outside = undefined_names("\n\n".join(sources))  # the functions may call one another
    if outside:
        raise UserError(
            f"{where}: the evaluator uses {', '.join(sorted(outside))} from outside the "
            f"function: import or define it inside (only the source of the function is "
            f"written to {EVALUATOR_FILE})"
        )
    return sources


def _stage(stage: Any, functions: list[Callable[..., Any]]) -> Any:
    if isinstance(stage, Mapping) and callable(stage.get("function")):
        fn = stage["function"]
        if fn not in functions:
            functions.append(fn)
        return {**stage, "function": fn.__name__}
    return stage


def _source(fn: Callable[..., Any], where: str) -> str:
    """A function's source, to be written into a file of its own."""
    name = getattr(fn, "__name__", type(fn).__name__)
    if name == "<lambda>" or not inspect.isfunction(fn):
        raise UserError(f"{where}: evaluator {name}: give a function defined with def")
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as exc:
        raise UserError(f"{where}: evaluator {name}: its source cannot be read ({exc})") from None
    return source.rstrip() + "\n"


def to_toml(data: Mapping[str, Any]) -> str:
    """TOML text for settings: top-level values, then a ``[table]`` per top-level mapping;
    deeper tables and arrays of tables inline. ``None`` (a default) is left out."""
    plain = {k: v for k, v in data.items() if not isinstance(v, Mapping)}
    lines = _pairs(plain)
    for key, table in data.items():
        if isinstance(table, Mapping):
            lines += ["", f"[{_key(key)}]", *_pairs(table)]
    return "\n".join(lines) + "\n"


def _pairs(table: Mapping[str, Any]) -> list[str]:
    return [f"{_key(k)} = {_value(v)}" for k, v in table.items() if v is not None]


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _string(key)


def _string(text: str) -> str:
    # A JSON string is a TOML basic string, once DEL (a control character to TOML) is escaped.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # Python's float repr is TOML's too (1e-05, inf, nan)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(_pairs(value)) + "}"
    raise TypeError(f"no TOML for {type(value).__name__}")
