"""Run notes, the search's meta-scratchpad (``[notes]``).

Every ``notes.every`` candidates a model reads what the latest ``notes.recent`` candidates
changed and what became of each (better or worse than its parent by how much, or why it
failed) together with the notes so far, and writes a few short lines: what helped, what
failed, what to try next. Users add their own (``evolve note RUN "..."``). The latest
``notes.shown`` notes go into every later prompt.

When a note is seen is part of the search's determinism: a note that took effect after
iteration ``b`` is shown to iteration ``k`` when ``k``'s view is past ``b`` (``after <
view``), and the search holds back drawing such iterations until the model's note for ``b``
is written (``NoteBook.awaiting``). A user's note takes effect after the iteration applied
when the run picks it up. Notes are stored with that iteration, so a resumed run and a
replay (which reads them back instead of asking a model) show the same notes to the same
iterations.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from evolve.config import NotesConfig
from evolve.core.objective import Objective
from evolve.core.records import Candidate, LLMCall, Note
from evolve.errors import UserError
from evolve.llm.base import LLMError, LLMRequest, ModelKind, shown_prompt
from evolve.llm.ensemble import Ensemble, Member
from evolve.problem import Problem
from evolve.prompts import redact
from evolve.spending import Budget

if TYPE_CHECKING:
    from evolve.search.search import Search
    from evolve.store.store import Store

MAX_DIFF_CHARS = 600
SYSTEM = (
    "You keep the research log of an evolutionary search that improves a program. You read "
    "what the latest candidate programs changed and what became of them, and you write short "
    "notes for whoever proposes the next changes."
)


@dataclass(frozen=True)
class Lesson:
    """One applied candidate as the notes' writer reads it."""

    iteration: int
    status: str
    reason: str
    score: float | None
    parent_score: float | None
    diff: str


class NoteBook:
    """The notes a search has (in effect, by ``after``), the boundaries whose note it is
    waiting for, and the latest candidates, for the writer."""

    def __init__(self, config: NotesConfig) -> None:
        self.config = config
        self.notes: list[Note] = []
        self.awaiting: set[int] = set()
        """Boundaries (iterations) whose model note is asked for and not yet written."""
        self.due: list[tuple[int, tuple[Lesson, ...]]] = []
        """Boundaries reached whose note the runner should ask for (taken by ``take_due``),
        each with the latest candidates as of the boundary (not of when it is asked)."""
        self.recent: deque[Lesson] = deque(maxlen=config.recent)

    def load(self, notes: Iterable[Note]) -> None:
        """Notes already stored (a resumed run's, a replay's source's)."""
        for note in notes:
            if note.after is not None:
                self.notes.append(note)
        self.notes.sort(key=lambda n: (n.after, n.id))

    def applied(self, candidate: Candidate, parent: Candidate | None) -> None:
        """Iteration ``candidate.iteration`` was applied (in order)."""
        k = candidate.iteration
        self.recent.append(
            Lesson(
                k,
                candidate.status.value,
                candidate.reason,
                candidate.score,
                parent.score if parent is not None else None,
                candidate.diff,
            )
        )
        every = self.config.every
        if every and k > 0 and k % every == 0 and not self._written(k):
            self.awaiting.add(k)
            self.due.append((k, tuple(self.recent)))

    def take_due(self) -> list[tuple[int, tuple[Lesson, ...], tuple[Note, ...]]]:
        """The boundaries to write a note for, each with what the writer reads: the latest
        candidates as of the boundary and the notes before it. A boundary waits until every
        earlier one's note is written, so what its writer reads never depends on timing."""
        ready = []
        while self.due and not any(b < self.due[0][0] for b in self.awaiting - {self.due[0][0]}):
            boundary, lessons = self.due.pop(0)
            ready.append((boundary, lessons, tuple(self.shown(boundary))))
        return ready

    def written(self, note: Note) -> None:
        """A note took effect (a model's for its boundary, or a user's)."""
        assert note.after is not None
        self.awaiting.discard(note.after)
        self.notes.append(note)
        self.notes.sort(key=lambda n: (n.after, n.id))

    def blocks(self, view: int) -> bool:
        """Whether an iteration with this view must wait for a note still being written."""
        return any(b < view for b in self.awaiting)

    def shown(self, view: int) -> list[Note]:
        """The latest notes an iteration with this view sees (empty ones left out)."""
        seen = [n for n in self.notes if n.after is not None and n.after < view and n.text]
        return seen[-self.config.shown :] if self.config.shown else []

    def _written(self, boundary: int) -> bool:
        return any(n.after == boundary and n.author.startswith("model:") for n in self.notes)


def notes_prompt(
    task: str,
    metric: str,
    objective: Objective,
    lessons: Sequence[Lesson],
    earlier: Sequence[Note],
) -> str:
    """What the writer is asked: the task, the latest candidates and the notes so far."""
    direction = "maximize" if objective.maximize else "minimize"
    parts = [
        f"# Task\n{task.strip() or 'Improve the program.'}\n\nThe score is {metric!r}; {direction} it."
    ]
    lines = []
    for x in lessons:
        if x.status == "ok" and x.score is not None and x.parent_score is not None:
            gain = objective.gain(x.score, x.parent_score)
            verdict = "better" if gain > 0 else "no better"
            head = f"## #{x.iteration}: {verdict}: {x.parent_score!r} -> {x.score!r}"
        else:
            head = f"## #{x.iteration}: {x.status}: {redact(x.reason)[:300]}"
        diff = redact(x.diff)[:MAX_DIFF_CHARS]
        lines.append(head + (f"\n```diff\n{diff}\n```" if diff else ""))
    parts.append("# The latest candidates, oldest first\n" + "\n\n".join(lines))
    if earlier:
        parts.append("# Notes so far\n" + "\n".join(f"- {n.text}" for n in earlier))
    parts.append(
        "# Your notes\nWrite at most five short lines, one idea each: which kinds of change "
        "helped, which failed and why, and what to try next. Plain text, no code."
    )
    return "\n\n".join(parts)


async def write_note(
    member: Member,
    prompt: str,
    key: tuple[int, int],
    max_chars: int,
    run_id: str,
    boundary: int,
) -> tuple[Note, LLMCall]:
    """Ask ``member`` for the note of ``boundary``; a failed call gives an empty note (the
    search goes on), and the call is returned for the record either way."""
    base = getattr(member.client, "kind", ModelKind.CHAT) is ModelKind.BASE
    request = LLMRequest(
        prompt=f"{SYSTEM}\n\n{prompt}\n\nNotes:\n-" if base else prompt,
        system="" if base else SYSTEM,
        temperature=member.temperature,
        max_tokens=min(member.max_tokens, 400),
        seed=0,
        stop=("\n\n",) if base else (),
        key=key,
    )
    started = time.monotonic()
    text, error, fault, tokens_in, tokens_out = "", "", "", 0, 0
    try:
        response = await member.client.complete(request)
        text = (("- " if base else "") + response.text).strip()[:max_chars]
        tokens_in, tokens_out = response.tokens_in, response.tokens_out
    except LLMError as exc:
        error, fault = str(exc), exc.fault.value
    call = LLMCall(
        run_id=run_id,
        iteration=boundary,
        model=member.spec,
        prompt=shown_prompt(request),
        response=text,
        program_id=None,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        latency=time.monotonic() - started,
        seed=0,
        temperature=request.temperature,
        error=error,
        call_index=key[1],
        fault=fault,
        outcome="run notes",
        cost=member.price.cost(tokens_in, tokens_out),
    )
    return Note(run_id, text, f"model:{member.spec}", boundary, time.time()), call


@dataclass(frozen=True)
class Notes:
    """Who writes a run's notes: ``writer`` (None: nobody; boundaries get empty notes), or
    the ``recorded`` notes of the run a replay reproduces (then nobody writes, and users'
    notes are not picked up)."""

    writer: Member | None
    recorded: tuple[Note, ...] | None = None


def notes_writer(problem: Problem, ensemble: Ensemble) -> Member:
    """The model that writes the run's notes: ``notes.model``, else the ensemble's first."""
    config = problem.config
    if config.notes.model is None:
        return ensemble.members[0]
    from evolve.config import ModelConfig, MutationStyle
    from evolve.llm.ensemble import make_client
    from evolve.llm.pricing import price_of

    model = ModelConfig(name=config.notes.model, base_url=config.notes.base_url)
    try:
        client = make_client(model, config.llm.timeout)
    except UserError as exc:
        raise UserError(f"notes.model: {exc}") from None
    return Member(model.name, 1.0, MutationStyle.DIFF, (0.7,), 400, client, price_of(model))


class Scribe:
    """The runner's side of the notes: asks for each boundary's note as the search reaches
    it, stores what comes back, and picks up users' notes (at most once a second)."""

    POLL_SECONDS = 1.0

    def __init__(
        self,
        store: Store,
        run_id: str,
        notes: Notes,
        problem: Problem,
        budget: Budget,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.member = notes.writer
        self.recorded = notes.recorded
        self.problem = problem
        self.budget = budget
        self.tasks: set[asyncio.Task[Note]] = set()
        self._polled = 0.0

    def begin(self) -> list[Note]:
        """The run's notes so far (a replay's: the recorded run's, copied into it first)."""
        for note in self.recorded or ():
            self.store.add_note(replace(note, run_id=self.run_id, id=0))
        return self.store.notes(self.run_id)

    def start(self, search: Search) -> None:
        """Ask for the notes of the boundaries the search has reached."""
        config = self.problem.config
        for boundary, lessons, earlier in search.notebook.take_due():
            if self.member is None:  # nobody to write it: an empty note lets the run go on
                search.noted(self._keep(Note(self.run_id, "", "model:none", boundary), None))
                continue
            prompt = notes_prompt(
                config.prompt,
                config.evaluator.primary_metric,
                self.problem.objective,
                lessons,
                earlier,
            )
            task = asyncio.create_task(self._write(prompt, boundary))
            self.tasks.add(task)

    def finished(self, task: asyncio.Task[Note], search: Search) -> None:
        self.tasks.discard(task)
        search.noted(task.result())
        self.start(search)  # a later boundary may have waited for this one

    def poll(self, search: Search) -> bool:
        """Put users' new notes into effect after the last applied iteration."""
        now = time.monotonic()
        if now - self._polled < self.POLL_SECONDS or search.applied < 0:
            return False
        self._polled = now
        placed = self.store.place_notes(self.run_id, search.applied)
        for note in placed:
            search.noted(note)
        return bool(placed)

    async def _write(self, prompt: str, boundary: int) -> Note:
        assert self.member is not None
        note, call = await write_note(
            self.member,
            prompt,
            (boundary, NOTES_CALL),
            self.problem.config.notes.max_chars,
            self.run_id,
            boundary,
        )
        return self._keep(note, call)

    def _keep(self, note: Note, call: LLMCall | None) -> Note:
        if call is not None:
            self.budget.spent += call.cost
            self.store.add_llm_calls([call])
        return self.store.add_note(note)


NOTES_CALL = 1000
"""The call number of a boundary's notes call (after any proposal's own calls)."""
