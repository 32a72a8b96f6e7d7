"""Tests for evolve.code.versions (versioned-function prompts) and evolve.code.names."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evolve.code.names import undefined_names
from evolve.code.versions import (
    CompletionError,
    build_prompt,
    function_parts,
    region_from_completion,
    stop_sequences,
)

PARENT = '''import math


def search(objective, bounds, rng):
    """Find a point where objective is small."""
    low, high = bounds
    x = rng.uniform(low, high)
    return x, x


HELPER = 3
'''

OLDEST = '''def search(objective, bounds, rng):
    """The very first try."""
    return 0.0, 0.0
'''

OLDER = """def search(objective, bounds, rng):
    low, high = bounds
    return low, high
"""

TASK = "Minimise the Levi function on a square."
CONTEXT = "import numpy as np\n\ndef objective(x, y):\n    return x * x + y * y\n"
HINT = " with more samples."


def _prompt(older: list[str] | None = None, hint: str = HINT):
    return build_prompt(
        TASK, CONTEXT, PARENT, [OLDEST, OLDER] if older is None else older, "python", hint=hint
    )


# --- function_parts --------------------------------------------------------------------------


def test_function_parts_splits_around_the_function() -> None:
    parts = function_parts(PARENT)
    assert parts is not None
    assert parts.name == "search"
    assert parts.preamble == "import math\n\n\n"
    assert parts.decorators_and_header == "def search(objective, bounds, rng):\n"
    assert parts.docstring == '    """Find a point where objective is small."""\n'
    assert parts.body == "    low, high = bounds\n    x = rng.uniform(low, high)\n    return x, x\n"
    assert parts.postamble == "\n\nHELPER = 3\n"
    joined = (
        parts.preamble
        + parts.decorators_and_header
        + parts.docstring
        + parts.body
        + parts.postamble
    )
    assert joined == PARENT


def test_function_parts_keeps_decorators_and_multiline_header() -> None:
    region = "@cache\ndef f(\n    a,\n    b,\n):\n    return a + b\n"
    parts = function_parts(region)
    assert parts is not None
    assert parts.decorators_and_header == "@cache\ndef f(\n    a,\n    b,\n):\n"
    assert parts.docstring == ""
    assert parts.body == "    return a + b\n"


@pytest.mark.parametrize(
    "region",
    [
        "def f():\n    return 1\n\ndef g():\n    return 2\n",  # two functions
        "x = 1\ny = 2\n",  # no function
        "def f(:\n    pass\n",  # syntax error
        "def f(): return 1\n",  # body on the def line
        "class A:\n    def f(self):\n        return 1\n",  # method, not top-level function
    ],
)
def test_function_parts_none(region: str) -> None:
    assert function_parts(region) is None


# --- build_prompt -----------------------------------------------------------------------------


def test_prompt_shows_versions_in_order_and_ends_with_the_next_header() -> None:
    p = _prompt()
    text = p.text
    assert p.version == 3
    assert p.parts is not None and p.parts.name == "search"
    positions = [text.index(f"def search_v{k}(objective, bounds, rng):\n") for k in range(4)]
    assert positions == sorted(positions)
    # v0 is the oldest region with its own docstring; v1 the older one; v2 the parent
    assert '"""The very first try."""' in text[positions[0] : positions[1]]
    assert "return low, high" in text[positions[1] : positions[2]]
    assert "x = rng.uniform(low, high)" in text[positions[2] : positions[3]]
    assert '"""Improved version of `search_v0`."""' in text[positions[1] : positions[2]]
    assert '"""Improved version of `search_v1`."""' in text[positions[2] : positions[3]]
    expected_end = (
        "def search_v3(objective, bounds, rng):\n"
        '    """Improved version of `search_v2` with more samples."""\n'
    )
    assert text.endswith(expected_end)
    # the bare name `search` no longer appears as a definition
    assert "def search(" not in text


def test_prompt_with_one_older_region_ends_with_v2() -> None:
    p = _prompt(older=[OLDER])
    assert p.version == 2
    assert "def search_v0(" in p.text
    assert "def search_v1(" in p.text
    assert p.text.endswith(
        'def search_v2(objective, bounds, rng):\n    """Improved version of `search_v1`'
        + HINT
        + '"""\n'
    )


def test_prompt_includes_task_context_and_preamble_first() -> None:
    text = _prompt().text
    assert text.startswith('"""' + TASK + '"""\n')
    assert "import numpy as np" in text
    assert "def objective(x, y):" in text
    assert "import math" in text
    assert text.index("def objective(") < text.index("def search_v0(")
    assert text.index("import math") < text.index("def search_v0(")
    # the parent's postamble is not part of the prompt's tail
    assert not text.rstrip().endswith("HELPER = 3")


def test_prompt_is_valid_python_once_a_body_is_added() -> None:
    text = _prompt().text
    ast.parse(text + "    return 1.0, 1.0\n")


def test_older_region_that_is_not_one_function_is_not_shown_as_the_parent() -> None:
    # An inspiration whose region holds a helper and the function cannot be shown as a
    # versioned function; it must not be replaced by a copy of the parent's function.
    parent = "def search(a):\n    return a + 1\n"
    odd = "def helper(a):\n    return a\n\n\ndef search(a):\n    return helper(a) * 2\n"
    p = build_prompt("", "", parent, [odd], "python")
    assert p.text.count("return a + 1") == 1


def test_prompt_renames_recursive_calls() -> None:
    parent = "def f(n):\n    return 1 if n < 2 else n * f(n - 1)\n"
    p = build_prompt("", "", parent, [], "python")
    assert "n * f_v0(n - 1)" in p.text
    assert p.text.endswith('def f_v1(n):\n    """Improved version of `f_v0`."""\n')


def test_prompt_task_with_triple_quotes_stays_valid() -> None:
    p = build_prompt('Say """hi""".', "", OLDER, [], "python")
    ast.parse(p.text + "    pass\n")


def test_python_stop_sequences() -> None:
    stops = stop_sequences(_prompt())
    for s in ("\ndef ", "\nclass ", "\nif __name__", "\n@"):
        assert s in stops


# --- region_from_completion -------------------------------------------------------------


def test_normal_body_becomes_the_region() -> None:
    p = _prompt()
    completion = (
        "    low, high = bounds\n    y = rng.uniform(low, high, size=2)\n    return y[0], y[1]\n"
    )
    region = region_from_completion(p, completion, PARENT)
    assert region == (
        "import math\n\n\n"
        "def search(objective, bounds, rng):\n"
        '    """Find a point where objective is small."""\n'
        "    low, high = bounds\n"
        "    y = rng.uniform(low, high, size=2)\n"
        "    return y[0], y[1]\n"
        "\n\nHELPER = 3\n"
    )
    ast.parse(region)


def test_completion_past_the_function_is_cut() -> None:
    p = _prompt()
    completion = (
        "    low, high = bounds\n"
        "    return low, low\n"
        "\n"
        "\n"
        "def search_v4(objective, bounds, rng):\n"
        "    return search_v3(objective, bounds, rng)\n"
        "\n"
        "print('hello')\n"
    )
    region = region_from_completion(p, completion, PARENT)
    assert "search_v" not in region
    assert "print('hello')" not in region
    assert "    return low, low\n\n\nHELPER = 3\n" in region
    assert region.count("def ") == 1


def test_completion_cut_at_top_level_comment_and_code() -> None:
    p = _prompt()
    completion = "    return 1.0, 2.0\n# trailing notes\nx = 5\n"
    region = region_from_completion(p, completion, PARENT)
    assert "x = 5" not in region
    assert "trailing notes" not in region
    assert "    return 1.0, 2.0\n" in region


def test_new_version_name_is_renamed_back() -> None:
    p = _prompt()
    completion = "    if rng.random() < 0.5:\n        return search_v3(objective, bounds, rng)\n    return 0.0, 0.0\n"
    region = region_from_completion(p, completion, PARENT)
    assert "return search(objective, bounds, rng)" in region
    assert "search_v3" not in region


def test_truncated_completion_is_repaired() -> None:
    p = _prompt()
    completion = (
        "    low, high = bounds\n"
        "    best = None\n"
        "    for _ in range(10):\n"
        "        x = rng.uniform(low, high)\n"
        "    return (best,\n"
        "            rng.uniform(low,"
    )
    region = region_from_completion(p, completion, PARENT)
    ast.parse(region)
    assert "    for _ in range(10):\n        x = rng.uniform(low, high)\n" in region
    assert "return (best" not in region
    assert region.endswith("\n\nHELPER = 3\n")
    assert '"""Find a point where objective is small."""' in region


def test_truncated_inside_nested_block_is_repaired() -> None:
    p = _prompt()
    completion = "    total = 0\n    for i in range(3):\n        if i:\n"
    region = region_from_completion(p, completion, PARENT)
    ast.parse(region)
    assert "    total = 0\n" in region
    assert "for i in range(3)" not in region


@pytest.mark.parametrize("completion", ["", "   \n\n", "\n\n", "def other():\n    pass\n"])
def test_empty_completion_raises(completion: str) -> None:
    with pytest.raises(CompletionError):
        region_from_completion(_prompt(), completion, PARENT)


@pytest.mark.parametrize("old", ["search_v0", "search_v1", "search_v2"])
def test_completion_calling_an_older_version_raises(old: str) -> None:
    completion = f"    return {old}(objective, bounds, rng)\n"
    with pytest.raises(CompletionError, match=old):
        region_from_completion(_prompt(), completion, PARENT)


@pytest.mark.parametrize(
    "completion",
    [
        "    return )\n",
        "    x = (\n",
        "    x = = 1\n    return x\n",
        "    \n    return (\n",
    ],
)
def test_unrepairable_syntax_raises(completion: str) -> None:
    with pytest.raises(CompletionError):
        region_from_completion(_prompt(), completion, PARENT)


def test_completion_error_is_value_error() -> None:
    assert issubclass(CompletionError, ValueError)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "    x = 1",
                "    y = x + 2",
                "    for i in range(3):",
                "        x += i",
                "    if x:",
                "        return x, x",
                "    return (x,",
                "            y)",
                "    z = [",
                "    ]",
                "",
                "    # note",
            ]
        ),
        max_size=8,
    )
)
def test_region_from_completion_returns_valid_python_or_raises(lines: list[str]) -> None:
    completion = "\n".join(lines)
    try:
        region = region_from_completion(_prompt(), completion, PARENT)
    except CompletionError:
        return
    ast.parse(region)
    assert region.startswith("import math\n\n\ndef search(objective, bounds, rng):\n")
    assert region.endswith("\n\nHELPER = 3\n")


# --- generic (non-Python / multi-function) format ------------------------------------------


C_PARENT = "int f(int x) {\n    return 2 * x;\n}\n"
C_OLD = "int f(int x) {\n    return x;\n}\n"


def test_c_region_uses_version_comments() -> None:
    p = build_prompt("Make f fast.", "#include <stdio.h>", C_PARENT, [C_OLD], "c", hint=".")
    assert p.parts is None
    assert p.version == 2
    text = p.text
    assert text.startswith("// Make f fast.\n")
    assert "#include <stdio.h>" in text
    i0 = text.index("// Version 0: first version\n" + C_OLD.rstrip())
    i1 = text.index("// Version 1: improved version of version 0\n" + C_PARENT.rstrip())
    assert i0 < i1
    assert text.endswith("// Version 2: improved version of version 1.\n")
    stops = stop_sequences(p)
    assert "\n// Version" in stops


def test_lua_region_uses_double_dash() -> None:
    p = build_prompt("", "", "local x = 1\n", [], "lua")
    assert (
        p.text
        == "-- Version 0: first version\nlocal x = 1\n\n-- Version 1: improved version of version 0.\n"
    )
    assert "\n-- Version" in stop_sequences(p)


def test_multi_function_python_region_uses_generic_format() -> None:
    region = "def f():\n    return 1\n\n\ndef g():\n    return f()\n"
    p = build_prompt("Task line one.\nTask line two.", "", region, [], "python")
    assert p.parts is None
    assert p.text.startswith("# Task line one.\n# Task line two.\n")
    assert "# Version 0: first version\n" in p.text
    assert "_v0" not in p.text
    assert p.text.endswith("# Version 1: improved version of version 0.\n")


def test_python_region_in_other_language_setting_is_generic() -> None:
    p = build_prompt("", "", OLDER, [], "text")
    assert p.parts is None
    assert "Version 0" in p.text


def test_generic_completion_becomes_region() -> None:
    p = build_prompt("", "", C_PARENT, [], "c")
    region = region_from_completion(p, "int f(int x) {\n    return x << 1;\n}\n\n\n", C_PARENT)
    assert region == "int f(int x) {\n    return x << 1;\n}\n"


def test_generic_completion_cut_at_marker() -> None:
    p = build_prompt("", "", C_PARENT, [], "c")
    region = region_from_completion(
        p, "int f(int x) { return 0; }\n// EVOLVE-BLOCK-END\nint main() {}\n", C_PARENT
    )
    # The whole marker line goes, comment token included (no dangling "//" line).
    assert region == "int f(int x) { return 0; }\n"


@pytest.mark.parametrize("completion", ["", "  \n\n", "// EVOLVE-BLOCK-END\nint x;\n"])
def test_generic_empty_completion_raises(completion: str) -> None:
    p = build_prompt("", "", C_PARENT, [], "c")
    with pytest.raises(CompletionError):
        region_from_completion(p, completion, C_PARENT)


# --- undefined_names ---------------------------------------------------------------------


def test_finds_invented_names() -> None:
    code = "def f(x):\n    return x + offset * scale\n"
    assert undefined_names(code) == {"offset", "scale"}


def test_ignores_builtins_and_module_dunders() -> None:
    code = "print(len(range(3)), __name__, __file__, ValueError, sorted([]))\n"
    assert undefined_names(code) == set()


def test_ignores_params_of_all_kinds() -> None:
    code = (
        "def f(a, /, b, *args, c=1, **kwargs):\n"
        "    return a, b, args, c, kwargs\n"
        "g = lambda y: y + 1\n"
        "async def h(z):\n"
        "    return z\n"
    )
    assert undefined_names(code) == set()


def test_ignores_imports() -> None:
    code = (
        "import numpy as np\n"
        "import os.path\n"
        "from math import sqrt, pi as PI\n"
        "from . import sibling\n"
        "print(np.zeros(1), os.path.join('a'), sqrt(PI), sibling)\n"
    )
    assert undefined_names(code) == set()


def test_ignores_comprehension_and_loop_variables() -> None:
    code = (
        "a = [i * j for i in range(3) for j in range(i)]\n"
        "b = {k: v for k, v in {}.items()}\n"
        "c = sum(q for q in a)\n"
        "for m, (n, o) in []:\n"
        "    print(m, n, o)\n"
        "with open('f') as fh:\n"
        "    print(fh)\n"
        "if (w := 3):\n"
        "    print(w)\n"
    )
    assert undefined_names(code) == set()


def test_ignores_globals_and_nonlocals() -> None:
    code = (
        "def f():\n"
        "    global counter\n"
        "    counter = 1\n"
        "def g():\n"
        "    return counter\n"
        "def outer():\n"
        "    total = 0\n"
        "    def inner():\n"
        "        nonlocal total\n"
        "        total += 1\n"
        "    return inner\n"
    )
    assert undefined_names(code) == set()


def test_ignores_except_names_classes_and_functions() -> None:
    code = (
        "class A:\n    pass\n"
        "def f():\n    return A(), f\n"
        "try:\n    pass\nexcept ValueError as err:\n    print(err)\n"
    )
    assert undefined_names(code) == set()


def test_ignores_match_captures() -> None:
    code = (
        "def f(p):\n"
        "    match p:\n"
        "        case [first, *rest]:\n"
        "            return first, rest\n"
        "        case {'k': val, **others}:\n"
        "            return val, others\n"
        "        case str() as s:\n"
        "            return s\n"
    )
    assert undefined_names(code) == set()


def test_star_import_disables_the_check() -> None:
    assert undefined_names("from math import *\nprint(sqrt(2), invented)\n") == set()


def test_syntax_error_gives_empty_set() -> None:
    assert undefined_names("def f(:\n    return nope\n") == set()


def test_mixed_defined_and_undefined() -> None:
    code = "import math\nx = 1\ndef f(y):\n    return math.sqrt(x + y + z)\n"
    assert undefined_names(code) == {"z"}


def test_initial_program_of_bundled_problem_is_clean() -> None:
    from pathlib import Path

    src = (
        Path(__file__).resolve().parent.parent
        / "problems"
        / "function_minimization"
        / "initial_program.py"
    ).read_text()
    assert undefined_names(src) == set()
