"""A cheap static check before evaluation: names a Python program reads but never binds.

Conservative on purpose: a name counts as bound if it is bound anywhere in the module
(any scope), so only names that cannot exist at all are reported, such as a variable
the model invented. Programs using ``from x import *`` are not checked.
"""

from __future__ import annotations

import ast
import builtins
import functools

_MODULE_NAMES = {
    "__name__",
    "__file__",
    "__doc__",
    "__builtins__",
    "__spec__",
    "__loader__",
    "__package__",
    "__path__",
    "__annotations__",
    "__dict__",
    "__class__",
}


_BUILTINS = frozenset(dir(builtins))


@functools.lru_cache(maxsize=256)
def undefined_names(code: str) -> frozenset[str]:
    """Names read by ``code`` that nothing in it binds (empty if it cannot be checked).
    Cached for a few programs: the search asks again about each parent it draws."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return frozenset()
    return unbound_names(tree)


def unbound_names(tree: ast.AST) -> frozenset[str]:
    """Names read in a parsed program that nothing in it binds."""
    bound = set(_BUILTINS | _MODULE_NAMES)
    loaded: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    return frozenset()
                bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.Global | ast.Nonlocal):
            bound.update(node.names)
        elif (isinstance(node, ast.ExceptHandler) and node.name) or (
            isinstance(node, ast.MatchAs | ast.MatchStar) and node.name
        ):
            bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
    return frozenset(loaded - bound)
