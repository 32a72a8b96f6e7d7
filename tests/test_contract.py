"""The static checks that turn a child certain to fail at run time into an unusable answer:
each flagged program really fails when run, and the regular patterns they must not flag
(reads behind a branch, loops that assign before they read, generators) really run."""

from __future__ import annotations

import textwrap

import pytest

from evolve.code.contract import broken_contract

PARENT = textwrap.dedent(
    """
    import math

    def search(objective, bounds, rng):
        low, high = bounds
        best_x = rng.uniform(low, high)
        best_y = rng.uniform(low, high)
        best_value = objective(best_x, best_y)
        for _ in range(10):
            x = rng.uniform(low, high)
            y = rng.uniform(low, high)
            value = objective(x, y)
            if value < best_value:
                best_x, best_y, best_value = x, y, value
        return best_x, best_y
    """
)


def child_with(body: str) -> str:
    return (
        PARENT.split("def search")[0]
        + "def search(objective, bounds, rng):\n"
        + textwrap.indent(textwrap.dedent(body), "    ")
    )


def fails_when_run(code: str) -> BaseException | None:
    """Run ``search`` once the way an evaluator would: call it and unpack two values."""
    import random

    namespace: dict = {}
    exec(compile(code, "<child>", "exec"), namespace)

    class Rng:
        def uniform(self, a: float, b: float) -> float:
            return random.Random(0).uniform(a, b)

    try:
        _x, _y = namespace["search"](lambda a, b: a * a + b * b, (-1.0, 1.0), Rng())
    except Exception as exc:  # what the sandbox would report
        return exc
    return None


BROKEN = {
    "read in a loop's condition before assignment": (
        """
        low, high = bounds
        for _ in range(10):
            x = rng.uniform(low, high)
            value = objective(x, x)
            if value < best_value:
                best_x, best_value = x, value
        return best_x, best_x
        """,
        "reads 'best_value' before anything assigns it",
    ),
    "augmented assignment of an unset name": (
        """
        low, high = bounds
        for _ in range(3):
            total += rng.uniform(low, high)
        return total, total
        """,
        "reads 'total'",
    ),
    "no return (cut short)": (
        """
        low, high = bounds
        best = rng.uniform(low, high)
        """,
        "never returns a value",
    ),
    "three values where two were returned": (
        """
        low, high = bounds
        x = rng.uniform(low, high)
        return x, x, objective(x, x)
        """,
        "returns 3 values where the parent's version returns 2",
    ),
    "a name nothing defines": (
        """
        low, high = bounds
        for _ in range(3):
            value = objective(low, high)
        return x, value
        """,
        "reads 'x', which nothing defines (NameError)",
    ),
    "a local that shadows a global read first": (
        """
        low, high = bounds
        r = math.sqrt(2.0)
        math = 3
        return r, r
        """,
        "reads 'math'",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_flags_what_is_certain_to_fail_and_it_does_fail(case: str) -> None:
    body, why = BROKEN[case]
    code = child_with(body)
    reason = broken_contract(PARENT, code)
    assert reason is not None and why in reason, reason
    assert reason.startswith("search: ")
    assert fails_when_run(code) is not None


FINE = {
    "read behind a branch, assigned later in the loop": """
        low, high = bounds
        prev = None
        for i in range(3):
            if i > 0:
                last = prev2
            prev2 = rng.uniform(low, high)
        return prev2, prev2
        """,
    "read behind `and`": """
        low, high = bounds
        for i in range(3):
            ok = i > 0 and seen > 0
            seen = i
        return float(seen), 0.0
        """,
    "assigned in both branches": """
        low, high = bounds
        if low < high:
            x = low
        else:
            x = high
        return x, x
        """,
    "assigned in a try block": """
        try:
            x = bounds[0]
        except IndexError:
            x = 0.0
        return x, x
        """,
    "a comprehension and a lambda": """
        low, high = bounds
        pts = [(rng.uniform(low, high), rng.uniform(low, high)) for _ in range(5)]
        key = lambda p: objective(*p)
        return min(pts, key=key)
        """,
    "walrus binds": """
        low, high = bounds
        if (mid := (low + high) / 2) > 0:
            pass
        return mid, mid
        """,
    "nested helper reads a later local": """
        low, high = bounds
        def f():
            return scale * 2
        scale = 0.5
        return f(), f()
        """,
    "starred return": """
        pair = bounds
        return (*pair,)
        """,
    "raising instead of returning": """
        raise NotImplementedError("later")
        """,
}


@pytest.mark.parametrize("case", sorted(FINE))
def test_leaves_regular_code_alone(case: str) -> None:
    code = child_with(FINE[case])
    assert broken_contract(PARENT, code) is None
    if case != "raising instead of returning":
        assert fails_when_run(code) is None


def test_unchanged_functions_and_new_functions_are_not_judged() -> None:
    parent = "def f():\n    return 1, 2\n\ndef g():\n    print(z)\n    z = 1\n"
    # g is broken in the parent already: not the child's doing.
    child = parent.replace("return 1, 2", "return 2, 1") + "\ndef h():\n    return 1\n"
    assert broken_contract(parent, child) is None
    # A new function is checked for unbound reads (certain to fail whoever calls it).
    assert "reads 'q'" in (broken_contract(parent, child + "\ndef k():\n    q += 1\n") or "")


def test_methods_are_matched_by_class() -> None:
    parent = (
        "class A:\n    def f(self):\n        return 1, 2\n\n"
        "class B:\n    def f(self):\n        return 1\n"
    )
    child = parent.replace("return 1, 2", "return 1, 2, 3")
    assert broken_contract(parent, child) == (
        "A.f: line 3 returns 3 values where the parent's version returns 2"
    )


def test_generators_and_none_returning_parents_promise_nothing() -> None:
    gen = "def f():\n    yield 1\n"
    assert broken_contract(gen, "def f():\n    yield 2\n    return\n") is None
    maybe = "def f(x):\n    if x:\n        return 1\n    return None\n"
    assert broken_contract(maybe, "def f(x):\n    print(x)\n") is None


def test_unparsable_code_is_left_to_the_parser() -> None:
    assert broken_contract(PARENT, "def search(:\n") is None


def test_names_from_the_module_builtins_and_the_parent_are_defined() -> None:
    parent = "import math\nLIMIT = 3\n\ndef f():\n    return INJECTED, 1\n"
    child = (
        "import math\nLIMIT = 3\n\ndef f():\n    return INJECTED + math.pi + LIMIT + len([]), 2\n"
    )
    assert broken_contract(parent, child) is None
    helper = child + "\ndef g():\n    global LATER\n    LATER = 1\n\ndef h():\n    return LATER\n"
    assert broken_contract(parent, helper) is None
    star = "from math import *\n\ndef f():\n    return pi, 1\n"
    assert broken_contract(parent, star) is None
    assert "reads 'nope'" in (broken_contract(parent, child.replace("LIMIT +", "nope +")) or "")
