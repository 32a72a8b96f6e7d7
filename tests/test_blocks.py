"""Tests for evolve.code.blocks: EVOLVE-BLOCK markers, split/join, check_preserved."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from evolve.code.blocks import (
    END,
    START,
    BlockError,
    Blocks,
    check_preserved,
    comment_prefix,
    language_for,
    split,
)

# --- strategies --------------------------------------------------------------------------

# Characters that str.splitlines() treats as line boundaries: never inside a generated line.
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"

# Lines that look a bit like markers but are not marker lines.
_TRICKY_LINES = [
    'x = "EVOLVE-BLOCK-START"',
    "print('# EVOLVE-BLOCK-END')",
    "y = 1  # EVOLVE-BLOCK-START",
    "# EVOLVE-BLOCK-STARTED is not a marker",
    "#EVOLVE-BLOCK",
    "# evolve-block-start",
    "    return x",
    "",
    "   ",
    "# a comment",
    "def f(x):",
]

_plain_line = st.text(
    alphabet=st.characters(exclude_characters=_LINE_BREAKS, exclude_categories=("Cs",)),
    max_size=30,
).filter(lambda s: "EVOLVE-BLOCK" not in s.upper())

line = st.one_of(_plain_line, st.sampled_from(_TRICKY_LINES))
newline = st.sampled_from(["\n", "\r\n"])


@st.composite
def chunk(draw: st.DrawFn) -> str:
    """Whole lines, each ending in a newline (possibly no lines at all)."""
    lines = draw(st.lists(line, max_size=5))
    return "".join(ln + draw(newline) for ln in lines)


@st.composite
def marker(draw: st.DrawFn, kind: str) -> str:
    indent = draw(st.sampled_from(["", "    ", "\t", "  \t"]))
    gap = draw(st.sampled_from(["", " ", "  ", "\t"]))
    tail = draw(st.sampled_from(["", " ", "  (evolve this)", " -- keep", ":"]))
    return f"{indent}#{gap}{kind}{tail}" + draw(newline)


@st.composite
def marked_program(draw: st.DrawFn) -> tuple[str, list[str], list[str]]:
    """(code, fixed parts, regions) of a program with 1-4 well-formed blocks."""
    n = draw(st.integers(min_value=1, max_value=4))
    regions = [draw(chunk()) for _ in range(n)]
    fixed: list[str] = []
    for i in range(n + 1):
        text = "" if i == 0 else draw(marker(END))
        text += draw(chunk())
        if i < n:
            text += draw(marker(START))
        elif draw(st.booleans()):
            # the file may end without a final newline
            text += draw(_plain_line)
        fixed.append(text)
    code = fixed[0] + "".join(r + f for r, f in zip(regions, fixed[1:], strict=True))
    return code, fixed, regions


def _program(*parts: str) -> str:
    return "".join(parts)


SIMPLE = _program(
    "import math\n",
    "# EVOLVE-BLOCK-START\n",
    "def f(x):\n    return x\n",
    "# EVOLVE-BLOCK-END\n",
    "\n",
    "def g():\n    return f(1)\n",
    "# EVOLVE-BLOCK-START\n",
    "K = 3\n",
    "# EVOLVE-BLOCK-END\n",
    "print(g())\n",
)


# --- split / join ------------------------------------------------------------------------


def test_split_simple_program() -> None:
    b = split(SIMPLE)
    assert b.marked
    assert b.regions == ("def f(x):\n    return x\n", "K = 3\n")
    assert b.fixed == (
        "import math\n# EVOLVE-BLOCK-START\n",
        "# EVOLVE-BLOCK-END\n\ndef g():\n    return f(1)\n# EVOLVE-BLOCK-START\n",
        "# EVOLVE-BLOCK-END\nprint(g())\n",
    )
    assert b.join() == SIMPLE


def test_join_replaces_regions_in_place() -> None:
    b = split(SIMPLE)
    new = b.join(["def f(x):\n    return 2 * x\n", ""])
    assert new == SIMPLE.replace("    return x\n", "    return 2 * x\n").replace("K = 3\n", "")
    assert split(new).regions == ("def f(x):\n    return 2 * x\n", "")


def test_join_rejects_wrong_region_count() -> None:
    b = split(SIMPLE)
    with pytest.raises(ValueError):
        b.join(["only one\n"])
    with pytest.raises(ValueError):
        b.join(["a\n", "b\n", "c\n"])


def test_program_without_markers_is_one_region() -> None:
    code = "def f():\n    return 1\n"
    b = split(code)
    assert not b.marked
    assert b.regions == (code,)
    assert b.join() == code
    assert b.join(["x = 2\n"]) == "x = 2\n"


def test_empty_program() -> None:
    b = split("")
    assert not b.marked
    assert b.join() == ""


def test_empty_region_between_adjacent_markers() -> None:
    code = "a = 1\n# EVOLVE-BLOCK-START\n# EVOLVE-BLOCK-END\nb = 2\n"
    b = split(code)
    assert b.marked
    assert b.regions == ("",)
    assert b.join(["c = 3\n"]) == "a = 1\n# EVOLVE-BLOCK-START\nc = 3\n# EVOLVE-BLOCK-END\nb = 2\n"


@settings(max_examples=120, deadline=None)
@given(marked_program())
def test_split_join_round_trip(prog: tuple[str, list[str], list[str]]) -> None:
    code, fixed, regions = prog
    b = split(code)
    assert b.marked
    assert list(b.regions) == regions
    assert list(b.fixed) == fixed
    assert len(b.fixed) == len(b.regions) + 1
    assert b.join() == code


@settings(max_examples=100, deadline=None)
@given(marked_program(), st.data())
def test_join_with_new_regions_then_split_recovers_them(
    prog: tuple[str, list[str], list[str]], data: st.DataObject
) -> None:
    code, _, regions = prog
    b = split(code)
    new_regions = [data.draw(chunk()) for _ in regions]
    new_code = b.join(new_regions)
    again = split(new_code)
    assert list(again.regions) == new_regions
    assert again.fixed == b.fixed


@settings(max_examples=100, deadline=None)
@given(st.lists(line, max_size=8), newline)
def test_round_trip_without_markers(lines: list[str], nl: str) -> None:
    code = nl.join(lines)
    b = split(code)
    assert not b.marked
    assert b.regions == (code,)
    assert b.join() == code


# --- unbalanced markers --------------------------------------------------------------------


def test_end_without_start_names_its_line() -> None:
    code = "a = 1\nb = 2\n# EVOLVE-BLOCK-END\n"
    with pytest.raises(BlockError, match=r"line 3\b") as exc:
        split(code)
    assert END in str(exc.value)


def test_second_end_without_start_names_its_line() -> None:
    code = "# EVOLVE-BLOCK-START\nx\n# EVOLVE-BLOCK-END\ny\n# EVOLVE-BLOCK-END\n"
    with pytest.raises(BlockError, match=r"line 5\b"):
        split(code)


def test_start_never_closed_names_its_line() -> None:
    code = "a = 1\n\n# EVOLVE-BLOCK-START\nx = 2\ny = 3\n"
    with pytest.raises(BlockError, match=r"line 3\b") as exc:
        split(code)
    assert "never closed" in str(exc.value)


def test_nested_start_names_both_lines() -> None:
    code = "# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-START\ny\n# EVOLVE-BLOCK-END\n"
    with pytest.raises(BlockError) as exc:
        split(code)
    msg = str(exc.value)
    assert msg.startswith("line 3:")
    assert "line 1" in msg


def test_block_error_is_value_error() -> None:
    assert issubclass(BlockError, ValueError)


# --- check_preserved ---------------------------------------------------------------------


@settings(max_examples=120, deadline=None)
@given(marked_program(), st.data())
def test_edits_confined_to_regions_are_accepted(
    prog: tuple[str, list[str], list[str]], data: st.DataObject
) -> None:
    code, _, regions = prog
    parent = split(code)
    new_regions = [data.draw(chunk()) for _ in regions]
    assert check_preserved(parent, parent.join(new_regions)) is None


_EDIT_CHARS = st.sampled_from(["x", " ", "\t", "#", "\n", "\r", "-", "E", "\u00e9", "0"])


@st.composite
def fixed_edit(draw: st.DrawFn) -> tuple[Blocks, str]:
    """A marked parent and a child differing from it by one character outside its regions."""
    code, fixed, regions = draw(marked_program())
    parent = split(code)
    n = len(fixed) - 1
    i = draw(st.integers(min_value=0, max_value=n))
    part = fixed[i]
    kind = draw(st.sampled_from(["insert", "delete", "replace"]))
    if kind == "insert":
        # Strictly inside the fixed part: its edges touch a region (except at file ends).
        lo = 0 if i == 0 else 1
        hi = len(part) if i == n else len(part) - 1
        assume(lo <= hi)
        p = draw(st.integers(min_value=lo, max_value=hi))
        new_part = part[:p] + draw(_EDIT_CHARS) + part[p:]
    else:
        assume(part)
        p = draw(st.integers(min_value=0, max_value=len(part) - 1))
        if kind == "delete":
            new_part = part[:p] + part[p + 1 :]
        else:
            c = draw(_EDIT_CHARS)
            assume(c != part[p])
            new_part = part[:p] + c + part[p + 1 :]
    new_fixed = [*fixed]
    new_fixed[i] = new_part
    child = new_fixed[0] + "".join(r + f for r, f in zip(regions, new_fixed[1:], strict=True))
    # A one-character change at the edge of a fixed part can give exactly the text of a
    # region-only edit (e.g. deleting the "\n" of "...START\r\n" when the region starts
    # with "\n"); such a child keeps every fixed part and is rightly accepted.
    assume(not _is_region_edit(fixed, child))
    return parent, child


def _is_region_edit(fixed: list[str], child: str) -> bool:
    pattern = "(.*)".join(re.escape(f) for f in fixed)
    return re.fullmatch(pattern, child, re.DOTALL) is not None


@settings(max_examples=120, deadline=None)
@given(fixed_edit())
def test_any_change_outside_regions_is_rejected(case: tuple[Blocks, str]) -> None:
    parent, child = case
    reason = check_preserved(parent, child)
    assert isinstance(reason, str)
    assert reason.strip()
    assert "\n" not in reason


def test_change_in_marker_line_is_rejected() -> None:
    parent = split(SIMPLE)
    child = SIMPLE.replace("# EVOLVE-BLOCK-START\ndef", "# EVOLVE-BLOCK-START (mine)\ndef")
    reason = check_preserved(parent, child)
    assert reason is not None
    assert "outside" in reason


def test_change_in_fixed_code_reason_quotes_the_line() -> None:
    parent = split(SIMPLE)
    child = SIMPLE.replace("return f(1)", "return f(2)")
    reason = check_preserved(parent, child)
    assert reason is not None
    assert "return f(1)" in reason
    assert "return f(2)" in reason


def test_line_ending_change_in_fixed_part_is_rejected() -> None:
    parent = split(SIMPLE)
    child = SIMPLE.replace("import math\n", "import math\r\n")
    reason = check_preserved(parent, child)
    assert isinstance(reason, str) and reason


def test_removing_markers_is_rejected() -> None:
    parent = split(SIMPLE)
    child = SIMPLE.replace("# EVOLVE-BLOCK-START\n", "").replace("# EVOLVE-BLOCK-END\n", "")
    reason = check_preserved(parent, child)
    assert reason is not None
    assert "number of EVOLVE-BLOCKs" in reason
    assert "from 2 to 0" in reason


def test_adding_a_block_inside_a_region_is_rejected() -> None:
    parent = split(SIMPLE)
    child = parent.join(["x = 1\n# EVOLVE-BLOCK-END\n# EVOLVE-BLOCK-START\ny = 2\n", "K = 3\n"])
    reason = check_preserved(parent, child)
    assert reason is not None
    assert "number of EVOLVE-BLOCKs" in reason
    assert "from 2 to 3" in reason


def test_dropping_one_block_is_rejected() -> None:
    code = "a\n# EVOLVE-BLOCK-START\nb\n# EVOLVE-BLOCK-END\nc\n"
    parent = split(code + code)
    reason = check_preserved(parent, code)
    assert reason is not None
    assert "from 2 to 1" in reason


def test_unbalanced_child_is_rejected_with_block_error_text() -> None:
    parent = split(SIMPLE)
    child = parent.join(["x = 1\n# EVOLVE-BLOCK-END\n", "K = 3\n"])
    reason = check_preserved(parent, child)
    assert reason is not None
    assert "markers" in reason
    assert "line" in reason


@settings(max_examples=100, deadline=None)
@given(st.lists(line, max_size=6), st.text(max_size=60))
def test_program_without_markers_accepts_anything(lines: list[str], child: str) -> None:
    parent = split("\n".join(lines) + "\n")
    assert not parent.marked
    assert check_preserved(parent, child) is None
    assert check_preserved(parent, SIMPLE) is None
    assert check_preserved(parent, "# EVOLVE-BLOCK-END\n") is None


# --- languages -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("prog.py", "python"),
        ("dir/kernel.cu", "cuda"),
        ("main.c", "c"),
        ("lib.rs", "rust"),
        ("LIB.RS", "rust"),
        ("a/b/main.go", "go"),
        ("script.lua", "lua"),
        ("query.sql", "sql"),
        ("model.m", "matlab"),
        ("paper.tex", "latex"),
        ("x.hs", "haskell"),
        ("x.cpp", "cpp"),
        ("x.ts", "typescript"),
        ("notes.txt", "text"),
        ("Makefile", "text"),
    ],
)
def test_language_for(path: str, language: str) -> None:
    assert language_for(path) == language


@pytest.mark.parametrize(
    ("language", "prefix"),
    [
        ("python", "#"),
        ("c", "//"),
        ("rust", "//"),
        ("lua", "--"),
        ("sql", "--"),
        ("haskell", "--"),
        ("matlab", "%"),
        ("latex", "%"),
        ("text", "#"),
        ("no-such-language", "#"),
    ],
)
def test_comment_prefix(language: str, prefix: str) -> None:
    assert comment_prefix(language) == prefix


C_PROGRAM = (
    "#include <stdio.h>\n"
    "// EVOLVE-BLOCK-START\n"
    "int f(int x) { return x; }\n"
    "// EVOLVE-BLOCK-END\n"
    "int main(void) { return f(0); }\n"
)


@pytest.mark.parametrize("language", ["c", "cpp", "rust", "go", "java", "javascript"])
def test_slash_markers(language: str) -> None:
    b = split(C_PROGRAM, language)
    assert b.marked
    assert b.regions == ("int f(int x) { return x; }\n",)
    assert b.fixed[0] == "#include <stdio.h>\n// EVOLVE-BLOCK-START\n"
    assert b.join() == C_PROGRAM


def test_block_comment_markers_in_c() -> None:
    code = "int a;\n/* EVOLVE-BLOCK-START */\nint b;\n/* EVOLVE-BLOCK-END */\n"
    b = split(code, "c")
    assert b.marked
    assert b.regions == ("int b;\n",)


def test_rust_markers_indented() -> None:
    code = (
        "fn main() {\n"
        "    // EVOLVE-BLOCK-START\n"
        "    let x = 1;\n"
        "    // EVOLVE-BLOCK-END\n"
        '    println!("{}", x);\n'
        "}\n"
    )
    b = split(code, "rust")
    assert b.regions == ("    let x = 1;\n",)


@pytest.mark.parametrize("language", ["lua", "sql", "haskell"])
def test_double_dash_markers(language: str) -> None:
    code = "-- header\n-- EVOLVE-BLOCK-START\nlocal x = 1\n-- EVOLVE-BLOCK-END\nreturn x\n"
    b = split(code, language)
    assert b.marked
    assert b.regions == ("local x = 1\n",)
    assert b.join() == code


@pytest.mark.parametrize("language", ["matlab", "latex"])
def test_percent_markers(language: str) -> None:
    code = "% EVOLVE-BLOCK-START\nx = 1;\n% EVOLVE-BLOCK-END\ndisp(x);\n"
    b = split(code, language)
    assert b.regions == ("x = 1;\n",)


def test_other_languages_comment_is_not_a_marker_in_python() -> None:
    code = "// EVOLVE-BLOCK-START\nx = 1\n// EVOLVE-BLOCK-END\n"
    assert not split(code, "python").marked
    code = "-- EVOLVE-BLOCK-START\nx = 1\n-- EVOLVE-BLOCK-END\n"
    assert not split(code, "python").marked


def test_hash_is_not_a_marker_in_c() -> None:
    code = "# EVOLVE-BLOCK-START\nint x;\n# EVOLVE-BLOCK-END\n"
    assert not split(code, "c").marked


@pytest.mark.parametrize("prefix", ["#", "//", "--", "%"])
def test_unknown_language_accepts_common_comment_syntax(prefix: str) -> None:
    code = f"{prefix} EVOLVE-BLOCK-START\nbody\n{prefix} EVOLVE-BLOCK-END\n"
    b = split(code, "text")
    assert b.marked
    assert b.regions == ("body\n",)


@pytest.mark.parametrize(
    "line_text",
    [
        'x = "EVOLVE-BLOCK-START"',
        "print('# EVOLVE-BLOCK-START')",
        "y = 1  # EVOLVE-BLOCK-START",
        "s = '''# EVOLVE-BLOCK-END'''",
        "# EVOLVE-BLOCK-STARTER",
    ],
)
def test_marker_text_outside_a_comment_line_is_not_a_marker(line_text: str) -> None:
    code = f"a = 1\n{line_text}\nb = 2\n"
    b = split(code)
    assert not b.marked
    assert b.regions == (code,)
    # and inside a real block it stays region text
    code = f"# EVOLVE-BLOCK-START\n{line_text}\n# EVOLVE-BLOCK-END\n"
    b = split(code)
    assert b.marked
    assert b.regions == (f"{line_text}\n",)


def test_c_string_with_marker_text_is_not_a_marker() -> None:
    code = '// EVOLVE-BLOCK-START\nconst char *s = "// EVOLVE-BLOCK-END";\n// EVOLVE-BLOCK-END\n'
    b = split(code, "c")
    assert b.regions == ('const char *s = "// EVOLVE-BLOCK-END";\n',)


def test_end_marker_on_last_line_without_newline() -> None:
    code = "a\n# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END"
    b = split(code)
    assert b.regions == ("x = 1\n",)
    assert b.fixed == ("a\n# EVOLVE-BLOCK-START\n", "# EVOLVE-BLOCK-END")
    assert b.join() == code
    assert check_preserved(b, b.join(["y = 2\n"])) is None
    assert check_preserved(b, code + "\n") is not None


def test_crlf_markers() -> None:
    code = "a\r\n# EVOLVE-BLOCK-START\r\nb\r\n# EVOLVE-BLOCK-END\r\nc\r\n"
    b = split(code)
    assert b.regions == ("b\r\n",)
    assert b.join() == code


def test_check_preserved_uses_the_language() -> None:
    parent = split(C_PROGRAM, "c")
    child = parent.join(["int f(int x) { return 2 * x; }\n"])
    assert check_preserved(parent, child, "c") is None
    bad = child.replace("int main", "long main")
    assert check_preserved(parent, bad, "c") is not None
