"""The Runner: drives a ``Search`` asynchronously, in a steady state.

It owns only what is about time: the proposal slots (``search.max_in_flight`` proposals
wait for a model at once), the evaluation slots (``sandbox.parallel`` candidates are
evaluated at once, apart from them), the spending budget, signals and why the run stops.
What each iteration works from and what becomes of it is the Search's; the Store commits
every candidate the moment it exists, so nothing already evaluated is lost.

Stops at the iteration budget, at the target score, when not even one more call fits in
``--budget-usd`` (``spending.py``), when every model has failed for ``llm.outage_seconds``,
or on Ctrl-C: the first finishes what is in flight, a second (or SIGTERM) abandons it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from functools import partial

from evolve.core.records import Candidate, LLMCall, Note, code_hash
from evolve.core.status import CandidateStatus, RunStatus
from evolve.errors import UserError
from evolve.evaluation.executor import Evaluation, Executor
from evolve.events import CandidateDone, Listener, RunFinished, RunStarted, Stopping
from evolve.llm.ensemble import Ensemble
from evolve.llm.retry import Sleep, StopSearch, real_sleep
from evolve.novelty.screen import Screen
from evolve.problem import Problem
from evolve.proposal import CallLog, Proposal, calls_of
from evolve.proposer import Proposer
from evolve.search import child
from evolve.search.draw import Applied, Draw
from evolve.search.history import StoreHistory
from evolve.search.notes import Notes, Scribe
from evolve.search.repair import REPAIRABLE, Repairer
from evolve.search.search import Search
from evolve.search.stop import ABANDON, USER_INTERRUPT, Stop, signals
from evolve.spending import Budget
from evolve.store.store import Store


class Runner:
    def __init__(
        self,
        problem: Problem,
        store: Store,
        executor: Executor,
        ensemble: Ensemble,
        run_id: str,
        listener: Listener | None = None,
        sleep: Sleep = real_sleep,
        screen: Screen | None = None,
        notes: Notes | None = None,
    ) -> None:
        self.problem = problem
        self.config = problem.config
        self.store = store
        self.executor = executor
        self.ensemble = ensemble
        self.run_id = run_id
        self.listener = listener or (lambda _event: None)
        specs = [m.spec for m in ensemble.members]
        self.proposer = Proposer(problem, sleep=sleep, models=specs, screen=screen)
        self.budget = Budget(self.config.llm.budget_usd, self.config.llm.attempts)
        self._width = self.config.search.max_in_flight
        slots = self.config.sandbox.parallel or self._width
        # Every iteration that can be running at once: k is drawn when the archive holds
        # k - lag, so what it sees never depends on which evaluation finished first.
        lag = self._width + slots
        self.search = Search(
            self.config,
            problem.objective,
            ensemble,
            lag,
            StoreHistory(partial(store.first_evaluated, run_id)),
        )
        self._eval_gate = asyncio.Semaphore(slots)
        self._tasks: dict[asyncio.Task[tuple[Candidate, list[LLMCall]]], int] = {}
        self._proposing = 0
        self._wake = asyncio.Event()
        self._claim_done: dict[int, asyncio.Event] = {}
        """Per iteration in flight: set once it knows whether it evaluates its code."""
        self._stop: Stop | None = None
        self._done = 0
        self._scribe = Scribe(
            store, run_id, notes or Notes(ensemble.members[0]), problem, self.budget
        )
        self._repairer = (
            Repairer(self.proposer, self.budget, self.search, self._evaluate)
            if self.config.llm.repair
            else None
        )

    # public -------------------------------------------------------------------------------
    async def run(self) -> RunFinished:
        """Start (or resume) the run and go on until it stops; the run's status is stored."""
        total = self.config.search.iterations
        stored = {c.iteration: c for c in self.store.programs(self.run_id)}
        if 0 not in stored:
            stored[0] = await _initial(self.problem, self.store, self.executor, self.run_id)
        initial = stored[0]
        refused = _refusal(self.problem, self.search, initial)
        if refused is not None:
            problem_error, status_message = refused
            self.store.set_run_status(self.run_id, RunStatus.FAILED, status_message)
            raise UserError(problem_error)
        notes = self._scribe.begin()
        _restore(self.store, self.run_id, self.budget, self.search, stored, notes)
        self._scribe.start(self.search)  # a boundary reached before a crash
        self._done = len(stored) - 1
        self.store.set_selection(self.run_id, self.ensemble.selector.state())
        self.store.set_run_status(self.run_id, RunStatus.RUNNING)
        models = tuple(m.spec for m in self.ensemble.members)
        self.listener(
            RunStarted(self.run_id, self.problem.name, total, self._done, models, initial)
        )
        self._check_target()
        with signals(self._on_interrupt, self._on_term):
            await self._loop()
        return self._finish(total)

    # the loop -----------------------------------------------------------------------------
    async def _loop(self) -> None:
        try:
            while True:
                self._scribe.poll(self.search)
                self._start_ready()
                if not self._tasks and not self._scribe.tasks:
                    return
                # Wake when an iteration ends or one of them has its model's answer (which
                # frees a proposal slot while its evaluation goes on), or a note is written.
                self._wake.clear()
                waker = asyncio.create_task(self._wake.wait())
                finished, _ = await asyncio.wait(
                    [*self._tasks, *self._scribe.tasks, waker],
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waker.cancel()
                for task in finished:
                    if task in self._scribe.tasks:
                        self._scribe.finished(task, self.search)  # type: ignore[arg-type]
                        continue
                    if task is waker or self._tasks.pop(task, None) is None or task.cancelled():
                        continue
                    try:
                        candidate, calls = task.result()
                    except StopSearch as exc:
                        self._halt(Stop(str(exc), RunStatus(exc.status)))
                        continue
                    self._done += 1
                    for applied in self.search.tell(candidate, calls):
                        self._applied(applied)
                    self._scribe.start(self.search)
                self._check_target()
        finally:
            pending = [*self._tasks, *self._scribe.tasks]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    def _start_ready(self) -> None:
        """Start drawn iterations while a proposal slot is free. A started proposal whose
        first call the budget holds back waits in its slot; once the budget is spent, none
        is started."""
        while self._stop is None and not self.budget.closed and self._proposing < self._width:
            draw = self.search.ask()
            if draw is None:
                return
            self._claim_done[draw.iteration] = asyncio.Event()
            self._proposing += 1
            self._tasks[asyncio.create_task(self._iteration(draw))] = draw.iteration

    def _applied(self, applied: Applied) -> None:
        started = time.perf_counter()
        c = applied.candidate
        self._claim_done.pop(c.iteration, None)
        engine = c.engine_seconds + applied.seconds
        selection = self.ensemble.selector.state()
        engine += time.perf_counter() - started
        self.store.mark_applied(self.run_id, c.id, c.cell, engine, selection)
        total = self.config.search.iterations
        c = replace(c, engine_seconds=engine)
        self.listener(CandidateDone(c, self._done, total, applied.best, applied.new_best))

    # one iteration --------------------------------------------------------------------------
    async def _iteration(self, draw: Draw) -> tuple[Candidate, list[LLMCall]]:
        k = draw.iteration
        log = CallLog(k, self.budget.tab(k))
        try:
            try:
                proposal = await self.proposer.propose(
                    draw, log, known=lambda digest: self.search.known(digest, draw.view)
                )
            except StopSearch:
                # Keep the calls (they happened, and may have cost money), unattached: the
                # iteration itself is redone on resume.
                self.store.add_llm_calls(calls_of(self.run_id, k, None, log.attempts))
                raise
            finally:
                if log.tab is not None:
                    log.tab.close()
                self._proposing -= 1
                self._wake.set()
            return await self._decide(draw, proposal, log)
        finally:
            self._claim_done[k].set()

    async def _decide(
        self, draw: Draw, proposal: Proposal, log: CallLog
    ) -> tuple[Candidate, list[LLMCall]]:
        """Evaluate the proposal's program unless it has none or an earlier one has its code
        (and, under ``llm.repair``, once more after asking for a fix when it failed), then
        commit the candidate."""
        k = draw.iteration
        engine = draw.seconds + proposal.engine_seconds
        waited = proposal.waited
        candidate_id = child.new_id()
        evaluation: Evaluation | None = None
        duplicate_of: str | None = None
        status, reason = CandidateStatus.INVALID, proposal.reason
        if proposal.similar_to is not None:  # the novelty screen's: never evaluated
            status, duplicate_of = CandidateStatus.SIMILAR, proposal.similar_to
        elif proposal.code is not None:
            digest = code_hash(proposal.code)
            if proposal.duplicate_of is None:
                # Twins among candidates in flight: the earlier iteration evaluates, the
                # later is the duplicate, whatever order they finish in.
                since = time.monotonic()
                for j in range(self.search.applied + 1, k):
                    event = self._claim_done.get(j)
                    if event is not None:
                        await event.wait()
                waited += time.monotonic() - since
            started = time.perf_counter()
            earlier = self.search.claim(k, digest, candidate_id)
            engine += time.perf_counter() - started
            self._claim_done[k].set()
            if earlier is not None:
                status, duplicate_of = CandidateStatus.DUPLICATE, earlier[1]
                reason = f"same code as candidate #{earlier[0]}"
            else:
                evaluation, slot_wait = await self._evaluate(proposal.code)
                waited += slot_wait
                status, reason = child.outcome(evaluation)
                if self._repairer is not None and status in REPAIRABLE:
                    fixed = await self._repairer.run(draw, proposal, log, candidate_id, evaluation)
                    proposal, evaluation, slot_wait = fixed
                    waited += slot_wait
                    status, reason = child.outcome(evaluation)
        self._claim_done[k].set()
        started = time.perf_counter()
        calls = calls_of(self.run_id, k, candidate_id, proposal.attempts)
        # Committed with the engine's time so far (what a resume keeps if it dies before
        # its turn); the full figure, commit included, is stored when it is applied.
        candidate = child.child(
            self.run_id, candidate_id, draw, proposal, status, reason, evaluation,
            duplicate_of, waited, engine + time.perf_counter() - started,
        )  # fmt: skip
        self.store.add_program(candidate, calls)
        return replace(candidate, engine_seconds=engine + time.perf_counter() - started), calls

    async def _evaluate(self, code: str) -> tuple[Evaluation, float]:
        """``code`` evaluated in one of the evaluation slots; and how long it waited for one."""
        since = time.monotonic()
        async with self._eval_gate:
            waited = time.monotonic() - since
            return await self.executor.evaluate(code), waited

    # starting and stopping ------------------------------------------------------------------
    def _check_target(self) -> None:
        target = self.config.search.target_score
        if self._stop is None and self.search.reached(target):
            self._halt(Stop(f"target score {target!r} reached", RunStatus.COMPLETED))

    def _halt(self, stop: Stop, shown: str = "") -> None:
        """Stop for ``stop``, unless already stopping (an interrupt overrides other reasons,
        and abandoning overrides finishing)."""
        if not stop.overrides(self._stop):
            return
        self._stop = stop
        self.listener(Stopping(shown or stop.reason, len(self._tasks)))

    def _finish(self, total: int) -> RunFinished:
        if self._stop is not None:
            status, message = self._stop.status, self._stop.reason
        else:
            status, message = RunStatus.COMPLETED, f"iteration budget of {total} reached"
        self.store.set_run_status(self.run_id, status, message)
        best = self.search.best()
        event = RunFinished(self.run_id, status, message, best, self._done, self.budget.spent)
        self.listener(event)
        return event

    def _on_interrupt(self) -> None:
        if self._stop is not None and self._stop.interrupt:
            self._on_term()
            return
        n = len(self._tasks)
        self._halt(
            USER_INTERRUPT,
            f"Ctrl-C: finishing {n} candidate(s) in flight (Ctrl-C again to abandon them)",
        )

    def _on_term(self) -> None:
        self._halt(ABANDON)
        for task in self._tasks:
            task.cancel()


def _restore(
    store: Store,
    run_id: str,
    budget: Budget,
    search: Search,
    stored: dict[int, Candidate],
    notes: list[Note],
) -> None:
    """Bring the budget and the search to where the stored candidates and calls left them."""
    calls = store.llm_calls(run_id)
    for call in calls:
        if not call.fault:  # what the model's answers cost, for the budget's estimates
            budget.observe(call.model, call.prompt, call.tokens_in, call.tokens_out)
    budget.spent = store.spent(run_id)
    for applied in search.start(stored.values(), calls, notes):
        c = applied.candidate
        if c.cell != stored[c.iteration].cell:  # committed, but never applied before
            store.mark_applied(run_id, c.id, c.cell, c.engine_seconds, None)


async def _initial(problem: Problem, store: Store, executor: Executor, run_id: str) -> Candidate:
    """Iteration 0: the problem's own program, evaluated and committed."""
    evaluation = await executor.evaluate(problem.initial_code)
    initial = child.initial(run_id, problem.initial_code, evaluation)
    store.add_program(initial)
    return initial


def _refusal(problem: Problem, search: Search, initial: Candidate) -> tuple[str, str] | None:
    """Why the run cannot start (the error to show, the run's status message), or None: it
    starts only from a working initial program with the features it needs."""
    if initial.reason.startswith("evaluator failed: "):
        ev = problem.evaluator
        where = str(ev.path) if ev.path else f"plugin {problem.config.evaluator.plugin}"
        return f"{where}: the evaluator failed: {initial.reason.split(': ', 1)[-1]}", initial.reason
    if not initial.ok:
        return (
            f"{problem.config.initial_program}: the initial program fails under the "
            f"evaluator ({initial.status.value}): {initial.reason}",
            initial.reason,
        )
    why = search.check_features(initial)
    return (f"{problem.file}: {why}", "unknown feature") if why is not None else None
