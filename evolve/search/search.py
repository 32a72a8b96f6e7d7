"""The search as a state you ask and tell: which iteration comes next and what it works
from (``ask``), and what became of it (``tell``). Synchronous and pure: no asyncio, no
sandbox, no database; the async ``Runner`` drives it, and a cluster runner can too.

Determinism: results are *applied* in iteration order, and iteration k is drawn the moment
the archive holds exactly iterations ``0 .. k - lag`` (lag: every iteration that can be
running at once), from a random stream seeded by (run seed, k). What k sees therefore does
not depend on which evaluation finished first: the same seed and the same model answers
give the same run, and a resumed run replays the stored candidates into the same state.

It owns the archive, the deduplication claims and the model selector's feedback. Its
memory does not grow with the run: the archive holds a bounded population, ancestries are
kept only for programs it holds, and "was this code seen before" is asked of a
``History`` (the Store, in a real run).
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import replace

from evolve.archive.features import BUILTIN
from evolve.archive.islands import IslandArchive
from evolve.config import ProblemConfig
from evolve.core.objective import Objective
from evolve.core.records import Candidate, LLMCall, Note
from evolve.llm.ensemble import Ensemble
from evolve.llm.feedback import Feedback
from evolve.prompts import redact
from evolve.search.draw import Applied, Draw
from evolve.search.failures import FailureMemory
from evolve.search.history import History, MemoryHistory
from evolve.search.notes import NoteBook

_SWEEP = 1024


class Search:
    def __init__(
        self,
        config: ProblemConfig,
        objective: Objective,
        ensemble: Ensemble,
        lag: int,
        history: History | None = None,
    ) -> None:
        self.config = config
        self.objective = objective
        self.ensemble = ensemble
        self.lag = lag
        """Iteration k is drawn from the archive holding iterations up to k - lag."""
        self.history: History = history or MemoryHistory()
        self.archive = IslandArchive(config.features, config.search, objective)
        self.feedback = Feedback(ensemble, objective)
        self.total = config.search.iterations
        self.applied = -1
        """The last iteration applied (all before it are)."""
        self._todo: deque[int] = deque()
        """Iterations not yet asked for, in order."""
        self._ready: dict[int, Draw] = {}
        """Draws made (their view is fixed) and not yet asked for."""
        self._drawn: dict[int, Draw] = {}
        """Draws asked for and not yet applied: their parents, for feedback and lineage."""
        self._told: dict[int, tuple[Candidate, Sequence[LLMCall]]] = {}
        """Results waiting for every earlier iteration to be applied."""
        self._claims: dict[str, tuple[int, str]] = {}
        """Code hash -> (iteration, id) of candidates claimed for evaluation, not yet applied."""
        self._arm_of: dict[int, int] = {}
        """The ensemble member drawn for each iteration not yet applied."""
        self._lineage: dict[str, tuple[Candidate, ...]] = {}
        """Ancestors (nearest first) of the programs the archive may still hold."""
        self._novelty = config.novelty.enabled
        self.failures = FailureMemory(config.llm.failures, redact)
        self.notebook = NoteBook(config.notes)
        """The run's notes, and the boundaries whose note is being written."""
        """The latest failed children of the programs the archive may still hold."""

    # resume ---------------------------------------------------------------------------
    def start(
        self, stored: Iterable[Candidate], calls: Iterable[LLMCall], notes: Iterable[Note] = ()
    ) -> list[Applied]:
        """Begin from what the Store holds (the initial candidate at least, and the notes in
        effect): apply it in order, as the original run did, and plan the iterations still
        missing."""
        self.notebook.load(notes)
        by_iteration = {c.iteration: c for c in stored}
        if 0 not in by_iteration:
            raise ValueError("the search starts from the evaluated initial program")
        by_id = {c.id: c for c in by_iteration.values()}
        calls_of: dict[int, list[LLMCall]] = {}
        for call in calls:
            if call.program_id is not None:
                calls_of.setdefault(call.iteration, []).append(call)
        self._todo = deque(k for k in range(1, self.total + 1) if k not in by_iteration)
        for k, c in by_iteration.items():
            arm = self.ensemble.index_of(c.selected_model or c.model)
            if arm is not None:
                self._arm_of[k] = arm
            self._told[k] = (c, calls_of.get(k, []))
            if c.status.evaluated:  # claimed by the process that committed it
                self.history.claimed(c.code_hash)
        return self._apply_ready(parents=by_id)

    # ask --------------------------------------------------------------------------------
    def ask(self) -> Draw | None:
        """The next iteration to run, if its view of the archive is fixed; else None (tell
        more results first, or every iteration has been asked for)."""
        if not self._todo or self._todo[0] not in self._ready:
            return None
        k = self._todo.popleft()
        draw = self._ready.pop(k)
        self._drawn[k] = draw
        return draw

    @property
    def exhausted(self) -> bool:
        """Every iteration of the run has been asked for."""
        return not self._todo

    def known(self, code_hash: str, view: int) -> str | None:
        """The id of a program evaluated at or before iteration ``view`` with this code."""
        seen = self.history.first(code_hash)
        return seen[1] if seen is not None and seen[0] <= view else None

    def earlier(self, code_hash: str) -> tuple[int, str] | None:
        """The iteration and id of the first candidate with this code: stored, or claimed
        for evaluation and still in flight."""
        return self._claims.get(code_hash) or self.history.first(code_hash)

    def claim(self, iteration: int, code_hash: str, candidate_id: str) -> tuple[int, str] | None:
        """Claim ``code_hash`` for evaluation by ``iteration``; when an earlier candidate has
        that code return its iteration and id instead. Call in iteration order among twins
        (the runner waits for earlier claims to be decided)."""
        earlier = self.earlier(code_hash)
        if earlier is not None:
            return earlier
        self._claims[code_hash] = (iteration, candidate_id)
        self.history.claimed(code_hash)
        return None

    def noted(self, note: Note) -> None:
        """A note took effect (see ``evolve.search.notes``): draws waiting for it go on."""
        self.notebook.written(note)
        self._draw_ready()

    def release(self, iteration: int, code_hash: str) -> None:
        """``iteration`` will not commit the code it claimed (it was repaired)."""
        if self._claims.get(code_hash, (None,))[0] == iteration:
            del self._claims[code_hash]

    # tell -------------------------------------------------------------------------------
    def tell(self, candidate: Candidate, calls: Sequence[LLMCall] = ()) -> list[Applied]:
        """Iteration ``candidate.iteration`` ended (committed to the Store). Returns the
        candidates now applied, in order (none until every earlier one is told)."""
        self._told[candidate.iteration] = (candidate, calls)
        return self._apply_ready()

    def best(self) -> Candidate | None:
        return self.archive.best()

    def reached(self, target: float | None) -> bool:
        """Whether the best program meets ``target``."""
        best = self.archive.best()
        return target is not None and best is not None and self.objective.meets(best.score, target)

    def check_features(self, initial: Candidate) -> str | None:
        """Why the problem's MAP-Elites features cannot be computed, or None."""
        for feature in self.config.features:
            if feature.name not in BUILTIN and feature.name not in initial.metrics:
                return (
                    f"features: {feature.name!r} is neither a built-in descriptor "
                    f"({', '.join(sorted(BUILTIN))}) nor a metric the evaluator returned for "
                    f"the initial program ({', '.join(sorted(initial.metrics))})"
                )
        return None

    # the deterministic step ----------------------------------------------------------------
    def _apply_ready(self, parents: dict[str, Candidate] | None = None) -> list[Applied]:
        applied: list[Applied] = []
        self._draw_ready()
        while self.applied + 1 in self._told:
            started = time.perf_counter()
            k = self.applied = self.applied + 1
            candidate, calls = self._told.pop(k)
            draw = self._drawn.pop(k, None)
            parent = (
                draw.parent if draw is not None else (parents or {}).get(candidate.parent_id or "")
            )
            before = self.archive.best()
            self.archive.apply(candidate)
            if candidate.ok:
                cell = self.archive.cell_of(candidate)
                if cell != candidate.cell:
                    candidate = replace(candidate, cell=cell)
                # The parent's own ancestry as this state holds it (never from elsewhere),
                # so a resumed run keeps exactly what the original kept.
                lineage = (parent, *self._lineage.get(parent.id, ())) if parent else ()
                self._lineage[candidate.id] = lineage[: self.config.llm.ancestry]
            self.history.applied(candidate)
            self.failures.observe(candidate)
            self.notebook.applied(candidate, parent)
            claim = self._claims.get(candidate.code_hash)
            if claim is not None and claim[0] == k:
                del self._claims[candidate.code_hash]  # the History answers for it now
            self.feedback.observe(candidate, parent, calls)
            self._arm_of.pop(k, None)
            self._sweep()
            best = self.archive.best()
            self._draw_ready()
            applied.append(
                Applied(
                    candidate,
                    best,
                    new_best=best is not None
                    and best.id == candidate.id
                    and (before is None or before.id != best.id),
                    seconds=time.perf_counter() - started,
                )
            )
        return applied

    def _draw_ready(self) -> None:
        """Draw every iteration k whose view is now fixed (the archive holds k - lag)."""
        if self.applied < 0:
            return
        for k in self._todo:
            if k > self.applied + self.lag or self.notebook.blocks(k - self.lag):
                break
            if k not in self._ready:
                self._ready[k] = self._draw(k)

    def _draw(self, k: int) -> Draw:
        started = time.perf_counter()
        rng = random.Random(f"{self.config.search.seed}:{k}")
        island = (k - 1) % self.config.search.islands
        parent, inspirations = self.archive.sample(island, rng)
        mate = None
        crossover = self.config.search.crossover_rate
        if crossover > 0 and rng.random() < crossover:  # no draw at all when off
            mate = self.archive.mate(island, parent, rng)
        pending = [0] * len(self.ensemble.members)
        for j, arm in self._arm_of.items():
            if self.applied < j < k:
                pending[arm] += 1
        member = self.ensemble.choose(rng, pending)
        self._arm_of[k] = member.index
        fallbacks = tuple(self.ensemble.fallbacks(member, rng))
        ancestors = self._lineage.get(parent.id, ())[: self.config.llm.ancestry]
        return Draw(
            iteration=k,
            island=island,
            parent=parent,
            inspirations=tuple(inspirations),
            ancestors=ancestors,
            member=member,
            fallbacks=fallbacks,
            rng=rng,
            view=k - self.lag,
            seconds=time.perf_counter() - started,
            failures=self.failures.of(parent.id),
            mate=mate,
            notes=tuple(n.text for n in self.notebook.shown(k - self.lag)),
            neighbours=tuple(self.archive.members[island].values()) if self._novelty else (),
        )

    def _sweep(self) -> None:
        """Forget the ancestries and failures of programs the archive no longer holds, every
        ``_SWEEP`` iterations (at fixed iterations, so a resumed run forgets what the
        original forgot; in-flight draws carry their own)."""
        if self.applied % _SWEEP:
            return
        self._lineage = {i: a for i, a in self._lineage.items() if self.archive.get(i) is not None}
        self.failures.forget(lambda i: self.archive.get(i) is not None)
