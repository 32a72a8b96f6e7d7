"""Running a search on benchmark problems and measuring each run against the best known.

Each (problem, seed) is an ordinary run: started through ``evolve.session`` like ``evolve
run``, stored in the database, inspectable afterwards. Its measure is read back from the
database: the quoted metric of its best candidate, that value's gap to the best known,
the share of proposals that were valid, the LLM calls and spend it took to reach the final
best, and the wall time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from evolve.benchmark.catalogue import Entry
from evolve.core.records import Candidate, LLMCall
from evolve.core.status import RunStatus
from evolve.events import Listener
from evolve.session import Session, Start


@dataclass(frozen=True)
class RunMeasure:
    """One benchmark run, measured."""

    problem: str
    seed: int
    run_id: str
    status: str
    metric: str
    direction: str
    best: float | None
    """The quoted metric of the run's best candidate (by the primary metric)."""
    initial: float | None
    """The same metric for the initial program."""
    best_known: float | None
    gap: float | None
    """How far ``best`` is from the best known in the problem's direction: negative when
    short of it, positive beyond it, 0 when equal."""
    proposals: int
    valid: int
    calls_to_best: int
    """LLM calls made by the iterations up to and including the best candidate's."""
    cost_to_best: float
    seconds: float
    model: list[str] = field(default_factory=list)

    @property
    def valid_rate(self) -> float | None:
        return self.valid / self.proposals if self.proposals else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"valid_rate": self.valid_rate}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunMeasure:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


def quoted(candidate: Candidate | None, entry: Entry) -> float | None:
    """A valid candidate's value of the quoted metric (None when it has none, or it is not
    finite)."""
    if candidate is None or not candidate.ok:
        return None
    value = candidate.metrics.get(entry.metric)
    if value is None and entry.metric == entry.primary:
        value = candidate.score
    return float(value) if value is not None and math.isfinite(value) else None


def measure(
    entry: Entry,
    seed: int,
    run_id: str,
    status: str,
    programs: Sequence[Candidate],
    calls: Sequence[LLMCall],
    seconds: float,
    models: Sequence[str] = (),
) -> RunMeasure:
    """The measure of a finished run from its stored candidates and calls."""
    objective = entry.objective
    best = objective.best(p for p in programs if p.ok)
    initial = next((p for p in programs if p.iteration == 0), None)
    children = [p for p in programs if p.iteration > 0]
    value = quoted(best, entry)
    gap = None
    if value is not None and entry.best_known is not None:
        gap = objective.gain(value, entry.best_known)
    upto = best.iteration if best is not None else 0
    spent = [c for c in calls if c.iteration <= upto]
    return RunMeasure(
        problem=entry.name,
        seed=seed,
        run_id=run_id,
        status=status,
        metric=entry.metric,
        direction=objective.direction,
        best=value,
        initial=quoted(initial, entry),
        best_known=entry.best_known,
        gap=gap,
        proposals=len(children),
        valid=sum(p.ok for p in children),
        calls_to_best=len(spent),
        cost_to_best=sum(c.cost for c in spent),
        seconds=round(seconds, 2),
        model=list(models),
    )


def run_one(
    entry: Entry,
    seed: int,
    *,
    iterations: int,
    db: str | None,
    models: Sequence[str] = (),
    listener: Listener | None = None,
    sandbox: str | None = None,
    sets: Sequence[str] = (),
) -> RunMeasure:
    """Run ``entry`` once with ``seed`` for ``iterations`` candidates and measure it."""
    session = Session.open(
        Start(problem=str(entry.path)),
        db=db,
        settings={"iterations": iterations, "seed": seed, "sandbox": sandbox},
        models=models,
        sets=sets,
    )
    started = time.monotonic()
    try:
        finished = session.run(listener)
        seconds = time.monotonic() - started
        used = [m.spec for m in session.ensemble.members]
        return measure(
            entry,
            seed,
            session.run_id,
            RunStatus(finished.status).value,
            session.store.programs(session.run_id),
            session.store.llm_calls(session.run_id),
            seconds,
            used,
        )
    finally:
        session.store.close()


def run_all(
    entries: Sequence[Entry],
    seeds: Sequence[int],
    run: Callable[[Entry, int], RunMeasure],
    done: Callable[[RunMeasure], None] = lambda m: None,
) -> list[RunMeasure]:
    """Every problem with every seed, in sequence (problem by problem)."""
    out = []
    for entry in entries:
        for seed in seeds:
            result = run(entry, seed)
            done(result)
            out.append(result)
    return out
