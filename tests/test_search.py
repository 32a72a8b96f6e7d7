"""The search as a state you ask and tell, without asyncio, a sandbox or a database: what
each iteration is drawn from, the order results are applied in, deduplication claims, the
model selector's lessons, and resuming from stored candidates."""

from __future__ import annotations

import random
import uuid

import pytest

from evolve.config import MutationStyle, ProblemConfig
from evolve.core.objective import Objective
from evolve.core.records import Candidate, LLMCall
from evolve.core.status import CandidateStatus
from evolve.llm.ensemble import Ensemble, Member
from evolve.llm.selection import Selector
from evolve.problem import load_problem
from evolve.search.search import Search

MIN = Objective(maximize=False)


class NeverCalled:
    spec = "never/called"

    async def complete(self, request: object) -> object:
        raise AssertionError("the search never calls a model")


def ensemble(n: int = 1, mode: str = "fixed") -> Ensemble:
    members = [
        Member(f"model/{i}", 1.0, MutationStyle.DIFF, (0.7,), 100, NeverCalled())  # type: ignore[arg-type]
        for i in range(n)
    ]
    return Ensemble(members, Selector([1.0] * n, mode=mode))


def config(iterations: int = 40, **search: object) -> ProblemConfig:
    base = load_problem("function_minimization").config
    settings = {"iterations": iterations, "islands": 2, "migration_interval": 7, **search}
    return base.model_copy(update={"search": base.search.model_copy(update=settings)})


def initial() -> Candidate:
    return candidate(0, "x = 0\n", None, 0, score=10.0)


def candidate(
    k: int, code: str, parent: Candidate | None, island: int, score: float | None = None
) -> Candidate:
    status = CandidateStatus.OK if score is not None else CandidateStatus.INVALID
    return Candidate(
        id=uuid.uuid4().hex,
        run_id="r",
        iteration=k,
        code=code,
        island=island,
        generation=(parent.generation + 1) if parent else 0,
        status=status,
        score=score,
        parent_id=parent.id if parent else None,
        metrics={"score": score} if score is not None else {},
    )


def result_of(draw) -> Candidate:
    """What evaluating iteration k's child gives: a pure function of the draw, as a real
    model and evaluator are of the prompt and the code."""
    n = int(draw.parent.code.split("=")[1]) + 1 + draw.rng.randrange(5)
    if draw.iteration % 5 == 0:
        return candidate(draw.iteration, draw.parent.code, draw.parent, draw.island)  # invalid
    return candidate(draw.iteration, f"x = {n}\n", draw.parent, draw.island, score=10.0 / (n + 1))


def run(search: Search, shuffle: random.Random | None, in_flight: int = 4) -> list[tuple]:
    """Drive the search like a runner with ``in_flight`` slots; finished iterations are told
    in a random order. Returns what each iteration was drawn from, by iteration."""
    by_id: dict[str, int] = {}
    drawn: list[tuple] = []
    flying: list = []
    while True:
        while len(flying) < in_flight and (draw := search.ask()) is not None:
            flying.append(draw)
        if not flying:
            return sorted(drawn)
        pick = shuffle.randrange(len(flying)) if shuffle else 0
        draw = flying.pop(pick)
        by_id.setdefault(draw.parent.id, draw.parent.iteration)
        drawn.append(
            (
                draw.iteration,
                draw.island,
                draw.parent.iteration,
                tuple(p.iteration for p in draw.inspirations),
                draw.view,
            )
        )
        for applied in search.tell(result_of(draw)):
            by_id[applied.candidate.id] = applied.candidate.iteration


def fresh(iterations: int = 40, lag: int = 4, **search: object) -> Search:
    s = Search(config(iterations, **search), MIN, ensemble(), lag=lag)
    s.start([initial()], [])
    return s


def test_ask_waits_until_the_view_is_fixed() -> None:
    s = fresh(lag=2)
    first, second = s.ask(), s.ask()
    assert (first.iteration, second.iteration) == (1, 2)
    assert s.ask() is None  # iteration 3 must see iteration 1 applied
    assert s.tell(result_of(second)) == []  # 2 waits for 1: nothing applied yet
    assert s.ask() is None
    applied = s.tell(result_of(first))
    assert [a.candidate.iteration for a in applied] == [1, 2]
    assert s.ask().iteration == 3 and s.ask().iteration == 4 and s.ask() is None


def test_same_draws_whatever_order_results_come_in() -> None:
    ordered = run(fresh(), None)
    for seed in range(3):
        assert run(fresh(), random.Random(seed)) == ordered
    assert len(ordered) == 40 and [d[0] for d in ordered] == list(range(1, 41))
    assert all(view == k - 4 for k, *_, view in ordered)


def test_islands_round_robin_and_best_improves() -> None:
    s = fresh()
    drawn = run(s, random.Random(1))
    assert [d[1] for d in drawn[:4]] == [0, 1, 0, 1]
    assert s.best() is not None and s.best().score < 10.0
    assert s.reached(s.best().score) and not s.reached(s.best().score - 1)


def test_resume_from_stored_candidates_draws_the_same() -> None:
    """A search started from what a first one stored (with a gap: an iteration lost in
    flight) draws every later iteration exactly as the uninterrupted one did."""
    whole = fresh()
    whole_draws = run(whole, None)

    first = fresh()
    stored = [initial()]
    for _ in range(12):
        draw = first.ask()
        c = result_of(draw)
        first.tell(c)
        stored.append(c)
    lost = stored.pop(9)  # in flight when the process died
    resumed = Search(config(), MIN, ensemble(), lag=4)
    resumed.start(stored, [])
    assert resumed.applied == lost.iteration - 1
    redo = run(resumed, None)
    assert redo[0][0] == lost.iteration
    assert redo == [d for d in whole_draws if d[0] == lost.iteration or d[0] > 12]


def test_claims_decide_twins_in_iteration_order() -> None:
    s = fresh()
    assert s.claim(3, "h" * 64, "c3") is None
    assert s.claim(5, "h" * 64, "c5") == (3, "c3")
    assert s.earlier("h" * 64) == (3, "c3")
    assert s.claim(6, "g" * 64, "c6") is None


def test_known_only_within_the_view() -> None:
    s = fresh(lag=1)
    draw = s.ask()
    child = result_of(draw)
    s.tell(child)
    assert s.known(child.code_hash, view=child.iteration) == child.id
    assert s.known(child.code_hash, view=child.iteration - 1) is None


def test_bandit_learns_from_told_calls() -> None:
    """The model whose answers improve on their parents earns reward; the one whose answers
    are unusable earns none, so the bandit's draws shift to the first."""
    ens = ensemble(2, mode="ucb")
    s = Search(config(200), MIN, ens, lag=2)
    s.start([initial()], [])
    chosen: list[int] = []
    while (draw := s.ask()) is not None:
        good = draw.member.index == 0
        chosen.append(draw.member.index)
        c = (
            result_of(draw)
            if good
            else candidate(draw.iteration, draw.parent.code, draw.parent, draw.island)
        )
        call = LLMCall("r", draw.iteration, draw.member.spec, "p", "a", program_id=c.id,
                       outcome="" if good else "unusable")  # fmt: skip
        s.tell(c, [call])
    late = chosen[100:]
    assert late.count(0) > 0.7 * len(late), late.count(0)


def test_start_needs_the_initial_program() -> None:
    with pytest.raises(ValueError, match="initial"):
        Search(config(), MIN, ensemble(), lag=2).start([], [])
