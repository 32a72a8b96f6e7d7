"""What one call asks a model, and how its answer becomes a child program.

Three mutation styles, chosen per model: SEARCH/REPLACE diffs and full rewrites for chat
models (``evolve.prompts``), versioned-function completions for base models
(``evolve.code.versions``). Whatever the style, the child must keep every line outside the
EVOLVE-BLOCKs, parse (for Python), define what it reads, differ from its parent, and not be
certain to fail when run (``evolve.code.contract``): ``checked`` says why not.
"""

from __future__ import annotations

import ast
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from evolve.code.blocks import Blocks, check_preserved, split
from evolve.code.contract import broken_contract
from evolve.code.diff import apply_edits, parse_edits
from evolve.code.names import unbound_names, undefined_names
from evolve.code.versions import (
    CompletionError,
    body_prefix,
    build_prompt,
    function_parts,
    region_from_completion,
    stop_pattern,
    stop_sequences,
)
from evolve.config import MutationStyle
from evolve.core.records import Candidate
from evolve.llm.ensemble import Member
from evolve.problem import Problem
from evolve.prompts import chat_prompt, extract_code_block
from evolve.search.failures import Failure

DEFAULT_HINTS = (
    ".",
    " with more iterations.",
    " that refines the best solution found so far.",
    " with different constants.",
    " that tries a new idea.",
    " with a better strategy.",
    " that is simpler.",
)

_CONTEXT_CHARS = 2500

CROSSOVER_HINT = " that combines it with the ideas of the version before it."
"""Completion prompts of a crossover: the mate is shown as the version before the parent."""


@dataclass(frozen=True)
class Ask:
    """One call's request, and how its answer becomes a child."""

    prompt: str
    system: str
    stop: tuple[str, ...]
    stop_pattern: str
    finish: Callable[[str], tuple[str | None, str]]
    """The answer's text -> the child's code, or None and why it is unusable."""
    avoid: str = ""
    """Completion models: what the answer may not begin with (``LLMRequest.avoid``)."""


class Asker:
    """Builds each call's prompt for a problem (its task, templates and hints)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.hints = tuple(problem.config.llm.hints or DEFAULT_HINTS)
        self.templates = problem.templates

    def ask(
        self,
        parent: Candidate,
        inspirations: list[Candidate],
        member: Member,
        rng: random.Random,
        ancestors: Sequence[Candidate] = (),
        failures: Sequence[Failure] = (),
        mate: Candidate | None = None,
        notes: Sequence[str] = (),
    ) -> Ask:
        """The prompt for ``member`` (its mutation style) to change ``parent``, and how its
        answer becomes a child. Draws from ``rng`` in a fixed order."""
        problem = self.problem
        language = problem.language
        parent_blocks = split(parent.code, language)
        if member.mutation is MutationStyle.COMPLETION:
            index = rng.randrange(len(parent_blocks.regions))
            hint = rng.choice(self.hints)
            if mate is not None:  # crossover: the mate as the version before the parent
                older = _older_regions(problem, parent, [mate], index, by_score=False)
                hint = CROSSOVER_HINT if older else hint
            else:
                older = _older_regions(problem, parent, inspirations, index)
            given = ""
            if rng.random() < problem.config.llm.continue_ratio:
                given = body_prefix(parent_blocks.regions[index], rng)
            prompt = build_prompt(
                problem.config.prompt,
                _context(parent_blocks, index),
                parent_blocks.regions[index],
                older,
                language,
                hint=hint,
                given=given,
                failed=[(_region(f.code, language, index), f.reason) for f in failures],
                notes=notes,
            )

            def finish(text: str) -> tuple[str | None, str]:
                try:
                    region = region_from_completion(prompt, text, parent_blocks.regions[index])
                except CompletionError as exc:
                    return None, str(exc)
                regions = list(parent_blocks.regions)
                regions[index] = region
                return checked(
                    self.problem.language, parent, parent_blocks, parent_blocks.join(regions)
                )

            stops = tuple(stop_sequences(prompt))
            avoid = ""
            if given and problem.config.llm.diverge:
                parts = function_parts(parent_blocks.regions[index])
                avoid = parts.body[len(given) :] if parts is not None else ""
            return Ask(prompt.text, "", stops, stop_pattern(prompt), finish, avoid)
        direction = problem.config.evaluator.direction.value
        system, user = chat_prompt(
            problem.config.prompt,
            parent,
            inspirations,
            member.mutation,
            language,
            problem.config.evaluator.primary_metric,
            direction,
            ancestors,
            self.templates,
            failures,
            mate,
            notes,
        )

        def finish_chat(text: str) -> tuple[str | None, str]:
            if member.mutation is MutationStyle.DIFF:
                outcome = apply_edits(parent.code, parse_edits(text))
                if outcome.failures:
                    return None, "diff did not apply: " + "; ".join(outcome.failures)
                return checked(self.problem.language, parent, parent_blocks, outcome.code)
            code = extract_code_block(text)
            if code is None:
                return None, "the answer has no fenced code block"
            return checked(self.problem.language, parent, parent_blocks, code)

        return Ask(user, system, (), "", finish_chat)


def _older_regions(
    problem: Problem,
    parent: Candidate,
    inspirations: list[Candidate],
    index: int,
    by_score: bool = True,
) -> list[str]:
    """Regions of the inspirations, worst first (or as given), skipping copies of the
    parent's."""
    language = problem.language
    scored = [p for p in inspirations if p.ok]
    if by_score:
        scored.sort(key=lambda p: problem.objective.key(p.score), reverse=True)
    regions: list[str] = []
    parent_region = split(parent.code, language).regions[index]
    for p in scored:
        region = split(p.code, language).regions[index]
        if region != parent_region and region not in regions:
            regions.append(region)
    return regions


def checked(
    language: str, parent: Candidate, parent_blocks: Blocks, code: str
) -> tuple[str | None, str]:
    """A child's code if it may be evaluated, else None and why: fixed lines kept, changed,
    and (Python) parses without introducing names nothing binds."""
    problem_text = check_preserved(parent_blocks, code, language)
    if problem_text:
        return None, problem_text
    if code == parent.code:
        return None, "the answer does not change the program"
    if language == "python":
        try:
            tree = ast.parse(code)
        except SyntaxError as exc:
            return None, f"syntax error: {exc.msg} (line {exc.lineno})"
        new_names = unbound_names(tree) - undefined_names(parent.code)
        if new_names:
            return None, f"uses undefined name(s): {', '.join(sorted(new_names))}"
        broken = broken_contract(parent.code, tree)
        if broken:
            return None, f"certain to fail when run: {broken}"
    return code, ""


def _region(code: str, language: str, index: int) -> str:
    """Region ``index`` of a failed child ('' when it had no program or other regions)."""
    if not code:
        return ""
    regions = split(code, language).regions
    return regions[index] if index < len(regions) else ""


def _context(blocks: Blocks, index: int) -> str:
    """The fixed code before region ``index`` (imports, helpers), without marker lines."""
    text = "".join(blocks.fixed[: index + 1])
    lines = [ln for ln in text.splitlines() if "EVOLVE-BLOCK" not in ln]
    context = "\n".join(lines).strip()
    if len(context) > _CONTEXT_CHARS:
        context = context[-_CONTEXT_CHARS:]
        context = context[context.find("\n") + 1 :]
    return context
