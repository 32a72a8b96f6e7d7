"""The Runner's logic: ordering and determinism, duplicates, islands, target, resume.

The model here is a scripted client whose answer depends only on the request (as a real
model's does on prompt and seed), with random delays, so that the engine's own logic is
tested without minutes of LLM time; `test_e2e_run.py` runs the real embedded model.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from evolve.config import MutationStyle
from evolve.core.status import CandidateStatus
from evolve.errors import UserError
from evolve.evaluation.executor import Evaluation, ProcessExecutor
from evolve.llm.base import LLMRequest, LLMResponse, ModelKind
from evolve.llm.ensemble import Ensemble, Member
from evolve.problem import Problem, load_problem
from evolve.search.runner import Runner
from evolve.store.reader import Reader
from evolve.store.store import Store, resolve_db_url

BODY = """    low, high = bounds
    best_x, best_y = rng.uniform(low, high), rng.uniform(low, high)
    best_value = objective(best_x, best_y)
    for _ in range({n}):
        x, y = rng.uniform(low, high), rng.uniform(low, high)
        value = objective(x, y)
        if value < best_value:
            best_x, best_y, best_value = x, y, value
    return best_x, best_y
"""


class ScriptedClient:
    """Answers from ``answer(request)``, after a random (unseeded) delay."""

    def __init__(self, answer: Callable[[LLMRequest], str], kind: ModelKind = ModelKind.BASE):
        self.spec = "scripted/test"
        self.kind = kind
        self.answer = answer
        self.calls = 0
        self.running = 0
        self.most = 0

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.calls += 1
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(random.random() * 0.05)
        finally:
            self.running -= 1
        return LLMResponse(text=self.answer(request), tokens_in=10, tokens_out=20, latency=0.01)


class CountingExecutor:
    def __init__(self, inner: ProcessExecutor) -> None:
        self.inner = inner
        self.codes: list[str] = []
        self.running = 0
        self.most = 0

    async def evaluate(self, code: str) -> Evaluation:
        self.codes.append(code)
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(random.random() * 0.05)
            return await self.inner.evaluate(code)
        finally:
            self.running -= 1


def completion_answer(request: LLMRequest) -> str:
    """A whole new body (drops any given prefix), varied by the request's seed."""
    n = 50 + (request.seed or 0) % 400
    return "\n" + BODY.format(n=n)


def _setup(
    tmp_path: Path, answer=completion_answer, style=MutationStyle.COMPLETION, **overrides
) -> tuple[Problem, Store, CountingExecutor, ScriptedClient, Ensemble]:
    settings = {"llm.continue_ratio": 0.0, "llm.attempts": 1, **overrides}
    problem = load_problem("function_minimization", settings)
    tmp_path.mkdir(parents=True, exist_ok=True)
    store = Store(resolve_db_url(str(tmp_path / "t.db")))
    executor = CountingExecutor(
        ProcessExecutor(problem.evaluator, problem.config.sandbox, "value", "python")
    )
    kind = ModelKind.BASE if style is MutationStyle.COMPLETION else ModelKind.CHAT
    client = ScriptedClient(answer, kind)
    member = Member("scripted/test", 1.0, style, (0.8,), 200, client)
    return problem, store, executor, client, Ensemble([member])


def _run(problem, store, executor, ensemble, run_id=None, events=None):
    if run_id is None:
        run_id = store.create_run(problem.name, str(problem.file), {}, problem.config.search.seed)
    listener = events.append if events is not None else None
    runner = Runner(problem, store, executor, ensemble, run_id, listener=listener)
    finished = asyncio.run(runner.run())
    return run_id, finished, runner


def _trace(store: Store, run_id: str) -> list[tuple]:
    programs = store.programs(run_id)
    by_id = {p.id: p for p in programs}
    return [
        (
            p.iteration,
            p.code_hash,
            p.status,
            p.score,
            p.island,
            by_id[p.parent_id].iteration if p.parent_id else None,
            tuple(by_id[i].iteration for i in p.inspiration_ids),
        )
        for p in programs
    ]


def test_same_seed_same_run_despite_random_timing(tmp_path: Path) -> None:
    traces = []
    for name in ("a", "b"):
        problem, store, executor, _, ensemble = _setup(
            tmp_path / name, **{"search.iterations": 12, "search.max_in_flight": 4}
        )
        run_id, finished, _ = _run(problem, store, executor, ensemble)
        assert finished.status == "completed"
        traces.append(_trace(store, run_id))
    assert traces[0] == traces[1]
    assert len(traces[0]) == 13


def test_other_seed_other_run(tmp_path: Path) -> None:
    traces = []
    for seed in (1, 2):
        problem, store, executor, _, ensemble = _setup(
            tmp_path / str(seed), **{"search.iterations": 6, "search.seed": seed}
        )
        run_id, _, _ = _run(problem, store, executor, ensemble)
        traces.append([t[1] for t in _trace(store, run_id)])
    assert traces[0] != traces[1]


def test_every_candidate_stored_with_lineage_and_calls(tmp_path: Path) -> None:
    problem, store, executor, client, ensemble = _setup(tmp_path, **{"search.iterations": 8})
    events: list = []
    run_id, finished, _ = _run(problem, store, executor, ensemble, events=events)
    programs = store.programs(run_id)
    assert [p.iteration for p in programs] == list(range(9))
    ids = {p.id for p in programs}
    for p in programs[1:]:
        assert p.parent_id in ids
        assert p.model == "scripted/test" and p.mutation == "completion"
        assert p.diff.startswith("--- parent")
        assert p.llm_seconds > 0 and p.engine_seconds >= 0
        if p.status is CandidateStatus.OK:
            assert p.cell is not None and p.eval_seconds > 0
    calls = store.llm_calls(run_id)
    assert len(calls) == client.calls == 8
    assert {c.program_id for c in calls} <= ids
    done = [e for e in events if type(e).__name__ == "CandidateDone"]
    assert [e.program.iteration for e in done] == list(range(1, 9))  # applied in order
    assert finished.best is not None
    assert store.run(run_id).status == "completed"


def test_duplicates_are_not_evaluated_twice(tmp_path: Path) -> None:
    same = "\n" + BODY.format(n=321)
    problem, store, executor, _, ensemble = _setup(
        tmp_path, answer=lambda _r: same, **{"search.iterations": 6}
    )
    run_id, _, _ = _run(problem, store, executor, ensemble)
    programs = store.programs(run_id)
    statuses = [p.status for p in programs[1:]]
    assert statuses.count(CandidateStatus.OK) == 1
    # once the child is known, every later proposal is either a duplicate of it or unchanged
    for p in programs[1:]:
        assert p.status in (CandidateStatus.OK, CandidateStatus.DUPLICATE) or (
            p.status is CandidateStatus.INVALID and "does not change" in p.reason
        )
    assert len(executor.codes) == len(set(executor.codes)) == 2  # initial + the one child
    first = next(p for p in programs if p.status is CandidateStatus.OK and p.iteration > 0)
    assert all(
        p.duplicate_of == first.id for p in programs if p.status is CandidateStatus.DUPLICATE
    )


def test_children_join_their_parents_island(tmp_path: Path) -> None:
    problem, store, executor, _, ensemble = _setup(
        tmp_path, **{"search.iterations": 10, "search.islands": 3, "search.migration_rate": 0.0}
    )
    run_id, _, runner = _run(problem, store, executor, ensemble)
    programs = {p.id: p for p in store.programs(run_id)}
    for p in programs.values():
        if p.iteration == 0:
            continue
        assert p.island == (p.iteration - 1) % 3
        parent = programs[p.parent_id]
        if parent.iteration > 0:
            assert parent.island == p.island
    for island in range(3):
        members = runner.search.archive.members[island].values()
        assert all(m.iteration == 0 or m.island == island for m in members)


def test_migration_moves_elites_between_islands(tmp_path: Path) -> None:
    problem, store, executor, _, ensemble = _setup(
        tmp_path,
        **{
            "search.iterations": 8,
            "search.islands": 2,
            "search.migration_interval": 2,
            "search.migration_rate": 1.0,
        },
    )
    _, _, runner = _run(problem, store, executor, ensemble)
    archive = runner.search.archive
    assert archive.migrations == 4
    foreign = [
        p
        for island in range(2)
        for p in archive.members[island].values()
        if p.iteration > 0 and p.island != island
    ]
    assert foreign, "some elites moved to the other island"
    for island in range(2):
        hashes = [p.code_hash for p in archive.members[island].values()]
        assert len(hashes) == len(set(hashes))


def test_target_score_stops_the_run(tmp_path: Path) -> None:
    problem, store, executor, client, ensemble = _setup(
        tmp_path, **{"search.iterations": 50, "search.target_score": 1000.0}
    )
    run_id, finished, _ = _run(problem, store, executor, ensemble)
    assert finished.status == "completed"
    assert "target" in finished.message
    assert client.calls == 0  # the initial program already meets a (minimize) target of 1000
    assert len(store.programs(run_id)) == 1


def test_resume_continues_and_rebuilds_the_archive(tmp_path: Path) -> None:
    problem, store, executor, _, ensemble = _setup(tmp_path, **{"search.iterations": 5})
    run_id, _, first = _run(problem, store, executor, ensemble)
    best_before = first.search.archive.best()
    problem2, _, executor2, _, ensemble2 = _setup(tmp_path, **{"search.iterations": 9})
    _, finished, second = _run(problem2, store, executor2, ensemble2, run_id=run_id)
    assert [p.iteration for p in store.programs(run_id)] == list(range(10))
    assert len(executor2.codes) <= 4  # only the new iterations were evaluated
    assert second.search.archive.best().score <= best_before.score  # minimize: never worse
    assert finished.done == 9


def test_chat_model_diffs_are_applied_and_bad_ones_rejected(tmp_path: Path) -> None:
    good = (
        "Use more samples.\n<<<<<<< SEARCH\n    for _ in range(100):\n=======\n"
        "    for _ in range(400):\n>>>>>>> REPLACE\n"
    )
    bad = "<<<<<<< SEARCH\n    for _ in range(7):\n=======\n    pass\n>>>>>>> REPLACE\n"
    outside = (
        "<<<<<<< SEARCH\n    rng = np.random.default_rng(seed)\n=======\n"
        "    rng = np.random.default_rng(0)\n>>>>>>> REPLACE\n"
    )
    answers = itertools.cycle([good, bad, outside])

    def answer(request: LLMRequest) -> str:
        assert "EVOLVE-BLOCK-START" in request.prompt and request.system
        return next(answers)

    problem, store, executor, _, ensemble = _setup(
        tmp_path, answer=answer, style=MutationStyle.DIFF, **{"search.iterations": 9}
    )
    run_id, _, _ = _run(problem, store, executor, ensemble)
    programs = store.programs(run_id)[1:]
    applied = [p for p in programs if p.status is CandidateStatus.OK]
    assert applied and all("range(400)" in p.code for p in applied)
    invalid = [p for p in programs if p.status is CandidateStatus.INVALID]
    reasons = " | ".join(p.reason for p in invalid)
    assert "block 1: SEARCH text not found" in reasons or "outside the EVOLVE-BLOCKs" in reasons
    for p in invalid:
        assert p.reason
        assert "np.random.default_rng(0)" not in p.code  # nothing outside the block changed


def test_failing_initial_program_is_a_user_error(tmp_path: Path) -> None:
    problem, store, executor, _, ensemble = _setup(tmp_path, **{"search.iterations": 3})
    broken = problem.initial_code.replace("return best_x, best_y", "return None")
    problem = Problem(
        problem.config, problem.file, broken, problem.language, problem.blocks, problem.evaluator
    )
    with pytest.raises(UserError, match="initial program fails"):
        _run(problem, store, executor, ensemble)
    run = Reader(store.url).run()  # the only run
    assert run.status == "failed"
    assert store.programs(run.id)[0].status is CandidateStatus.ERROR


def test_a_feature_that_is_no_metric_is_a_user_error(tmp_path: Path) -> None:
    problem, store, executor, client, ensemble = _setup(
        tmp_path, **{"search.iterations": 3, "features": [{"name": "distanse", "bins": 4}]}
    )
    with pytest.raises(UserError, match="'distanse' is neither a built-in descriptor"):
        _run(problem, store, executor, ensemble)
    assert client.calls == 0
    assert Reader(store.url).run().status == "failed"


def test_a_repeat_of_a_known_program_is_retried_not_evaluated(tmp_path: Path) -> None:
    counter = itertools.count()

    def answer(_request: LLMRequest) -> str:
        n = next(counter)
        return "\n" + BODY.format(n=321 if n % 2 == 0 else 1000 + n)

    problem, store, executor, client, ensemble = _setup(
        tmp_path,
        answer=answer,
        **{"search.iterations": 6, "search.max_in_flight": 1, "llm.attempts": 2},
    )
    run_id, _, _ = _run(problem, store, executor, ensemble)
    programs = store.programs(run_id)[1:]
    assert [p.status for p in programs] == [CandidateStatus.OK] * 6
    # calls alternate 321 and new: proposals 1 and 2 take one call each; from proposal 3 on
    # every first answer repeats 321 (known), so a second call is made
    assert client.calls == 10
    assert len(executor.codes) == len(set(executor.codes)) == 7


def test_evaluations_and_proposals_have_their_own_limits(tmp_path: Path) -> None:
    problem, store, executor, client, ensemble = _setup(
        tmp_path, **{"search.iterations": 16, "search.max_in_flight": 6, "sandbox.parallel": 2}
    )
    run_id, finished, _ = _run(problem, store, executor, ensemble)
    assert finished.status == "completed"
    assert executor.most == 2  # never more evaluations than sandbox.parallel
    assert client.most == 6  # while the models are kept busy up to max_in_flight
    assert len(store.programs(run_id)) == 17


def test_engine_time_counts_the_work_done_inside_a_proposal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Building the prompt and checking the answer are the engine's work, done between the
    model's calls: a candidate's recorded engine time includes them."""
    import time

    from evolve.asking import Asker

    build = Asker.ask

    def slow_prompt(self, *args, **kwargs):
        time.sleep(0.03)  # the engine busy building a prompt, as a long archive would make it
        return build(self, *args, **kwargs)

    monkeypatch.setattr(Asker, "ask", slow_prompt)
    problem, store, executor, _, ensemble = _setup(tmp_path, **{"search.iterations": 4})
    run_id, _, _ = _run(problem, store, executor, ensemble)
    children = store.programs(run_id)[1:]
    assert len(children) == 4
    assert all(p.engine_seconds >= 0.03 for p in children), [p.engine_seconds for p in children]
