"""Static checks that a Python child keeps what its parent's functions promised, so that a
child certain to fail at run time is an unusable answer (asked again at once, with the
reason shown to the model) instead of a sandboxed evaluation that fails.

Each check compares a function of the child with the parent's function of the same name
and reports only what is certain to go wrong when the function runs:

- **no return value**: the parent's function returns a value and the child's never does
  (a completion cut short before its ``return``: every caller gets ``None``);
- **a different number of values**: every ``return`` of the parent's function gives a
  tuple of n values and one of the child's gives a tuple of m != n (the caller's
  unpacking fails);
- **read before assignment**: a name local to the function is read on the way that every
  run of it takes (not inside a branch) before anything could have assigned it, counting
  a loop's body as run once: the first pass raises ``UnboundLocalError``;
- **a name nothing defines**: read on that same way, bound neither in the function nor by
  the module (nor a builtin): ``NameError`` (a name the parent's version read undefined
  too is taken as provided, e.g. injected by the evaluator).

A function only the child has, or a parent's function that is itself irregular, is not
judged. Nothing here is a style rule: each reason names the line that would fail.
"""

from __future__ import annotations

import ast
import builtins
import functools
from collections.abc import Iterator

_Func = ast.FunctionDef | ast.AsyncFunctionDef
_SCOPES = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef
_COMPREHENSIONS = ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp
_TRY = tuple(t for t in (ast.Try, getattr(ast, "TryStar", None)) if t is not None)


def broken_contract(parent: str | ast.Module, child: str | ast.Module) -> str | None:
    """Why ``child`` is certain to fail where ``parent`` did not, or None (for code that
    does not parse too: that is another check's to say)."""
    try:
        parent = _tree(parent) if isinstance(parent, str) else parent
        child = _tree(child) if isinstance(child, str) else child
    except SyntaxError:
        return None
    before = dict(_functions(parent))
    known = _module_names(child)
    known_before = _module_names(parent)
    for name, func in _functions(child):
        old = before.get(name)
        if old is not None and ast.dump(old) == ast.dump(func):
            continue  # unchanged: whatever it does, the parent did too
        unknown = _unknown(func, known)
        if old is not None:  # names the parent's version read undefined are given (injected)
            unknown -= _unknown(old, known_before)
        why = _unbound_read(func, unknown)
        if why is None and old is not None:
            why = _return_shape(old, func)
        if why is not None:
            return f"{name}: {why}"
    return None


@functools.lru_cache(maxsize=64)
def _tree(code: str) -> ast.Module:
    """Parsed once: a parent is checked against each of its children. Never modified."""
    return ast.parse(code)


def _functions(tree: ast.Module) -> Iterator[tuple[str, _Func]]:
    """Top-level functions and methods of top-level classes, by qualified name."""
    for node in tree.body:
        if isinstance(node, _Func):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for n in node.body:
                if isinstance(n, _Func):
                    yield f"{node.name}.{n.name}", n


# returns --------------------------------------------------------------------------------
def _returns(func: _Func) -> list[ast.Return]:
    """The function's own return statements (not those of nested functions)."""
    found: list[ast.Return] = []
    stack: list[ast.AST] = list(func.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return):
            found.append(node)
        if isinstance(node, _SCOPES):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return found


def _is_generator(func: _Func) -> bool:
    stack: list[ast.AST] = list(func.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return True
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))
    return False


def _return_shape(old: _Func, new: _Func) -> str | None:
    if _is_generator(old) or _is_generator(new):
        return None
    old_returns = _returns(old)
    valued = [r for r in old_returns if r.value is not None and not _is_none(r.value)]
    if not valued or len(valued) != len(old_returns):
        return None  # the parent may return None itself: nothing is promised
    new_returns = _returns(new)
    if not any(r.value is not None and not _is_none(r.value) for r in new_returns):
        if _raises_always(new):
            return None
        return "never returns a value (the parent's version did; was the answer cut short?)"
    sizes = {len(r.value.elts) for r in valued if isinstance(r.value, ast.Tuple)}
    if len(sizes) != 1 or len(valued) != sum(isinstance(r.value, ast.Tuple) for r in valued):
        return None  # not a fixed tuple shape
    (size,) = sizes
    for r in new_returns:
        if isinstance(r.value, ast.Tuple) and len(r.value.elts) != size:
            if any(isinstance(e, ast.Starred) for e in r.value.elts):
                continue
            return (
                f"line {r.lineno} returns {len(r.value.elts)} values where the parent's "
                f"version returns {size}"
            )
    return None


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _raises_always(func: _Func) -> bool:
    return bool(func.body) and isinstance(func.body[-1], ast.Raise)


# reads before assignment -------------------------------------------------------------------
def _unbound_read(func: _Func, unknown: set[str] = frozenset()) -> str | None:  # type: ignore[assignment]
    local = _locals(func)
    watched = local | unknown
    if not watched:
        return None
    assigned: set[str] = set()
    for name, line in _first_pass(func.body, assigned, watched, certain=True):
        if name in unknown:
            return f"line {line} reads {name!r}, which nothing defines (NameError)"
        return (
            f"line {line} reads {name!r} before anything assigns it "
            f"(UnboundLocalError on the first pass)"
        )
    return None


_MODULE_DUNDERS = frozenset(
    {"__name__", "__file__", "__doc__", "__builtins__", "__spec__", "__loader__", "__package__"}
)


def _module_names(tree: ast.Module) -> frozenset[str] | None:
    """Names a function of this module can read as globals: what the module's own
    statements bind (outside functions and classes), what functions declare ``global``,
    builtins. None when a star import makes that unknowable."""
    bound: set[str] = set(dir(builtins)) | _MODULE_DUNDERS
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return None
        if isinstance(node, ast.Global):
            bound.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
            # Their bodies bind nothing global, but may declare ``global`` names.
            stack.extend(n for n in ast.walk(node) if isinstance(n, ast.Global))
            continue
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        stack.extend(ast.iter_child_nodes(node))
    return frozenset(bound)


def _unknown(func: _Func, known: frozenset[str] | None) -> set[str]:
    """Names the function reads that neither it nor the module binds (NameError)."""
    if known is None:
        return set()
    args = func.args
    params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    local = _locals(func) | params
    declared = {n for node in ast.walk(func) if isinstance(node, ast.Global | ast.Nonlocal)
                for n in node.names}  # fmt: skip
    reads = {
        n.id for n in ast.walk(func) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    return reads - local - declared - known


def _locals(func: _Func) -> set[str]:
    """Names bound in the function's own scope, minus its parameters and global / nonlocal
    declarations (those are never unbound in the sense checked here)."""
    bound: set[str] = set()
    declared: set[str] = set()
    stack: list[ast.AST] = list(func.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Global | ast.Nonlocal):
            declared.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
            stack.extend(node.decorator_list)  # evaluated here; the body is its own scope
            continue
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                bound.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.Lambda | _COMPREHENSIONS):
            continue  # their own scope (a walrus inside is rare enough to leave alone)
        stack.extend(ast.iter_child_nodes(node))
    args = func.args
    params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    return bound - params - declared


def _first_pass(
    body: list[ast.stmt], assigned: set[str], local: set[str], certain: bool
) -> Iterator[tuple[str, int]]:
    """Walk ``body`` in execution order as its first run would, adding to ``assigned``
    every name that may be bound by then; yield (name, line) for each local read while not
    possibly assigned, on a way taken for certain (``certain``: outside any branch)."""
    for stmt in body:
        yield from _statement(stmt, assigned, local, certain)
        if isinstance(stmt, ast.Return | ast.Raise | ast.Break | ast.Continue):
            return


def _statement(
    stmt: ast.stmt, assigned: set[str], local: set[str], certain: bool
) -> Iterator[tuple[str, int]]:
    reads = _reads_certain if certain else _no_reads
    if isinstance(stmt, ast.If):
        yield from reads(stmt.test, assigned, local)
        _bind_all(stmt.test, assigned)
        for branch in (stmt.body, stmt.orelse):
            yield from _first_pass(branch, assigned, local, certain=False)
    elif isinstance(stmt, ast.For | ast.AsyncFor):
        yield from reads(stmt.iter, assigned, local)
        _bind_all(stmt.target, assigned)
        yield from _first_pass(stmt.body, assigned, local, certain)
        yield from _first_pass(stmt.orelse, assigned, local, certain=False)
    elif isinstance(stmt, ast.While):
        yield from reads(stmt.test, assigned, local)
        yield from _first_pass(stmt.body, assigned, local, certain)
        yield from _first_pass(stmt.orelse, assigned, local, certain=False)
    elif isinstance(stmt, ast.With | ast.AsyncWith):
        for item in stmt.items:
            yield from reads(item.context_expr, assigned, local)
            if item.optional_vars is not None:
                _bind_all(item.optional_vars, assigned)
        yield from _first_pass(stmt.body, assigned, local, certain)
    elif isinstance(stmt, _TRY):
        # Anything in the try block may have run before a handler: handlers and what
        # follows see every name the block binds.
        _bind_all(stmt, assigned)
        yield from _first_pass(stmt.body, set(assigned), local, certain=False)
    elif isinstance(stmt, ast.Match):
        yield from reads(stmt.subject, assigned, local)
        _bind_all(stmt, assigned)
    elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        for decorator in stmt.decorator_list:
            yield from reads(decorator, assigned, local)
        assigned.add(stmt.name)
    elif isinstance(stmt, ast.AugAssign):
        yield from reads(stmt.value, assigned, local)
        target = stmt.target
        if isinstance(target, ast.Name) and certain and _unbound(target.id, assigned, local):
            yield target.id, stmt.lineno
        else:
            yield from reads(target, assigned, local)
        _bind_all(target, assigned)
    else:
        yield from reads(stmt, assigned, local)
        _bind_all(stmt, assigned)


def _unbound(name: str, assigned: set[str], local: set[str]) -> bool:
    return name in local and name not in assigned


def _no_reads(node: ast.AST, assigned: set[str], local: set[str]) -> Iterator[tuple[str, int]]:
    return iter(())


def _reads_certain(node: ast.AST, assigned: set[str], local: set[str]) -> Iterator[tuple[str, int]]:
    """Reads in ``node`` that run whenever it does (not behind ``and`` / ``or`` / ``if``,
    not in a lambda or comprehension), of locals not yet possibly assigned."""
    if isinstance(node, ast.Name):
        if isinstance(node.ctx, ast.Load) and _unbound(node.id, assigned, local):
            yield node.id, node.lineno
        return
    if isinstance(node, ast.Lambda | _COMPREHENSIONS | ast.NamedExpr | _SCOPES):
        return
    if isinstance(node, ast.BoolOp):
        yield from _reads_certain(node.values[0], assigned, local)
        return
    if isinstance(node, ast.IfExp):
        yield from _reads_certain(node.test, assigned, local)
        return
    if isinstance(node, ast.Assign | ast.AnnAssign):
        value = node.value
        if value is not None:
            yield from _reads_certain(value, assigned, local)
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:  # subscripts and attributes read their base
            if not isinstance(target, ast.Name):
                yield from _reads_certain(target, assigned, local)
        return
    for child in ast.iter_child_nodes(node):
        yield from _reads_certain(child, assigned, local)


def _bind_all(node: ast.AST, assigned: set[str]) -> None:
    """Every name ``node`` may bind (any branch, any depth, walrus included)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            assigned.add(sub.id)
        elif isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            assigned.add(sub.name)
        elif isinstance(sub, ast.Import | ast.ImportFrom):
            for alias in sub.names:
                assigned.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            assigned.add(sub.name)
