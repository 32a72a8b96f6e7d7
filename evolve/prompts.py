"""Prompts for chat models: the task, inspirations with their scores, the parent's ancestry
(what each change did to the score), the parent with its metrics (full precision) and the
output of its evaluation (truncated, secrets redacted), and the answer format
(SEARCH/REPLACE diffs or a full rewrite). The wording lives in ``evolve/templates/*.txt``;
a problem can replace any of those files (``llm.templates``).

Base models get completion prompts instead (``evolve.code.versions``).
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evolve.config import MutationStyle
from evolve.core.records import Candidate
from evolve.errors import UserError
from evolve.search.failures import Failure

MAX_ARTIFACT_CHARS = 1500
MAX_INSPIRATIONS_CHARS = 12000

_TOKEN_PATTERNS = [
    re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}\b"),
]
# A credential-like name (KEY, TOKEN, ... as a whole word or between underscores, so
# "api_key" but not "KeyError") assigned a value.
_ASSIGNMENT = re.compile(
    r"(?i)\b((?:[A-Z0-9]+_)*(?:KEY|TOKEN|SECRET|PASSWORD)(?:_[A-Z0-9]+)*)\s*[=:]\s*\S+"
)


@functools.lru_cache(maxsize=512)
def redact(text: str) -> str:
    """Hide things that look like credentials before text is shown to a model. Cached for
    a few hundred texts: a parent's ancestry is shown again each time it is drawn."""
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub("[redacted]", text)
    return _ASSIGNMENT.sub(lambda m: f"{m.group(1)}=[redacted]", text)


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters cut ...]\n{text[-half:]}"


def format_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} = {v!r}" for k, v in sorted(metrics.items())) or "(none)"


def describe_outcome(p: Candidate, primary: str) -> str:
    if p.ok:
        return f"score ({primary}) = {p.score!r}; metrics: {format_metrics(p.metrics)}"
    return f"status {p.status.value}: {p.reason}"


TEMPLATE_FIELDS: dict[str, frozenset[str]] = {
    "system": frozenset(),
    "user": frozenset(
        {
            "task",
            "metric",
            "direction",
            "inspirations",
            "ancestry",
            "mate",
            "notes",
            "current",
            "artifacts",
            "failures",
            "answer_format",
        }
    ),
    "diff": frozenset(),
    "rewrite": frozenset({"language"}),
}
"""The prompt templates (``NAME.txt``) and the ``$placeholders`` each may use."""

MAX_DIFF_CHARS = 1200


@dataclass(frozen=True)
class Templates:
    """The chat prompt's parts, from ``evolve/templates`` or a problem's own folder."""

    texts: dict[str, str]

    @classmethod
    def load(cls, folder: Path | None = None) -> Templates:
        """The built-in templates, with any ``NAME.txt`` of ``folder`` in their place."""
        texts = {
            name: (_BUILTIN / f"{name}.txt").read_text(encoding="utf-8") for name in TEMPLATE_FIELDS
        }
        if folder is None:
            return cls(texts)
        if not folder.is_dir():
            raise UserError(f"llm.templates: {folder} is not a folder")
        for file in sorted(folder.iterdir()):
            if file.suffix != ".txt":
                continue
            name = file.stem
            if name not in TEMPLATE_FIELDS:
                raise UserError(
                    f"{file}: not a prompt template name (use one of "
                    f"{', '.join(f'{n}.txt' for n in TEMPLATE_FIELDS)})"
                )
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise UserError(f"{file}: cannot read it ({exc})") from None
            template = string.Template(text)
            if not template.is_valid():
                raise UserError(f"{file}: a '$' that is no placeholder (write '$$' for '$')")
            unknown = set(template.get_identifiers()) - TEMPLATE_FIELDS[name]
            if unknown:
                allowed = ", ".join(f"${n}" for n in sorted(TEMPLATE_FIELDS[name])) or "none"
                raise UserError(
                    f"{file}: unknown placeholder ${sorted(unknown)[0]} (this template may use: "
                    f"{allowed})"
                )
            texts[name] = text
        return cls(texts)

    def fill(self, name: str, **values: str) -> str:
        return string.Template(self.texts[name]).substitute(values).strip()


_BUILTIN = Path(__file__).parent / "templates"


def describe_ancestry(parent: Candidate, ancestors: Sequence[Candidate], primary: str) -> str:
    """What each step of the parent's lineage changed and what it did to the score,
    nearest first."""
    steps = []
    child = parent
    for ancestor in ancestors:
        if not child.diff:
            break
        if child.ok and ancestor.ok:
            delta = child.score - ancestor.score  # type: ignore[operator]
            effect = f"{primary} {ancestor.score!r} -> {child.score!r} (change {delta:+.6g})"
        else:
            effect = f"{primary} {ancestor.score!r} -> {describe_outcome(child, primary)}"
        steps.append(
            f"## Generation {child.generation}: {effect}\n"
            f"```diff\n{_truncate(redact(child.diff), MAX_DIFF_CHARS)}\n```"
        )
        child = ancestor
    if not steps:
        return ""
    return "# How the current program came about (most recent change first)\n" + "\n\n".join(steps)


def describe_failures(failures: Sequence[Failure]) -> str:
    """The parent's latest failed children (oldest first) and why each failed, for the
    model not to repeat them; '' when there are none."""
    if not failures:
        return ""
    parts = []
    for f in failures:
        head = (
            f"## Attempt {f.label}: {f.reason}"
            if "\n" not in f.reason
            else (f"## Attempt {f.label}:\n```\n{f.reason}\n```")
        )
        parts.append(head + (f"\n```diff\n{f.diff}\n```" if f.diff else ""))
    return (
        "# Earlier attempts to change this program that failed (do not repeat them)\n"
        + "\n\n".join(parts)
        + "\n\n"
    )


def describe_notes(notes: Sequence[str]) -> str:
    """The run's latest notes (``[notes]``), oldest first; '' when there are none."""
    if not notes:
        return ""
    body = "\n\n".join(redact(n.strip()) for n in notes)
    return f"# Notes on this run so far (what helped, what failed)\n{body}\n\n"


def describe_mate(mate: Candidate | None, language: str, primary: str) -> str:
    """Crossover's second parent, and the request to combine it with the current program;
    '' for a plain mutation."""
    if mate is None:
        return ""
    return (
        "# A second parent to combine with the current program\n"
        "This program of the search works differently from the current one. Write a child "
        "of both: the current program, changed to take up what this one does well.\n"
        f"## Second parent: {describe_outcome(mate, primary)}\n```{language}\n{mate.code}\n```\n\n"
    )


def chat_prompt(
    task: str,
    parent: Candidate,
    inspirations: list[Candidate],
    style: MutationStyle,
    language: str,
    primary: str,
    direction: str,
    ancestors: Sequence[Candidate] = (),
    templates: Templates | None = None,
    failures: Sequence[Failure] = (),
    mate: Candidate | None = None,
    notes: Sequence[str] = (),
) -> tuple[str, str]:
    """(system, user) messages asking a chat model to improve ``parent``."""
    templates = templates or DEFAULT_TEMPLATES
    inspiration_text = ""
    if inspirations:
        shown, used = [], 0
        for number, p in enumerate(inspirations, start=1):
            block = (
                f"## Program {number}: {describe_outcome(p, primary)}\n```{language}\n{p.code}\n```"
            )
            if used + len(block) > MAX_INSPIRATIONS_CHARS:
                break
            shown.append(block)
            used += len(block)
        if shown:
            inspiration_text = (
                "# Other programs of this search, for inspiration\n" + "\n\n".join(shown) + "\n\n"
            )
    ancestry = describe_ancestry(parent, ancestors, primary)
    artifacts = ""
    if parent.artifacts:
        notes = "\n".join(
            f"## {name}\n{_truncate(redact(text), MAX_ARTIFACT_CHARS)}"
            for name, text in sorted(parent.artifacts.items())
        )
        artifacts = f"# Output of the current program's last evaluation\n{notes}\n\n"
    if style is MutationStyle.DIFF:
        answer_format = templates.fill("diff")
    else:
        answer_format = templates.fill("rewrite", language=language)
    user = templates.fill(
        "user",
        task=task.strip() or "Improve the program.",
        metric=repr(primary),
        direction=direction,
        inspirations=inspiration_text,
        ancestry=ancestry + "\n\n" if ancestry else "",
        current=f"{describe_outcome(parent, primary)}\n```{language}\n{parent.code}\n```",
        artifacts=artifacts,
        failures=describe_failures(failures),
        mate=describe_mate(mate, language, primary),
        notes=describe_notes(notes),
        answer_format=answer_format,
    )
    return templates.fill("system"), user


DEFAULT_TEMPLATES = Templates.load()


_FENCE = re.compile(r"```[A-Za-z0-9_+\-]*[ \t]*\r?\n(.*?)```", re.DOTALL)


def extract_code_block(text: str) -> str | None:
    """The longest fenced code block of an answer (models sometimes add small snippets)."""
    blocks = _FENCE.findall(text)
    if not blocks:
        return None
    return max(blocks, key=len)
