"""Reading a ShinkaEvolve run script (``run_evo.py``) for its settings, without running it.

A run script builds ``EvolutionConfig(...)``, ``DatabaseConfig(...)``, a job config
(``LocalJobConfig(...)``) and ``ShinkaEvolveRunner(...)``, and may load a YAML config and
set keys in it (``config["evo_config"]["task_sys_msg"] = TASK``). Keyword arguments and
assignments whose values are literals, or names bound to literals at the module's top level
(strings, numbers, lists, dicts, ``dict(...)``), are read; ``Path(...) / "initial.py"`` reads
as the file's name. Anything else is reported as not read.
"""

from __future__ import annotations

import ast
import contextlib
from pathlib import Path
from typing import Any

from evolve.convert.peer_files import parse_python
from evolve.convert.report import Draft

NAMESPACES = {"evo_config": "evo", "db_config": "db", "job_config": "job"}
NAMESPACES |= {short: short for short in NAMESPACES.values()}
"""A YAML config's (or the script's ``config[...]``) tables, and the settings they hold."""
RUNNER = ("max_evaluation_jobs", "max_proposal_jobs", "max_db_workers")
"""The runner's own settings (top-level keys of a YAML config)."""
CLASSES = {"EvolutionConfig": "evo", "DatabaseConfig": "db", "ShinkaEvolveRunner": "runner"}
CLASSES |= dict.fromkeys(("JobConfig", "LocalJobConfig", "SlurmEnvJobConfig"), "job")
CLASSES |= dict.fromkeys(("SlurmCondaJobConfig", "SlurmDockerJobConfig"), "job")
"""The run script's calls whose keyword arguments are settings, and of what."""


def find_script(folder: Path) -> Path | None:
    """The run script: run_evo.py, or the first .py file that builds the configs."""
    if (folder / "run_evo.py").is_file():
        return folder / "run_evo.py"
    for path in sorted(folder.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if "EvolutionConfig" in text or "ShinkaEvolveRunner" in text:
            return path
    return None


class _Unread(Exception):
    """A value in the run script that is not a literal."""


def read_script(path: Path, draft: Draft) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """The settings a run script gives as literals, and every string in it (file names)."""
    tree = parse_python(path)
    names: dict[str, Any] = {}

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.List | ast.Tuple):
            return [value(v) for v in node.elts]
        if isinstance(node, ast.Dict) and None not in node.keys:
            pairs = [(value(k), value(v)) for k, v in zip(node.keys, node.values, strict=True)]
            if not all(isinstance(k, str | int | float | bool) for k, _ in pairs):
                raise _Unread
            return dict(pairs)
        if isinstance(node, ast.Name) and node.id in names:
            return names[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            number = value(node.operand)
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise _Unread
            return -number
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            return value(node.right)  # Path(...) / "initial.py": the file's name
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "dict" and not node.args:
                return keywords(node)
            if node.func.id == "str" and len(node.args) == 1:
                return str(value(node.args[0]))
        raise _Unread

    def keywords(call: ast.Call) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kw in call.keywords:
            if kw.arg is None:
                spread = value(kw.value)
                if not isinstance(spread, dict):
                    raise _Unread
                out.update(spread)
            else:
                out[kw.arg] = value(kw.value)
        return out

    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, node = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            target, node = stmt.target, stmt.value
        else:
            continue
        if isinstance(target, ast.Name):
            try:
                names[target.id] = value(node)
            except _Unread:
                names.pop(target.id, None)
    found: dict[str, dict[str, Any]] = {"evo": {}, "db": {}, "job": {}, "runner": {}}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if called not in CLASSES:
                continue
            for kw in node.keywords:
                try:
                    if kw.arg is None:
                        spread = value(kw.value)
                        if isinstance(spread, dict):
                            found[CLASSES[called]].update(spread)
                    else:
                        found[CLASSES[called]][kw.arg] = value(kw.value)
                except _Unread:
                    if kw.arg is not None and CLASSES[called] != "runner":
                        draft.drop(
                            f"{path.name}: {called}({kw.arg}=...)", "not a literal, so not read"
                        )
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            keys = _subscripts(node.targets[0])
            if keys and keys[0] in NAMESPACES and len(keys) == 2:
                try:
                    found[NAMESPACES[keys[0]]][keys[1]] = value(node.value)
                except _Unread:
                    draft.drop(f"{path.name}: {keys[0]}[{keys[1]!r}]", "not a literal, so not read")
            elif keys and keys[0] in RUNNER and len(keys) == 1:
                with contextlib.suppress(_Unread):
                    found["runner"][keys[0]] = value(node.value)
    strings = {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }
    return found, strings


def _subscripts(node: ast.AST) -> list[str]:
    """``x["a"]["b"]`` as ``["a", "b"]`` (empty for anything else)."""
    keys: list[str] = []
    while isinstance(node, ast.Subscript):
        if not (isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
            return []
        keys.insert(0, node.slice.value)
        node = node.value
    return keys if isinstance(node, ast.Name) else []
