"""Prompts for chat models: the task, the parent with its metrics and output, inspirations,
and the answer format (SEARCH/REPLACE diffs or a full rewrite).

Base models get completion prompts instead (``evolve.code.versions``).
"""

from __future__ import annotations

import re

from evolve.config import MutationStyle
from evolve.program import Program

MAX_ARTIFACT_CHARS = 1500
MAX_INSPIRATIONS_CHARS = 12000

SYSTEM = (
    "You are an expert programmer improving a program by evolutionary search. Each answer "
    "you give is applied to the program, which is then run and scored. Change only the code "
    "between the EVOLVE-BLOCK-START and EVOLVE-BLOCK-END markers; edits elsewhere are rejected."
)

DIFF_FORMAT = """Answer with one or more SEARCH/REPLACE blocks, exactly like this:

<<<<<<< SEARCH
lines copied exactly from the current program
=======
the new lines
>>>>>>> REPLACE

Each SEARCH part must match the current program (copy it exactly, including indentation).
Keep the blocks small and focused. Explain your idea in one or two sentences first."""

REWRITE_FORMAT = """Answer with the complete new program in a single fenced code block
(```{language} ... ```), keeping the EVOLVE-BLOCK markers and all code outside them exactly
as they are. Explain your idea in one or two sentences first."""

_TOKEN_PATTERNS = [
    re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}\b"),
]
_ASSIGNMENT = re.compile(r"(?i)\b([A-Z0-9_]*(?:KEY|TOKEN|SECRET|PASSWORD)[A-Z0-9_]*)\s*[=:]\s*\S+")


def redact(text: str) -> str:
    """Hide things that look like credentials before text is shown to a model."""
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


def describe_outcome(p: Program, primary: str) -> str:
    if p.ok:
        return f"score ({primary}) = {p.score!r}; metrics: {format_metrics(p.metrics)}"
    return f"status {p.status.value}: {p.reason}"


def chat_prompt(
    task: str,
    parent: Program,
    inspirations: list[Program],
    style: MutationStyle,
    language: str,
    primary: str,
    direction: str,
) -> tuple[str, str]:
    """(system, user) messages asking a chat model to improve ``parent``."""
    parts = [
        f"# Task\n{task.strip() or 'Improve the program.'}",
        f"The score is the metric {primary!r}; {direction} it.",
    ]
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
            parts.append("# Other programs of this search, for inspiration\n" + "\n\n".join(shown))
    parts.append(
        f"# Current program\n{describe_outcome(parent, primary)}\n```{language}\n{parent.code}\n```"
    )
    if parent.artifacts:
        notes = "\n".join(
            f"## {name}\n{_truncate(redact(text), MAX_ARTIFACT_CHARS)}"
            for name, text in sorted(parent.artifacts.items())
        )
        parts.append(f"# Output of the current program's last evaluation\n{notes}")
    fmt = DIFF_FORMAT if style is MutationStyle.DIFF else REWRITE_FORMAT.format(language=language)
    parts.append(f"# Your answer\n{fmt}")
    return SYSTEM, "\n\n".join(parts)


_FENCE = re.compile(r"```[A-Za-z0-9_+\-]*[ \t]*\r?\n(.*?)```", re.DOTALL)


def extract_code_block(text: str) -> str | None:
    """The longest fenced code block of an answer (models sometimes add small snippets)."""
    blocks = _FENCE.findall(text)
    if not blocks:
        return None
    return max(blocks, key=len)
