"""Tests for evolve.code.diff: parsing and applying SEARCH/REPLACE blocks."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from evolve.code.diff import DiffOutcome, Edit, apply_edits, parse_edits, unified_diff


def block(search: str, replace: str, n: int = 7) -> str:
    return f"{'<' * n} SEARCH\n{search}{'=' * n}\n{replace}{'>' * n} REPLACE\n"


# --- strategies ----------------------------------------------------------------------------

# Line text: printable, no line breaks, no diff-marker characters.
_line = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="<=>\x7f\x85"),
    max_size=20,
)


def _lines(min_size: int = 0, max_size: int = 6) -> st.SearchStrategy[str]:
    return st.lists(_line, min_size=min_size, max_size=max_size).map(
        lambda ls: "".join(ln + "\n" for ln in ls)
    )


# --- applying: the exact path ------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(_lines(), _lines(min_size=1), _lines(), _lines())
def test_unique_search_is_replaced_like_str_replace(
    before: str, search: str, after: str, replace: str
) -> None:
    assume(search.strip())
    code = before + search + after
    assume(code.count(search) == 1)
    out = apply_edits(code, [Edit(search, replace)])
    assert out.failures == ()
    assert out.applied == 1
    assert out.ok
    assert out.code == code.replace(search, replace, 1)


@settings(max_examples=100, deadline=None)
@given(_lines(), _lines(min_size=1), _lines(), _lines())
def test_parsed_answer_applies_like_str_replace(
    before: str, search: str, after: str, replace: str
) -> None:
    assume(search.strip())
    code = before + search + after
    assume(code.count(search) == 1)
    answer = "Here is my change.\n\n" + block(search, replace) + "\nDone.\n"
    edits = parse_edits(answer)
    assert edits == [Edit(search, replace)]
    assert apply_edits(code, edits).code == code.replace(search, replace, 1)


def test_first_occurrence_is_replaced_when_search_repeats() -> None:
    code = "x = 1\ny = 2\nx = 1\n"
    out = apply_edits(code, [Edit("x = 1\n", "x = 3\n")])
    assert out.code == "x = 3\ny = 2\nx = 1\n"
    assert out.applied == 1


def test_empty_replace_deletes() -> None:
    code = "a\nb\nc\n"
    out = apply_edits(code, [Edit("b\n", "")])
    assert out.code == "a\nc\n"
    assert out.ok


def test_edits_apply_in_sequence() -> None:
    code = "a = 1\nb = 2\n"
    edits = [Edit("a = 1\n", "a = 10\n"), Edit("a = 10\nb = 2\n", "a = 10\nb = 20\n")]
    out = apply_edits(code, edits)
    assert out.code == "a = 10\nb = 20\n"
    assert out.applied == 2
    assert out.ok


# --- whitespace tolerance ------------------------------------------------------------------


def test_trailing_whitespace_in_code_is_tolerated() -> None:
    code = "def f():\n    x = 1   \n    return x\t\n"
    out = apply_edits(code, [Edit("    x = 1\n    return x\n", "    x = 2\n    return x\n")])
    assert out.failures == ()
    assert out.code == "def f():\n    x = 2\n    return x\n"


def test_trailing_whitespace_in_search_is_tolerated() -> None:
    code = "def f():\n    x = 1\n    return x\n"
    out = apply_edits(code, [Edit("    x = 1  \n    return x \n", "    x = 2\n")])
    assert out.failures == ()
    assert out.code == "def f():\n    x = 2\n"


def test_search_at_shallower_indentation_is_reindented() -> None:
    code = (
        "class A:\n"
        "    def f(self):\n"
        "        x = 1\n"
        "        return x\n"
        "\n"
        "    def g(self):\n"
        "        return 0\n"
    )
    search = "def f(self):\n    x = 1\n    return x\n"
    replace = "def f(self):\n    if True:\n        x = 2\n\n    return x\n"
    out = apply_edits(code, [Edit(search, replace)])
    assert out.failures == ()
    assert out.code == (
        "class A:\n"
        "    def f(self):\n"
        "        if True:\n"
        "            x = 2\n"
        "\n"
        "        return x\n"
        "\n"
        "    def g(self):\n"
        "        return 0\n"
    )


def test_search_at_deeper_indentation_is_reindented() -> None:
    code = "def f():\n    for i in range(3):\n        print(i)\n"
    search = "        for i in range(3):\n            print(i)\n"
    replace = "        for i in range(4):\n            if i:\n                print(i)\n"
    out = apply_edits(code, [Edit(search, replace)])
    assert out.failures == ()
    assert out.code == "def f():\n    for i in range(4):\n        if i:\n            print(i)\n"


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=0, max_value=3),
    st.integers(min_value=0, max_value=3),
    st.lists(st.integers(min_value=0, max_value=2), min_size=1, max_size=4),
    st.lists(st.integers(min_value=0, max_value=2), min_size=1, max_size=4),
)
def test_uniform_indentation_offset_is_carried_to_replace(
    code_level: int, search_level: int, search_shape: list[int], replace_shape: list[int]
) -> None:
    def render(base: int, shape: list[int], stem: str) -> str:
        return "".join(f"{'    ' * (base + d)}{stem}{k} = {d}\n" for k, d in enumerate(shape))

    code = "head = 0\n" + render(code_level, search_shape, "s") + "tail = 0\n"
    search = render(search_level, search_shape, "s")
    replace = render(search_level, replace_shape, "r")
    out = apply_edits(code, [Edit(search, replace)])
    assert out.failures == ()
    assert out.code == "head = 0\n" + render(code_level, replace_shape, "r") + "tail = 0\n"


def test_single_line_search_without_indentation_reindents_replace() -> None:
    # A model often drops the indentation of a one-line SEARCH. It must match the whole
    # indented line and the multi-line REPLACE must get the same indentation, not be
    # spliced into the middle of the line (which leaves `return y` at column 0).
    code = "def f(x):\n    return x\n"
    out = apply_edits(code, [Edit("return x\n", "y = x + 1\nreturn y\n")])
    assert out.failures == ()
    assert out.code == "def f(x):\n    y = x + 1\n    return y\n"


def test_inconsistent_indentation_is_not_matched() -> None:
    code = "def f():\n    a = 1\n    b = 2\n"
    out = apply_edits(code, [Edit("a = 1\n        b = 2\n", "a = 0\n")])
    assert out.applied == 0
    assert len(out.failures) == 1
    assert out.code == code


def test_crlf_code_with_lf_search_keeps_crlf() -> None:
    code = "def f():\r\n    x = 1\r\n    return x\r\n"
    out = apply_edits(
        code, [Edit("    x = 1\n    return x\n", "    x = 2\n    y = 3\n    return x\n")]
    )
    assert out.failures == ()
    assert out.code == "def f():\r\n    x = 2\r\n    y = 3\r\n    return x\r\n"


def test_crlf_code_with_indented_search_keeps_crlf() -> None:
    code = "class A:\r\n    def f(self):\r\n        return 1\r\n"
    out = apply_edits(code, [Edit("def f(self):\n    return 1\n", "def f(self):\n    return 2\n")])
    assert out.failures == ()
    assert out.code == "class A:\r\n    def f(self):\r\n        return 2\r\n"


def test_crlf_code_with_crlf_search_exact() -> None:
    code = "a = 1\r\nb = 2\r\n"
    out = apply_edits(code, [Edit("b = 2\r\n", "b = 3\r\n")])
    assert out.code == "a = 1\r\nb = 3\r\n"


def test_match_at_end_of_file_without_newline() -> None:
    code = "a = 1\n    b = 2"
    out = apply_edits(code, [Edit("b = 2\n", "b = 3\nc = 4\n")])
    assert out.failures == ()
    assert out.code == "a = 1\n    b = 3\n    c = 4"


def test_blank_lines_around_search_are_ignored_when_fuzzy() -> None:
    code = "def f():\n    x = 1\n    return x\n"
    out = apply_edits(code, [Edit("\n\nx = 1\n\n", "x = 2\n")])
    assert out.failures == ()
    assert out.code == "def f():\n    x = 2\n    return x\n"


# --- failures -----------------------------------------------------------------------------


def test_every_failing_block_is_reported() -> None:
    code = "a = 1\nb = 2\nc = 3\n"
    edits = [
        Edit("nothing like this\n", "x\n"),
        Edit("b = 2\n", "b = 20\n"),
        Edit("zzz = 9\n", "y\n"),
    ]
    out = apply_edits(code, edits)
    assert out.applied == 1
    assert out.code == "a = 1\nb = 20\nc = 3\n"
    assert len(out.failures) == 2
    assert out.failures[0].startswith("block 1:")
    assert out.failures[1].startswith("block 3:")
    assert all("not found" in f for f in out.failures)
    assert not out.ok


def test_good_blocks_before_a_bad_one_are_counted() -> None:
    code = "a = 1\nb = 2\n"
    out = apply_edits(code, [Edit("a = 1\n", "a = 5\n"), Edit("missing\n", "q\n")])
    assert out.applied == 1
    assert out.code == "a = 5\nb = 2\n"
    assert len(out.failures) == 1
    assert "block 2" in out.failures[0]
    assert not out.ok


def test_no_blocks_is_a_failure() -> None:
    out = apply_edits("a = 1\n", [])
    assert out.applied == 0
    assert out.code == "a = 1\n"
    assert len(out.failures) == 1
    assert "no SEARCH/REPLACE block" in out.failures[0]
    assert not out.ok


def test_answer_without_blocks_parses_to_nothing_and_fails() -> None:
    edits = parse_edits("I think the code is fine as it is.\n```python\nx = 1\n```\n")
    assert edits == []
    assert not apply_edits("x = 1\n", edits).ok


@pytest.mark.parametrize("search", ["", "\n", "   \n\t\n"])
def test_empty_search_is_a_failure(search: str) -> None:
    code = "a = 1\n"
    out = apply_edits(code, [Edit(search, "b = 2\n")])
    assert out.applied == 0
    assert out.code == code
    assert len(out.failures) == 1
    assert "block 1" in out.failures[0]
    assert "empty" in out.failures[0]


def test_empty_search_parsed_from_answer_is_a_failure() -> None:
    edits = parse_edits("<<<<<<< SEARCH\n=======\nb = 2\n>>>>>>> REPLACE\n")
    assert edits == [Edit("", "b = 2\n")]
    out = apply_edits("a = 1\n", edits)
    assert not out.ok
    assert "empty" in out.failures[0]


def test_failure_suggests_the_nearest_line() -> None:
    code = "def f(x):\n    value = compute(x)\n    return value\n"
    out = apply_edits(code, [Edit("    valeu = compute(x)\n", "    value = 2\n")])
    assert len(out.failures) == 1
    assert "did you mean 'value = compute(x)'" in out.failures[0]


def test_outcome_ok_property() -> None:
    assert DiffOutcome("x", 1, ()).ok
    assert not DiffOutcome("x", 0, ()).ok
    assert not DiffOutcome("x", 2, ("block 3: bad",)).ok


@settings(max_examples=80, deadline=None)
@given(_lines(min_size=1), st.lists(_lines(min_size=1), min_size=1, max_size=4))
def test_no_failing_block_is_silently_dropped(code: str, searches: list[str]) -> None:
    edits = [Edit(s, "replaced\n") for s in searches]
    out = apply_edits(code, edits)
    assert out.applied + len(out.failures) == len(edits)
    numbers = [int(re.match(r"block (\d+):", f).group(1)) for f in out.failures]  # type: ignore[union-attr]
    assert numbers == sorted(set(numbers))
    assert all(1 <= n <= len(edits) for n in numbers)


# --- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [5, 6, 7, 8, 9])
def test_parse_accepts_five_to_nine_marker_characters(n: int) -> None:
    edits = parse_edits(block("x = 1\n", "x = 2\n", n))
    assert edits == [Edit("x = 1\n", "x = 2\n")]


def test_parse_accepts_mixed_marker_lengths() -> None:
    text = "<<<<< SEARCH\na\n=========\nb\n>>>>>>>> REPLACE\n"
    assert parse_edits(text) == [Edit("a\n", "b\n")]


def test_parse_ignores_four_marker_characters() -> None:
    assert parse_edits("<<<< SEARCH\na\n====\nb\n>>>> REPLACE\n") == []


def test_parse_with_prose_and_markdown_fences() -> None:
    answer = (
        "Let me vectorise the inner loop.\n\n"
        "```python\n"
        "<<<<<<< SEARCH\n"
        "    for i in range(n):\n"
        "        total += i\n"
        "=======\n"
        "    total += n * (n - 1) // 2\n"
        ">>>>>>> REPLACE\n"
        "```\n\n"
        "And rename the result:\n\n"
        "```\n"
        "<<<<<<< SEARCH\n"
        "    return total\n"
        "=======\n"
        "    return int(total)\n"
        ">>>>>>> REPLACE\n"
        "```\n"
        "This is O(1) now."
    )
    edits = parse_edits(answer)
    assert edits == [
        Edit("    for i in range(n):\n        total += i\n", "    total += n * (n - 1) // 2\n"),
        Edit("    return total\n", "    return int(total)\n"),
    ]
    code = (
        "def f(n):\n    total = 0\n    for i in range(n):\n        total += i\n    return total\n"
    )
    out = apply_edits(code, edits)
    assert out.ok
    assert (
        out.code
        == "def f(n):\n    total = 0\n    total += n * (n - 1) // 2\n    return int(total)\n"
    )


def test_parse_tolerates_indented_markers_and_trailing_spaces() -> None:
    text = "  <<<<<<< SEARCH  \na\n  =======  \nb\n  >>>>>>> REPLACE  \n"
    assert parse_edits(text) == [Edit("a\n", "b\n")]


def test_parse_last_block_without_final_newline() -> None:
    assert parse_edits("<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE") == [Edit("a\n", "b\n")]


def test_parse_keeps_blocks_in_order() -> None:
    text = block("1\n", "one\n") + "prose\n" + block("2\n", "two\n") + block("3\n", "three\n")
    assert [e.search for e in parse_edits(text)] == ["1\n", "2\n", "3\n"]


def test_block_missing_its_replace_line_does_not_swallow_the_next() -> None:
    # The first block lacks ">>>>>>> REPLACE". It must not absorb the second block (markers
    # and all) into its REPLACE text, and no diff marker may end up in the program.
    answer = (
        "<<<<<<< SEARCH\na = 1\n=======\na = 2\n\n"
        "<<<<<<< SEARCH\nb = 1\n=======\nb = 2\n>>>>>>> REPLACE\n"
    )
    edits = parse_edits(answer)
    for e in edits:
        assert "<<<<<<<" not in e.replace
        assert "=======" not in e.replace
    out = apply_edits("a = 1\nb = 1\n", edits)
    assert "<<<<<<<" not in out.code
    assert "=======" not in out.code


def test_parse_crlf_answer() -> None:
    # The SEARCH and ======= lines accept "\r\n"; the REPLACE line must too.
    answer = "<<<<<<< SEARCH\r\nx = 1\r\n=======\r\nx = 2\r\n>>>>>>> REPLACE\r\n"
    edits = parse_edits(answer)
    assert len(edits) == 1
    out = apply_edits("y = 0\nx = 1\n", edits)
    assert out.ok
    assert out.code == "y = 0\nx = 2\n"


# --- unified_diff -------------------------------------------------------------------------


def test_unified_diff() -> None:
    old = "a\nb\nc\n"
    new = "a\nB\nc\n"
    d = unified_diff(old, new)
    assert d.startswith("--- parent\n+++ child\n")
    assert "-b\n" in d
    assert "+B\n" in d
    assert " a\n" in d


def test_unified_diff_names_and_identical() -> None:
    assert unified_diff("x\n", "x\n") == ""
    d = unified_diff("x\n", "y\n", "old.py", "new.py")
    assert d.startswith("--- old.py\n+++ new.py\n")


@settings(max_examples=50, deadline=None)
@given(_lines(), _lines())
def test_unified_diff_is_empty_iff_equal(old: str, new: str) -> None:
    assert (unified_diff(old, new) == "") == (old == new)
