"""The Controller: an asynchronous, steady-state island-model search loop.

For each iteration k it draws, from a random stream seeded by (run seed, k): the island
(round-robin), a parent and inspirations (``IslandArchive.sample``), and a model
(``Ensemble.choose``). The Proposer turns that into a child, the Executor scores it, and
the Store commits it at once. Up to ``search.max_in_flight`` proposals wait for a model at
once, and up to ``sandbox.parallel`` candidates are evaluated at once, apart from them.

Determinism: results are *applied* to the archive in iteration order, and iteration k draws
its parent, inspirations and model at the moment the archive holds exactly iterations up to
k - lag, where lag = max_in_flight + parallel (every iteration that can be running). What each iteration sees therefore does not depend on timing: the same
seed and the same model answers give the same run. Resume rebuilds the archive from the Store and re-runs whatever iterations
were in flight when the process stopped.

Stops at the iteration budget, at the target score, when not even one more call fits in
``--budget-usd`` (``spending.py``), or on Ctrl-C: the first finishes what is in flight, a
second (or SIGTERM) abandons it. Nothing already evaluated is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
import uuid
from dataclasses import dataclass, replace

from evolve.archive.features import BUILTIN
from evolve.archive.islands import IslandArchive
from evolve.code.diff import unified_diff
from evolve.core.records import Candidate, LLMCall, code_hash
from evolve.core.status import CandidateStatus, Verdict
from evolve.errors import UserError
from evolve.evaluation.executor import Evaluation, Executor
from evolve.events import CandidateDone, Listener, RunFinished, RunStarted, Stopping
from evolve.llm.ensemble import Ensemble, Member
from evolve.llm.feedback import Feedback
from evolve.llm.retry import Sleep, StopSearch, real_sleep
from evolve.problem import Problem
from evolve.proposer import Proposal, Proposer, calls_of
from evolve.spending import Budget
from evolve.store.store import Store


class Controller:
    def __init__(
        self,
        problem: Problem,
        store: Store,
        executor: Executor,
        ensemble: Ensemble,
        run_id: str,
        listener: Listener | None = None,
        sleep: Sleep = real_sleep,
    ) -> None:
        self.problem = problem
        self.config = problem.config
        self.store = store
        self.executor = executor
        self.ensemble = ensemble
        self.proposer = Proposer(problem, sleep=sleep, models=[m.spec for m in ensemble.members])
        self.budget = Budget(self.config.llm.budget_usd, self.config.llm.attempts)
        self.feedback = Feedback(ensemble, problem.maximize)
        self._width = self.config.search.max_in_flight
        slots = self.config.sandbox.parallel or self._width
        self._lag = self._width + slots
        """Iteration k draws from the archive holding iterations up to k - lag."""
        self._eval_gate = asyncio.Semaphore(slots)
        self._proposing: set[int] = set()
        self._wake = asyncio.Event()
        self.run_id = run_id
        self.listener = listener or (lambda _event: None)
        self.archive = IslandArchive(self.config.features, self.config.search, problem.objective)
        self._pending: dict[int, Candidate] = {}
        self._applied = -1
        self._done = 0
        self._claimed: dict[str, str] = {}
        self._first_seen: dict[str, tuple[int, str]] = {}
        self._iteration_of: dict[str, int] = {}
        """Program id -> iteration, for messages that must not depend on random ids."""
        self._in_flight: dict[int, asyncio.Task[Candidate]] = {}
        self._stop_reason = ""
        self._abandon = False
        self._todo: list[int] = []
        self._draws: dict[int, _Draw] = {}
        self._stop_status = ""
        self._programs: dict[str, Candidate] = {}
        """Applied candidates by id: parents' scores and ancestry for prompts."""
        self._calls: dict[int, list[LLMCall]] = {}
        """LLM calls of candidates not yet applied (the bandit learns from them in order)."""
        self._arm_of: dict[int, int] = {}
        """The ensemble member drawn for each iteration."""
        self._claim_done: dict[int, asyncio.Event] = {}

    # public -------------------------------------------------------------------
    async def run(self) -> RunFinished:
        total = self.config.search.iterations
        stored = {p.iteration: p for p in self.store.programs(self.run_id)}
        initial = stored.get(0) or await self._evaluate_initial()
        stored[0] = initial
        if not initial.ok:
            self.store.set_run_status(self.run_id, "failed", initial.reason)
            if initial.reason.startswith("evaluator failed: "):
                raise UserError(
                    f"{self._evaluator_name()}: the evaluator failed: {initial.reason.removeprefix('evaluator failed: ')}"
                )
            raise UserError(
                f"{self.problem.config.initial_program}: the initial program fails under the "
                f"evaluator ({initial.status.value}): {initial.reason}"
            )
        self._check_features(initial)
        for p in stored.values():
            self._claimed.setdefault(p.code_hash, p.id)
            self._iteration_of[p.id] = p.iteration
            arm = self.ensemble.index_of(p.selected_model or p.model)
            if arm is not None:
                self._arm_of[p.iteration] = arm
        for call in self.store.llm_calls(self.run_id):
            if call.program_id is not None:
                self._calls.setdefault(call.iteration, []).append(call)
            if not call.fault:  # what the model's answers cost, for the budget's estimates
                self.budget.observe(call.model, call.prompt, call.tokens_in, call.tokens_out)
        self.budget.spent = self.store.spent(self.run_id)
        self._pending.update(stored)
        self._done = len(stored) - 1
        self._todo = [k for k in range(1, total + 1) if k not in stored]
        self._apply_ready(emit=False)
        self.store.set_selection(self.run_id, self.ensemble.selector.state())
        self.store.set_run_status(self.run_id, "running")
        self.listener(
            RunStarted(
                self.run_id,
                self.problem.name,
                total,
                self._done,
                tuple(m.spec for m in self.ensemble.members),
                initial,
            )
        )
        self._check_target()
        with self._signals():
            await self._loop()
        return self._finish(total)

    # the loop -------------------------------------------------------------------
    async def _loop(self) -> None:
        todo = self._todo
        try:
            while True:
                # A started proposal whose first call the budget holds back waits in its
                # slot (spending.py); once the budget is spent, none is started.
                while (
                    todo
                    and not self._stop_reason
                    and not self.budget.closed
                    and len(self._proposing) < self._width
                    and todo[0] in self._draws
                ):
                    k = todo.pop(0)
                    draw = self._draws.pop(k)
                    self._claim_done[k] = asyncio.Event()
                    self._proposing.add(k)
                    self._in_flight[k] = asyncio.create_task(
                        self._iteration(k, draw), name=f"iteration-{k}"
                    )
                if not self._in_flight:
                    return
                # Wake when an iteration ends or one of them has its model's answer (which
                # frees a proposal slot while its evaluation goes on).
                self._wake.clear()
                waker = asyncio.create_task(self._wake.wait())
                finished, _ = await asyncio.wait(
                    [*self._in_flight.values(), waker], return_when=asyncio.FIRST_COMPLETED
                )
                waker.cancel()
                for task in finished:
                    if task is waker:
                        continue
                    k = int(task.get_name().rsplit("-", 1)[1])
                    del self._in_flight[k]
                    if task.cancelled():
                        continue
                    try:
                        self._pending[k] = task.result()
                    except StopSearch as exc:
                        self._stop(str(exc), exc.status)
                        continue
                    self._done += 1
                self._apply_ready(emit=True)
                self._check_target()
        finally:
            for task in self._in_flight.values():
                task.cancel()
            if self._in_flight:
                await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    def _apply_ready(self, emit: bool) -> None:
        self._draw_ready()
        while self._applied + 1 in self._pending:
            self._applied += 1
            program = self._pending.pop(self._applied)
            if program.status.evaluated:
                self._first_seen.setdefault(program.code_hash, (program.iteration, program.id))
            before = self.archive.best()
            self.archive.apply(program)
            if program.ok:
                # Its cell as of its turn in iteration order (adaptive bins move), so the
                # stored cell does not depend on when its evaluation happened to finish.
                cell = self.archive.cell_of(program)
                if cell != program.cell:
                    program = replace(program, cell=cell)
                    self.store.set_cell(program.id, cell)
            self._programs[program.id] = program
            self._learn(program)
            self._claim_done.pop(program.iteration, None)
            best = self.archive.best()
            if emit:
                self.store.set_selection(self.run_id, self.ensemble.selector.state())
                self.listener(
                    CandidateDone(
                        program,
                        self._done,
                        self.config.search.iterations,
                        best,
                        new_best=best is not None and best is program and before is not program,
                    )
                )
            self._draw_ready()

    def _draw_ready(self) -> None:
        """Draw island, parent, inspirations and model for every iteration k whose view is now
        fixed: the archive holds exactly iterations up to k - lag."""
        if self._applied < 0:  # not even the initial program yet
            return
        for k in self._todo:
            if k > self._applied + self._lag:
                break
            if k not in self._draws:
                self._draws[k] = self._draw(k)

    def _draw(self, k: int) -> _Draw:
        rng = random.Random(f"{self.config.search.seed}:{k}")
        island = (k - 1) % self.config.search.islands
        parent, inspirations = self.archive.sample(island, rng)
        pending = [0] * len(self.ensemble.members)
        for j in range(self._applied + 1, k):
            if j in self._arm_of:
                pending[self._arm_of[j]] += 1
        member = self.ensemble.choose(rng, pending)
        self._arm_of[k] = member.index
        fallbacks = self.ensemble.fallbacks(member, rng)
        return _Draw(island, parent, inspirations, member, tuple(fallbacks), rng)

    def _learn(self, program: Candidate) -> None:
        calls = self._calls.pop(program.iteration, [])
        self.feedback.observe(program, self._programs.get(program.parent_id or ""), calls)

    def _ancestry(self, parent: Candidate) -> list[Candidate]:
        """The parent's ancestors, nearest first, as far as ``llm.ancestry`` asks."""
        out: list[Candidate] = []
        node = self._programs.get(parent.parent_id or "")
        while node is not None and len(out) < self.config.llm.ancestry:
            out.append(node)
            node = self._programs.get(node.parent_id or "")
        return out

    def _stop(self, reason: str, status: str) -> None:
        if self._stop_reason:
            return
        self._stop_reason, self._stop_status = reason, status
        self.listener(Stopping(reason, len(self._in_flight)))

    def _check_target(self) -> None:
        target = self.config.search.target_score
        best = self.archive.best()
        if target is None or best is None or best.score is None or self._stop_reason:
            return
        reached = best.score >= target if self.problem.maximize else best.score <= target
        if reached:
            self._stop_reason = f"target score {target!r} reached"
            self.listener(Stopping(self._stop_reason, len(self._in_flight)))

    def _finish(self, total: int) -> RunFinished:
        if self._abandon or self._stop_reason.startswith("interrupted"):
            status, message = "interrupted", self._stop_reason
        elif self._stop_status:
            status, message = self._stop_status, self._stop_reason
        else:
            status = "completed"
            message = self._stop_reason or f"iteration budget of {total} reached"
        self.store.set_run_status(self.run_id, status, message)
        event = RunFinished(
            self.run_id, status, message, self.archive.best(), self._done, self.budget.spent
        )
        self.listener(event)
        return event

    # one iteration ------------------------------------------------------------------
    async def _iteration(self, k: int, draw: _Draw) -> Candidate:
        try:
            return await self._propose_and_evaluate(k, draw)
        finally:
            self._claim_done[k].set()

    async def _propose_and_evaluate(self, k: int, draw: _Draw) -> Candidate:
        started = time.monotonic()
        island, parent, inspirations = draw.island, draw.parent, draw.inspirations
        program_id = uuid.uuid4().hex
        try:
            proposal = await self._propose(k, draw)
        except StopSearch as exc:
            # Keep the calls (they happened, and may have cost money), unattached: the
            # iteration itself is redone on resume.
            attempts = getattr(exc, "attempts", ())
            self.store.add_llm_calls(calls_of(self.run_id, k, None, attempts))
            raise
        calls = calls_of(self.run_id, k, program_id, proposal.attempts)
        waited = proposal.waited
        evaluation: Evaluation | None = None
        status, reason, duplicate_of = (
            CandidateStatus.INVALID,
            proposal.reason,
            proposal.duplicate_of,
        )
        if duplicate_of is not None:
            status = CandidateStatus.DUPLICATE
            reason = f"same code as candidate #{self._iteration_of[duplicate_of]}"
        elif proposal.code is not None:
            # Twins among candidates in flight: the earlier iteration evaluates, the later
            # is the duplicate, whatever order they finish in.
            waiting_since = time.monotonic()
            for j in range(self._applied + 1, k):
                event = self._claim_done.get(j)
                if event is not None:
                    await event.wait()
            waited += time.monotonic() - waiting_since
            digest = code_hash(proposal.code)
            duplicate_of = self._claimed.get(digest)
            if duplicate_of is not None:
                status = CandidateStatus.DUPLICATE
                reason = f"same code as candidate #{self._iteration_of[duplicate_of]}"
            else:
                self._claimed[digest] = program_id
                self._iteration_of[program_id] = k
                self._claim_done[k].set()
                waiting_since = time.monotonic()
                async with self._eval_gate:
                    waited += time.monotonic() - waiting_since
                    evaluation = await self.executor.evaluate(proposal.code)
                status, reason = evaluation.status.candidate_status(), evaluation.reason
                if evaluation.status is Verdict.EVALUATOR_ERROR:
                    reason = f"evaluator failed: {reason}"
        self._claim_done[k].set()
        code = proposal.code if proposal.code is not None else parent.code
        llm_s = proposal.llm_seconds
        eval_s = evaluation.seconds if evaluation else 0.0
        program = Candidate(
            id=program_id,
            run_id=self.run_id,
            iteration=k,
            code=code,
            island=island,
            generation=parent.generation + 1,
            status=status,
            score=evaluation.score if evaluation else None,
            metrics=evaluation.metrics if evaluation else {},
            artifacts=evaluation.artifacts if evaluation else {},
            reason=reason,
            parent_id=parent.id,
            inspiration_ids=tuple(p.id for p in inspirations),
            diff=unified_diff(parent.code, code) if proposal.code is not None else "",
            model=proposal.model,
            mutation=proposal.mutation.value,
            tokens_in=proposal.tokens_in,
            tokens_out=proposal.tokens_out,
            duplicate_of=duplicate_of,
            created_at=time.time(),
            cost=proposal.cost,
            selected_model=draw.member.spec,
            stage=evaluation.stage if evaluation else 0,
        )
        engine_s = max(0.0, time.monotonic() - started - llm_s - eval_s - waited)
        program = replace(
            program,
            llm_seconds=llm_s,
            eval_seconds=eval_s,
            engine_seconds=engine_s,
            wait_seconds=waited,
        )
        self.store.add_program(program, calls)
        self._calls[k] = calls
        return program

    async def _evaluate_initial(self) -> Candidate:
        evaluation = await self.executor.evaluate(self.problem.initial_code)
        program = Candidate(
            id=uuid.uuid4().hex,
            run_id=self.run_id,
            iteration=0,
            code=self.problem.initial_code,
            island=0,
            generation=0,
            status=evaluation.status.candidate_status(),
            score=evaluation.score,
            metrics=evaluation.metrics,
            artifacts=evaluation.artifacts,
            reason=(
                f"evaluator failed: {evaluation.reason}"
                if evaluation.status is Verdict.EVALUATOR_ERROR
                else evaluation.reason
            ),
            mutation="initial",
            stage=evaluation.stage,
            eval_seconds=evaluation.seconds,
            created_at=time.time(),
        )
        self.store.add_program(program)
        return program

    async def _propose(self, k: int, draw: _Draw) -> Proposal:
        """The model stage of iteration k; its proposal slot is freed when it ends."""
        view = k - self._lag

        def known(digest: str) -> str | None:
            seen = self._first_seen.get(digest)
            return seen[1] if seen is not None and seen[0] <= view else None

        tab = self.budget.tab(k)
        try:
            return await self.proposer.propose(
                draw.parent,
                draw.inspirations,
                draw.member,
                draw.rng,
                known,
                fallbacks=draw.fallbacks,
                iteration=k,
                ancestors=self._ancestry(draw.parent),
                tab=tab,
            )
        finally:
            tab.close()
            self._proposing.discard(k)
            self._wake.set()

    def _check_features(self, initial: Candidate) -> None:
        """A MAP-Elites dimension must be a built-in descriptor or a metric the evaluator returns."""
        for feature in self.config.features:
            if feature.name not in BUILTIN and feature.name not in initial.metrics:
                self.store.set_run_status(self.run_id, "failed", "unknown feature")
                raise UserError(
                    f"{self.problem.file}: features: {feature.name!r} is neither a built-in "
                    f"descriptor ({', '.join(sorted(BUILTIN))}) nor a metric the evaluator "
                    f"returned for the initial program ({', '.join(sorted(initial.metrics))})"
                )

    def _evaluator_name(self) -> str:
        ev = self.problem.evaluator
        return str(ev.path) if ev.path else f"plugin {self.problem.config.evaluator.plugin}"

    # signals ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _signals(self):
        loop = asyncio.get_running_loop()
        installed = []
        for sig, handler in ((signal.SIGINT, self._on_interrupt), (signal.SIGTERM, self._on_term)):
            # Outside the main thread (a notebook, a server) signals cannot be handled here;
            # the caller then stops the run by cancelling its task.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, handler)
                installed.append(sig)
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    def _on_interrupt(self) -> None:
        if not self._stop_reason or not self._stop_reason.startswith("interrupted"):
            self._stop_reason = "interrupted by the user"
            self.listener(
                Stopping(
                    f"Ctrl-C: finishing {len(self._in_flight)} candidate(s) in flight "
                    "(Ctrl-C again to abandon them)",
                    len(self._in_flight),
                )
            )
            return
        self._on_term()

    def _on_term(self) -> None:
        self._stop_reason = "interrupted; in-flight candidates abandoned"
        self._abandon = True
        self.listener(Stopping(self._stop_reason, len(self._in_flight)))
        for task in self._in_flight.values():
            task.cancel()


@dataclass(frozen=True)
class _Draw:
    """What iteration k works from, drawn when the archive reached exactly the view k may see."""

    island: int
    parent: Candidate
    inspirations: list[Candidate]
    member: Member
    fallbacks: tuple[Member, ...]
    rng: random.Random
