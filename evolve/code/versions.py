"""Versioned-function prompts for base (completion) models, in the style of FunSearch.

A base model does not follow instructions, but it continues code well. When an evolvable
region holds one Python function ``f``, the prompt shows earlier programs as ``f_v0``,
``f_v1``, ... (worst first, the parent last) and ends with the header of the next version,
which the model completes. The completion is cut at the first top-level statement,
repaired if ``max_tokens`` cut it mid-statement, renamed back to ``f`` and put in place of
the parent's function. Any other region (another language, several functions) falls back to
numbered region versions separated by comments.
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from evolve.code.blocks import comment_prefix


class CompletionError(ValueError):
    """A completion that cannot become a program (empty, unparsable, calls an old version)."""


@dataclass(frozen=True)
class FunctionParts:
    """A region split around its single top-level function."""

    preamble: str
    decorators_and_header: str
    docstring: str
    body: str
    postamble: str
    name: str


def function_parts(region: str) -> FunctionParts | None:
    """Split a Python region holding exactly one top-level function; None otherwise."""
    try:
        tree = ast.parse(region)
    except SyntaxError:
        return None
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if len(funcs) != 1:
        return None
    node = funcs[0]
    lines = region.splitlines(keepends=True)
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
    body_nodes = node.body
    doc = ""
    if (
        body_nodes
        and isinstance(body_nodes[0], ast.Expr)
        and isinstance(body_nodes[0].value, ast.Constant)
        and isinstance(body_nodes[0].value.value, str)
    ):
        doc_node = body_nodes[0]
        doc = "".join(lines[doc_node.lineno - 1 : doc_node.end_lineno])
        body_start = doc_node.end_lineno
        header_end = doc_node.lineno - 1
    else:
        header_end = body_nodes[0].lineno - 1
        body_start = header_end
    if header_end <= node.lineno - 1:  # body on the same line as `def`: not versionable
        return None
    end = node.end_lineno or len(lines)
    return FunctionParts(
        preamble="".join(lines[:first]),
        decorators_and_header="".join(lines[first:header_end]),
        docstring=doc,
        body="".join(lines[body_start:end]),
        postamble="".join(lines[end:]),
        name=node.name,
    )


def _same_function(region: str, name: str) -> bool:
    """True when ``region`` is a single function named ``name`` (others cannot be versioned)."""
    parts = function_parts(region)
    return parts is not None and parts.name == name


def _rename(text: str, old: str, new: str) -> str:
    return re.sub(rf"\b{re.escape(old)}\b", new, text)


def _body_indent(parts: FunctionParts) -> str:
    for line in (parts.docstring + parts.body).splitlines():
        if line.strip():
            return line[: len(line) - len(line.lstrip())]
    return "    "


@dataclass(frozen=True)
class CompletionPrompt:
    """The prompt text, and what is needed to turn the model's continuation into a region."""

    text: str
    parts: FunctionParts | None
    version: int
    language: str
    given: str = ""
    """The start of the new version's body, written into the prompt for the model to continue."""


def build_prompt(
    task: str,
    context: str,
    parent_region: str,
    older_regions: list[str],
    language: str,
    hint: str = ".",
    given: str = "",
    failed: Sequence[tuple[str, str]] = (),
    notes: Sequence[str] = (),
) -> CompletionPrompt:
    """A completion prompt: ``older_regions`` (worst first), then the parent, then the new header.

    ``context`` is fixed code that the region relies on (imports, helpers), shown first.
    ``hint`` ends the new version's docstring (" with more samples."): a small push that
    keeps a base model from copying the previous version verbatim. ``given`` (see
    ``body_prefix``) starts the new body with the parent's first lines, so the model rewrites
    only the rest: a local change that stays coherent far more often than a whole new body.
    ``failed`` lists earlier attempts at the new version that failed, as (region or '',
    reason): each is shown commented out, under a comment saying why, just before the new
    header, so the model sees what not to write again.
    """
    parts = function_parts(parent_region) if language == "python" else None
    regions = [*older_regions, parent_region]
    if parts is not None:
        chunks = []
        if task.strip():
            chunks.append('"""' + task.strip().replace('"""', "'''") + '"""\n\n')
        chunks.append(_noted(notes, "#"))
        if context.strip():
            chunks.append(context.strip() + "\n\n\n")
        if parts.preamble.strip():
            chunks.append(parts.preamble.strip() + "\n\n\n")
        indent = _body_indent(parts)
        regions = [r for r in older_regions if _same_function(r, parts.name)] + [parent_region]
        for version, region in enumerate(regions):
            p = function_parts(region) or parts
            name = f"{parts.name}_v{version}"
            header = _rename(p.decorators_and_header, p.name, name)
            doc = (
                p.docstring
                if version == 0
                else (f'{indent}"""Improved version of `{parts.name}_v{version - 1}`."""\n')
            )
            body = _rename(p.body, p.name, name)
            chunks.append(header + doc + body.rstrip() + "\n\n\n")
        version = len(regions)
        new_name = f"{parts.name}_v{version}"
        for region, reason in failed:
            chunks.append(_failed_attempt(region, reason, parts.name, new_name, "#"))
        header = _rename(parts.decorators_and_header, parts.name, new_name)
        chunks.append(
            header + f'{indent}"""Improved version of `{parts.name}_v{version - 1}`{hint}"""\n'
        )
        given = _rename(given, parts.name, f"{parts.name}_v{version}")
        chunks.append(given)
        return CompletionPrompt("".join(chunks), parts, version, language, given)
    mark = comment_prefix(language)
    chunks = []
    if task.strip():
        chunks.extend(f"{mark} {line}\n" for line in task.strip().splitlines())
        chunks.append("\n")
    chunks.append(_noted(notes, mark))
    if context.strip():
        chunks.append(context.strip() + "\n\n")
    for version, region in enumerate(regions):
        label = "first version" if version == 0 else f"improved version of version {version - 1}"
        chunks.append(f"{mark} Version {version}: {label}\n{region.rstrip()}\n\n")
    version = len(regions)
    for region, reason in failed:
        chunks.append(_failed_attempt(region, reason, "", f"version {version}", mark))
    chunks.append(f"{mark} Version {version}: improved version of version {version - 1}{hint}\n")
    return CompletionPrompt("".join(chunks), None, version, language)


MAX_FAILED_REASON_CHARS = 200


def _noted(notes: Sequence[str], mark: str) -> str:
    """The run's notes as comment lines (empty when there are none)."""
    if not notes:
        return ""
    lines = [f"{mark} Notes on this run so far:\n"]
    for note in notes:
        lines.extend(f"{mark} {line}".rstrip() + "\n" for line in note.strip().splitlines())
    return "".join(lines) + "\n"


def _failed_attempt(region: str, reason: str, name: str, new_name: str, mark: str) -> str:
    """One failed attempt, commented out: why it failed, then its code (if it had any)."""
    why = " ".join(reason.split("\n")[0].split())
    if len(why) > MAX_FAILED_REASON_CHARS:
        why = why[: MAX_FAILED_REASON_CHARS - 3] + "..."
    parts = function_parts(region) if name else None
    if parts is not None and parts.name == name:
        code = _rename(parts.decorators_and_header + parts.docstring + parts.body, name, new_name)
    else:
        code = region
    lines = [f"{mark} An attempt at {new_name} that failed ({why}):\n"]
    lines.extend(f"{mark} {line}".rstrip() + "\n" for line in code.rstrip().splitlines())
    return "".join(lines) + "\n\n"


_CUT_RE = re.compile(r"(?<![\w.])(?:\d+(?:\.\d*)?(?:e-?\d+)?|[A-Za-z_]\w*)|[(\[=]")


NUMBER_CUT_SHARE = 0.4
"""Share of cuts placed just before a numeric constant: the knobs a small model turns best."""


def body_prefix(region: str, rng: random.Random) -> str:
    """The start of the region's function body, cut at a random line or token boundary.

    Empty when the region is not a single Python function. The cut falls at the start of a
    line or just before a name, a number, or after an opening bracket or ``=``, never inside
    the docstring, so what the model is given is always the parent's own code.
    """
    parts = function_parts(region)
    if parts is None or not parts.body.strip():
        return ""
    body = parts.body
    cuts = [m.start() for m in re.finditer(r"^[ \t]*(?=\S)", body, re.MULTILINE)]
    cuts = [c + len(body[c:]) - len(body[c:].lstrip(" \t")) for c in cuts]
    tokens = [m.end() if m.group(0) in "([=" else m.start() for m in _CUT_RE.finditer(body)]
    numbers = [m.start() for m in _CUT_RE.finditer(body) if m.group(0)[0].isdigit()]
    options = sorted(set(cuts + tokens))
    if not options:
        return ""
    if numbers and rng.random() < NUMBER_CUT_SHARE:
        return body[: rng.choice(numbers)]
    return body[: rng.choice(options)]


def stop_sequences(prompt: CompletionPrompt) -> list[str]:
    """Strings at which the model's continuation is cut (the start of the next top-level item)."""
    if prompt.parts is not None:
        return ["\ndef ", "\nclass ", "\nif __name__", "\n@", "\n# EVOLVE", "\nasync def "]
    return [f"\n{comment_prefix(prompt.language)} Version", "EVOLVE-BLOCK"]


def stop_pattern(prompt: CompletionPrompt) -> str:
    """A regular expression for where an answer stops being of use: the first line that
    starts at column 0 ends a Python function (``region_from_completion`` cuts there), so
    everything after it is tokens paid for nothing. '' for other languages."""
    if prompt.parts is None:
        return ""
    # The answer continues the prompt: its first line starts a line only when the prompt
    # ended with one.
    return r"(?:\A|\n)(?=\S)" if prompt.text.endswith("\n") else r"\n(?=\S)"


def region_from_completion(prompt: CompletionPrompt, completion: str, parent_region: str) -> str:
    """Turn the model's continuation into a new region; CompletionError when it cannot."""
    if prompt.parts is None:
        text = _before_marker_line(completion).rstrip()
        if not text.strip():
            raise CompletionError("the model returned an empty program")
        return text + "\n"
    parts = prompt.parts
    body = _cut_at_top_level(prompt.given + completion)
    if not body.strip():
        raise CompletionError("the model's function body is empty")
    new_name = f"{parts.name}_v{prompt.version}"
    stale = {
        m.group(0)
        for m in re.finditer(rf"\b{re.escape(parts.name)}_v\d+\b", body)
        if m.group(0) != new_name
    }
    if stale:
        raise CompletionError(f"the new version calls an older one ({sorted(stale)[0]})")
    body = _rename(body, new_name, parts.name)
    func = _repair(parts.decorators_and_header + parts.docstring, body)
    region = parts.preamble + func + parts.postamble
    try:
        ast.parse(region)
    except SyntaxError as exc:
        raise CompletionError(
            f"syntax error in the new version: {exc.msg} (line {exc.lineno})"
        ) from None
    return region


def _before_marker_line(text: str) -> str:
    """``text`` up to (not including) the first line that holds an EVOLVE-BLOCK marker."""
    kept = []
    for line in text.splitlines(keepends=True):
        if "EVOLVE-BLOCK" in line:
            break
        kept.append(line)
    return "".join(kept)


def _cut_at_top_level(completion: str) -> str:
    kept: list[str] = []
    for line in completion.splitlines():
        if line.strip() and not line[0].isspace():
            break
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept) + "\n" if kept else ""


def _repair(head: str, body: str) -> str:
    """Drop trailing lines until the function parses (a completion cut off by max_tokens)."""
    lines = body.splitlines(keepends=True)
    for end in range(len(lines), 0, -1):
        candidate = head + "".join(lines[:end])
        try:
            ast.parse(candidate)
        except SyntaxError:
            continue
        if end < len(lines) and not any(ln.strip() for ln in lines[:end]):
            break
        return candidate if candidate.endswith("\n") else candidate + "\n"
    try:
        ast.parse(head + body)
    except SyntaxError as exc:
        raise CompletionError(
            f"syntax error in the new version: {exc.msg} (line {exc.lineno})"
        ) from None
    return head + body
