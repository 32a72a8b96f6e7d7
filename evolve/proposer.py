"""The Proposer: from a parent and inspirations, ask one model of the ensemble for a child.

What is asked and how an answer becomes a child is ``evolve.asking``'s; this is the calling:
an unusable answer is retried (``llm.attempts``) with a new sampling seed and the reason
shown, a failing call is retried with backoff and then handed to the next model, the
novelty screen is asked about each child, and every call is recorded, failed or not.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from evolve.asking import Asker
from evolve.core.records import code_hash
from evolve.llm.base import Fault, LLMError, LLMRequest, LLMResponse, shown_prompt
from evolve.llm.ensemble import Member
from evolve.llm.retry import Health, RetryPolicy, Sleep, StopSearch, real_sleep
from evolve.novelty.screen import Screen, Screened
from evolve.problem import Problem
from evolve.prompts import redact
from evolve.proposal import Attempt, CallLog, Proposal
from evolve.search.draw import Draw
from evolve.search.failures import unusable


class Proposer:
    def __init__(
        self,
        problem: Problem,
        policy: RetryPolicy | None = None,
        health: Health | None = None,
        sleep: Sleep = real_sleep,
        models: Sequence[str] = (),
        screen: Screen | None = None,
    ) -> None:
        self.problem = problem
        self.screen = screen
        """The novelty screen (``[novelty]``), if the run has one."""
        llm = problem.config.llm
        self.asker = Asker(problem)
        self.policy = policy or RetryPolicy(llm.retries, llm.backoff, llm.backoff_max)
        self.health = health or Health(llm.outage_seconds, models)
        self.sleep = sleep
        self._jitter = random.Random()  # timing only: never touches what the run computes

    async def propose(
        self,
        draw: Draw,
        log: CallLog,
        known: Callable[[str], str | None] = lambda _hash: None,
        answers: int | None = None,
    ) -> Proposal:
        """Ask the drawn model for a child of the drawn parent. A call that keeps failing
        moves on to the next of the draw's fallbacks; an unusable answer is asked again
        (``llm.attempts`` answers in all). ``known(code_hash)`` names a program of the run
        that already has that code (such an answer is retried, like an unusable one).
        Raises ``Outage`` when every model has been failing for too long. Every call goes
        into ``log``, whose tab accounts it to the run's budget (which may hold back the
        first, raising ``BudgetSpent``, and allow fewer answers); ``answers`` asks for at
        most that many answers instead of ``llm.attempts``."""
        parent, inspirations, rng = draw.parent, list(draw.inspirations), draw.rng
        ancestors, tab = draw.ancestors, log.tab
        attempts = answers or self.problem.config.llm.attempts
        members = [draw.member, *draw.fallbacks]
        current = 0
        answered = 0
        reason = ""
        keep = self.problem.config.llm.failures
        failures = list(draw.failures)[-keep:] if keep else []
        duplicate_of: str | None = None
        repeated: str | None = None
        similar: Screened | None = None  # the last answer's, when too similar
        similar_code = ""
        transient = False  # whether a model of this round failed in a way that may pass
        while answered < min(attempts, tab.allowed if tab is not None else attempts):
            if current >= len(members):
                if not transient:
                    break  # every model failed for good (refusal, bad request, no key)
                # Every model is failing for now: wait and go round again, until they are
                # back or the outage limit stops the run (the iteration is not spent).
                if self.health.down():
                    raise self.health.outage()
                started = time.monotonic()
                await self.sleep(self.policy.backoff_max * (0.5 + 0.5 * self._jitter.random()))
                log.waited += time.monotonic() - started
                current, transient = 0, False
                continue
            m = members[current]
            started = time.perf_counter()
            seed = rng.randrange(2**31 - 1)
            temperature = m.draw_temperature(rng)
            asked = self.asker.ask(
                parent,
                inspirations,
                m,
                rng,
                ancestors,
                failures[-keep:] if keep else [],
                draw.mate,
                draw.notes,
            )
            request = LLMRequest(
                prompt=asked.prompt,
                system=asked.system,
                temperature=temperature,
                max_tokens=m.max_tokens,
                seed=seed,
                stop=asked.stop,
                stop_pattern=asked.stop_pattern,
                avoid=asked.avoid,
            )
            log.worked += time.perf_counter() - started
            response = await self._call(m, request, log)
            if response is None:
                reason = f"LLM call failed: {log.attempts[-1].error}"
                transient |= Fault(log.attempts[-1].fault).transient
                current += 1
                similar = None
                continue
            answered += 1
            started = time.perf_counter()
            code, reason = asked.finish(response.text)
            duplicate_of = known(code_hash(code)) if code is not None else None
            log.worked += time.perf_counter() - started
            similar = None
            if code is not None and duplicate_of is None and self.screen is not None:
                similar = await self._screen(code, draw, log)
                if similar is not None and not self.screen.reask:
                    return Proposal(
                        code, similar.reason, m.spec, m.mutation, tuple(log.attempts), None,
                        log.waited, log.worked, similar_to=similar.neighbour.id,  # type: ignore[union-attr]
                    )  # fmt: skip
                if similar is not None:
                    reason, similar_code = similar.reason, code
            if code is not None and duplicate_of is None and similar is None:
                return Proposal(
                    code, "", m.spec, m.mutation, tuple(log.attempts), None, log.waited, log.worked
                )
            if similar is not None:
                failures.append(unusable(draw.iteration, reason, redact))
                continue  # marked by the screen: asked again
            if duplicate_of is not None:
                reason, repeated = "repeats a program of this run", code
            log.mark_unusable(reason)
            failures.append(unusable(draw.iteration, reason, redact))
        if current >= len(members):
            reason = f"every model failed: {log.attempts[-1].error}"
        elif answered < attempts:
            reason += " (the budget left room for no further answer)"
        last = members[min(current, len(members) - 1)]
        if similar is not None and similar.neighbour is not None:  # asked again, in vain
            return Proposal(
                similar_code, reason, last.spec, last.mutation, tuple(log.attempts), None,
                log.waited, log.worked, similar_to=similar.neighbour.id,
            )  # fmt: skip
        # ``duplicate_of`` describes the last answer: a repeat (then the code is that repeat)
        # or unusable (then there is no code).
        code = repeated if duplicate_of is not None else None
        return Proposal(
            code,
            reason,
            last.spec,
            last.mutation,
            tuple(log.attempts),
            duplicate_of,
            log.waited,
            log.worked,
        )

    async def _screen(self, code: str, draw: Draw, log: CallLog) -> Screened | None:
        """The novelty screen's verdict on the last answer's child when it is too similar
        (that call marked with why, and a judge's call recorded after it); else None."""
        assert self.screen is not None
        answer = len(log.attempts) - 1
        screened = await self.screen(code, draw.neighbours, (draw.iteration, answer))
        if screened.judge is not None:
            log.add(screened.judge)
        if not screened.similar or screened.neighbour is None:
            return None
        log.mark(answer, screened.reason)
        return screened

    async def _call(self, member: Member, request: LLMRequest, log: CallLog) -> LLMResponse | None:
        """One answer from ``member``, retrying transient faults; None when it gave none."""
        shown = shown_prompt(request)
        for retry in range(self.policy.retries + 1):
            keyed = replace(request, key=(log.iteration, len(log.attempts)))
            if log.tab is not None:
                await log.tab.call(member, shown)
            started = time.monotonic()
            try:
                response = await member.client.complete(keyed)
            except LLMError as exc:
                log.add(
                    Attempt(
                        shown,
                        "",
                        request.seed or 0,
                        request.temperature,
                        latency=time.monotonic() - started,
                        error=str(exc),
                        model=member.spec,
                        fault=exc.fault.value,
                    )
                )
                self.health.failure(exc, member.spec)
                if exc.stops_run:
                    raise StopSearch(f"{member.spec}: {exc}") from None
                if self.health.down():
                    raise self.health.outage() from None
                if not exc.fault.transient or retry == self.policy.retries:
                    return None
                delay = self.policy.delay(retry, exc, self._jitter)
                started = time.monotonic()
                await self.sleep(delay)
                log.waited += time.monotonic() - started
                continue
            self.health.success(member.spec)
            cost = member.price.cost(response.tokens_in, response.tokens_out)
            if log.tab is not None:
                log.tab.answered(member, shown, response.tokens_in, response.tokens_out, cost)
            # Wall time, queueing for the model included: that is time spent on the LLM.
            log.add(
                Attempt(
                    shown,
                    response.text,
                    request.seed or 0,
                    request.temperature,
                    response.tokens_in,
                    response.tokens_out,
                    time.monotonic() - started,
                    model=member.spec,
                    cost=cost,
                )
            )
            return response
        return None
