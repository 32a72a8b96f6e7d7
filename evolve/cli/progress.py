"""Progress of a run: one line per candidate and a summary at the end; on a terminal, a
live board (``live.py``) under the lines as well."""

from __future__ import annotations

import time
from typing import Any

from evolve.cli.live import LiveBoard
from evolve.cli.output import console, err_console, fmt_score
from evolve.core.records import Candidate
from evolve.core.status import CandidateStatus, RunStatus
from evolve.events import CandidateDone, Event, RunFinished, RunStarted, Stopping
from evolve.problem import Problem

TIMES = ("llm_seconds", "eval_seconds", "engine_seconds", "wait_seconds")
"""The record's time fields, the last (waiting) not counted in the shares."""


class Progress:
    """Listens to the Runner's events and prints them (to stderr when ``quiet``)."""

    def __init__(self, problem: Problem, quiet: bool = False, notice: str = "") -> None:
        self.problem = problem
        self.notice = notice
        self.out = err_console if quiet else console
        self.started = time.monotonic()
        self.metric = problem.config.evaluator.primary_metric
        self.board: LiveBoard | None = None
        if self.out.is_terminal:
            self.board = LiveBoard(
                self.out,
                self.metric,
                problem.objective,
                problem.config.search.islands,
            )

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            if self.notice:  # once the search really starts, not before a bad-input error
                err_console.print(self.notice)
            resumed = (
                f", resuming after {event.already_done} candidates" if event.already_done else ""
            )
            self.out.print(
                f"run {event.run_id}: {event.problem}, {event.total} candidates, "
                f"models {', '.join(event.models)}{resumed}"
            )
            self.out.print(
                f"initial program: {self.metric} = {fmt_score(event.initial.score)} "
                f"(evaluated in {event.initial.eval_seconds:.2f}s)"
            )
            if self.board is not None:
                self.board.start(event)
        elif isinstance(event, CandidateDone):
            self.out.print(self._line(event), markup=False)
            if self.board is not None:
                self.board.update(event)
        elif isinstance(event, Stopping):
            self.out.print(f"stopping: {event.reason}")

    def _line(self, e: CandidateDone) -> str:
        p = e.program
        width = len(str(e.total))
        if p.status is CandidateStatus.OK:
            outcome = f"{self.metric}={fmt_score(p.score)}"
        else:
            outcome = f"{p.status.value}: {p.reason}"
            if len(outcome) > 90:
                outcome = outcome[:87] + "..."
        best = f"best={fmt_score(e.best.score)} (#{e.best.iteration})" if e.best else "best=-"
        star = "  * new best" if e.new_best else ""
        return (
            f"[{e.done:>{width}}/{e.total}] #{p.iteration:<{width}} island {p.island}  "
            f"{outcome}  {best}  llm {p.llm_seconds:.1f}s eval {p.eval_seconds:.1f}s{star}"
        )

    @staticmethod
    def time_split(programs: list[Candidate]) -> dict[str, Any]:
        """Mean seconds per candidate (under the record's names: ``llm_seconds``,
        ``eval_seconds``, ``engine_seconds``, ``wait_seconds``), and the shares of the first
        three in their sum (``llm_pct``, ...)."""
        children = [p for p in programs if p.iteration > 0]
        n = len(children) or 1
        means = {name: sum(getattr(p, name) for p in children) / n for name in TIMES}
        busy = sum(means[name] for name in TIMES[:3]) or 1.0
        shares = {name.replace("seconds", "pct"): 100 * means[name] / busy for name in TIMES[:3]}
        return {"candidates": len(children), **means, **shares}

    def summary(self, finished: RunFinished, programs: list[Candidate]) -> None:
        if self.board is not None:
            self.board.close()
        children = [p for p in programs if p.iteration > 0]
        counts: dict[str, int] = {}
        for p in children:
            counts[p.status.value] = counts.get(p.status.value, 0) + 1
        split = self.time_split(programs)
        elapsed = time.monotonic() - self.started
        self.out.print(
            f"\nrun {finished.run_id} {finished.status}: {finished.message}; "
            f"{len(children)} candidates in {elapsed:.0f}s "
            f"({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))})"
        )
        self.out.print(
            f"time per candidate: LLM {split['llm_seconds']:.2f}s ({split['llm_pct']:.0f}%), "
            f"evaluation {split['eval_seconds']:.2f}s ({split['eval_pct']:.0f}%), "
            f"engine {split['engine_seconds']:.3f}s ({split['engine_pct']:.1f}%); "
            f"waiting {split['wait_seconds']:.2f}s (retry backoff, evaluation slots, earlier twins)"
        )
        tokens_in = sum(p.tokens_in for p in children)
        tokens_out = sum(p.tokens_out for p in children)
        self.out.print(
            f"LLM: {tokens_in} tokens in, {tokens_out} out; spent ${finished.spent:.4f} (whole run)"
        )
        if finished.status == RunStatus.INTERRUPTED:
            self.out.print(f"resume with: evolve run --resume {finished.run_id}")
