"""What went wrong with a parent's children, so the next proposals from it can see it.

A child fails when its evaluation errs or times out, when the model's answer could not
become a program (an edit outside the EVOLVE-BLOCKs, a diff that does not apply, no change,
a certain run-time failure found statically), or when it repeats a program the run already
has. ``FailureMemory`` keeps, per parent, the last ``llm.failures`` of them as ``Failure``
messages: the change tried (a bounded diff, and the child's code for completion prompts)
and the reason, with the end of the traceback, secrets redacted, every part bounded.

It is a pure function of the ordered candidates (``observe`` is called in iteration order,
from stored rows alone on resume), and bounded: only parents the archive may still draw are
kept (``forget``), so it is part of the Search's state like the ancestries are.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from evolve.core.records import Candidate
from evolve.core.status import CandidateStatus

MAX_REASON_CHARS = 400
"""The reason with the end of its traceback, at most (the end is what names the error)."""
MAX_DIFF_CHARS = 1200
TRACEBACK_LINES = 4

FAILED = frozenset(
    {
        CandidateStatus.ERROR,
        CandidateStatus.TIMEOUT,
        CandidateStatus.INVALID,
        CandidateStatus.DUPLICATE,
        CandidateStatus.SIMILAR,
    }
)
"""The outcomes shown back to the model (``filtered``: a stage's score, not a mistake)."""


@dataclass(frozen=True)
class Failure:
    """One failed child of a parent: what it changed, and why it failed."""

    iteration: int
    status: str
    """``error``, ``timeout``, ``invalid`` (the answer gave no program), ``duplicate`` or
    ``similar``."""
    reason: str
    """One line, or a line and the last lines of the traceback; bounded, redacted."""
    diff: str = ""
    """Unified diff against the parent; empty when the answer gave no program."""
    code: str = ""
    """The child's program (for completion prompts); empty when the answer gave none."""

    @property
    def label(self) -> str:
        return {
            "error": "failed when run",
            "timeout": "ran out of time",
            "invalid": "could not be used",
            "duplicate": "repeated an earlier program",
            "similar": "was too similar to an earlier program",
        }.get(self.status, self.status)


def failure_of(candidate: Candidate, redact: Callable[[str], str]) -> Failure | None:
    """``candidate`` as a ``Failure`` of its parent, or None when it did not fail."""
    if candidate.status not in FAILED or candidate.parent_id is None:
        return None
    reason = candidate.reason.strip()
    trace = candidate.artifacts.get("traceback", "").strip().splitlines()
    if trace and candidate.status is CandidateStatus.ERROR:
        tail = "\n".join(line.rstrip() for line in trace[-TRACEBACK_LINES:])
        if tail.strip() and tail.strip() not in reason:
            reason = f"{reason}\n{tail}"
    has_program = bool(candidate.diff)
    return Failure(
        iteration=candidate.iteration,
        status=candidate.status.value,
        reason=_tail(redact(reason), MAX_REASON_CHARS),
        diff=_head(redact(candidate.diff), MAX_DIFF_CHARS) if has_program else "",
        code=candidate.code if has_program else "",
    )


def unusable(iteration: int, reason: str, redact: Callable[[str], str]) -> Failure:
    """An answer of the proposal under way that could not be used (shown to its next
    attempt)."""
    return Failure(
        iteration, CandidateStatus.INVALID.value, _tail(redact(reason), MAX_REASON_CHARS)
    )


class FailureMemory:
    """The last ``keep`` failures of each parent's children, oldest first."""

    def __init__(self, keep: int, redact: Callable[[str], str]) -> None:
        self.keep = keep
        self.redact = redact
        self._of: dict[str, deque[Failure]] = {}

    def observe(self, candidate: Candidate) -> None:
        """Take one candidate, in iteration order."""
        if self.keep <= 0:
            return
        failure = failure_of(candidate, self.redact)
        if failure is None:
            return
        assert candidate.parent_id is not None
        kept = self._of.setdefault(candidate.parent_id, deque(maxlen=self.keep))
        kept.append(failure)

    def of(self, parent_id: str) -> tuple[Failure, ...]:
        return tuple(self._of.get(parent_id, ()))

    def forget(self, held: Callable[[str], bool]) -> None:
        """Drop the failures of parents for which ``held(id)`` is false."""
        self._of = {i: f for i, f in self._of.items() if held(i)}

    def __len__(self) -> int:
        return len(self._of)


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "..." + text[-(limit - 3) :]


def _head(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 4] + "\n..."
