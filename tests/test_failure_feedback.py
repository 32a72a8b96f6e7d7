"""Failure feedback: a parent's failed children (the change and why it failed) reach the
next prompts drawn from it, a proposal's unusable answers reach its next attempt, and a
child certain to fail is asked again instead of evaluated. Driven through the search state,
the prompt builders, and a real run against a scripted model on loopback."""

from __future__ import annotations

import ast
import asyncio
import re
import uuid
from pathlib import Path

from loopback import Exchange, serve
from test_search import config, ensemble, initial

from evolve.code.versions import build_prompt
from evolve.config import MutationStyle
from evolve.core.objective import Objective
from evolve.core.records import Candidate
from evolve.core.status import CandidateStatus
from evolve.evaluation.executor import ProcessExecutor
from evolve.llm.ensemble import build_ensemble
from evolve.problem import load_problem
from evolve.prompts import chat_prompt
from evolve.search.failures import Failure
from evolve.search.runner import Runner
from evolve.search.search import Search
from evolve.store.store import Store, resolve_db_url

MIN = Objective(maximize=False)
SECRET = "sk-" + "a" * 24


def failed_child(k: int, parent: Candidate, status: CandidateStatus, reason: str) -> Candidate:
    code = f"x = {k}\n"
    return Candidate(
        id=uuid.uuid4().hex,
        run_id="r",
        iteration=k,
        code=code if status is not CandidateStatus.INVALID else parent.code,
        island=0,
        generation=1,
        status=status,
        reason=reason,
        parent_id=parent.id,
        diff=f"-x = 0\n+x = {k}\n" if status is not CandidateStatus.INVALID else "",
        artifacts={
            "traceback": f"Traceback (most recent call last):\n  line 3\nKeyError: {SECRET}\n"
        },
    )


def search_with(**llm: object) -> Search:
    cfg = config(40, islands=1)
    cfg = cfg.model_copy(update={"llm": cfg.llm.model_copy(update=llm)})
    s = Search(cfg, MIN, ensemble(), lag=1)
    return s


def test_failed_children_reach_the_next_draws_from_their_parent() -> None:
    s = search_with(failures=2)
    root = initial()
    s.start([root], [])
    reasons = {
        1: (CandidateStatus.ERROR, "KeyError in search"),
        2: (CandidateStatus.TIMEOUT, "timed out after 20 s"),
        3: (CandidateStatus.INVALID, "diff did not apply: SEARCH text not found"),
    }
    seen: dict[int, tuple[Failure, ...]] = {}
    for k in range(1, 6):
        draw = s.ask()
        assert draw is not None and draw.iteration == k
        assert draw.parent.id == root.id  # the only program: every child fails
        seen[k] = draw.failures
        status, reason = reasons.get(k, (CandidateStatus.DUPLICATE, "same code as #1"))
        s.tell(failed_child(k, root, status, reason))
    assert seen[1] == ()
    # lag 1: iteration k sees iterations up to k - 1.
    assert [f.iteration for f in seen[2]] == [1]
    first = seen[2][0]
    assert first.status == "error" and first.label == "failed when run"
    assert "KeyError in search" in first.reason and "KeyError: [redacted]" in first.reason
    assert SECRET not in first.reason
    assert first.diff == "-x = 0\n+x = 1\n" and first.code == "x = 1\n"
    # Bounded to the latest two, oldest first; an unusable answer has no change to show.
    assert [f.iteration for f in seen[4]] == [2, 3]
    assert seen[4][1].diff == "" and seen[4][1].code == ""
    assert [f.status for f in seen[5]] == ["invalid", "duplicate"]


def test_successes_add_nothing_and_zero_shows_nothing() -> None:
    s = search_with(failures=0)
    root = initial()
    s.start([root], [])
    draw = s.ask()
    s.tell(failed_child(1, root, CandidateStatus.ERROR, "boom"))
    assert s.ask().failures == ()
    s2 = search_with(failures=3)
    s2.start([root], [])
    d = s2.ask()
    ok = Candidate(
        id="ok", run_id="r", iteration=1, code="x = 2\n", island=0, generation=1,
        status=CandidateStatus.OK, score=1.0, parent_id=root.id, metrics={"score": 1.0},
    )  # fmt: skip
    s2.tell(ok)
    assert s2.ask().failures == ()
    assert draw is not None and d is not None


def test_a_resumed_search_shows_the_same_failures() -> None:
    root = initial()
    first = search_with(failures=3)
    first.start([root], [])
    told = []
    for k in range(1, 4):
        first.ask()
        c = failed_child(k, root, CandidateStatus.ERROR, f"error {k}")
        told.append(c)
        first.tell(c)
    after = first.ask()
    again = search_with(failures=3)
    again.start([root, *told], [])
    assert again.ask().failures == after.failures


def test_chat_prompt_lists_failures_with_their_change() -> None:
    root = initial()
    failures = (
        Failure(3, "error", "ValueError: x outside the bounds\n  line 9", "-a\n+b", "b"),
        Failure(4, "invalid", "the answer does not change the program"),
    )
    _, user = chat_prompt(
        "Task.", root, [], MutationStyle.DIFF, "python", "score", "minimize", failures=failures
    )
    section = user.split("# Earlier attempts to change this program that failed")[1]
    assert "ValueError: x outside the bounds" in section and "```diff\n-a\n+b\n```" in section
    assert "could not be used: the answer does not change the program" in section
    assert section.index("failed when run") < section.index("could not be used")
    assert user.index("# Earlier attempts") < user.index("# Your answer")
    _, plain = chat_prompt("Task.", root, [], MutationStyle.DIFF, "python", "score", "minimize")
    assert "Earlier attempts" not in plain


def test_completion_prompt_shows_failed_attempts_commented_out() -> None:
    parent = 'def f(x):\n    """Doc."""\n    return x + 1\n'
    failed = 'def f(x):\n    """Doc."""\n    y += 1\n    return y\n'
    prompt = build_prompt(
        "Task.",
        "",
        parent,
        [],
        "python",
        failed=[(failed, "UnboundLocalError: y\nmore"), ("", "no change")],
    )
    text = prompt.text
    assert "# An attempt at f_v1 that failed (UnboundLocalError: y):\n# def f_v1(x):\n" in text
    assert "#     y += 1\n" in text
    assert "# An attempt at f_v1 that failed (no change):\n" in text
    assert text.rstrip().endswith('"""Improved version of `f_v0`."""')
    # Still a valid program once the model writes a body.
    ast.parse(text + "    return x\n")


PROGRAM_RE = re.compile(r"# Current program.*?```python\n(.*?)```", re.DOTALL)


def answer(req: Exchange) -> str:
    """First a change that fails at run time; once the failure is shown, a good one; an
    attempt after an unusable answer answers a change the static checks refuse."""
    if "Earlier attempts" not in req.prompt:
        return (
            "<<<<<<< SEARCH\n    return best_x, best_y\n=======\n"
            "    raise RuntimeError('boom-4711')\n>>>>>>> REPLACE\n"
        )
    if "boom-4711" in req.prompt and "certain to fail" not in req.prompt:
        # Read before assignment: refused before evaluation, shown to the next attempt.
        return (
            "<<<<<<< SEARCH\n    low, high = bounds\n=======\n"
            "    low, high = bounds\n    total += 1\n>>>>>>> REPLACE\n"
        )
    return (
        "<<<<<<< SEARCH\n    for _ in range(100):\n=======\n"
        "    for _ in range(300):\n>>>>>>> REPLACE\n"
    )


def test_a_real_run_shows_errors_to_the_next_proposals(tmp_path: Path) -> None:
    with serve(answer) as server:
        problem = load_problem(
            "function_minimization",
            {
                "llm.models": [{"name": "openai/m", "base_url": f"{server.url}/v1"}],
                "llm.attempts": 2,
                "search.iterations": 4,
                "search.islands": 1,
                "search.max_in_flight": 1,
                "sandbox.parallel": 1,
                "search.exploration_ratio": 0.0,
                "search.exploitation_ratio": 0.0,
            },
        )
        store = Store(resolve_db_url(str(tmp_path / "evolve.db")))
        run_id = store.create_run(
            problem.name, str(problem.file), problem.config.model_dump(mode="json"), 0
        )
        executor = ProcessExecutor(problem.evaluator, problem.config.sandbox, "value", "python")
        runner = Runner(problem, store, executor, build_ensemble(problem.config.llm), run_id)
        asyncio.run(runner.run())
    programs = store.programs(run_id)
    calls = store.llm_calls(run_id)
    first = programs[1]
    assert first.status is CandidateStatus.ERROR and "boom-4711" in first.reason
    later = [c for c in calls if c.iteration > 2]
    assert later and all("boom-4711" in c.prompt for c in later)
    refused = [c for c in calls if "certain to fail" in c.outcome]
    assert refused and "reads 'total' before anything assigns it" in refused[0].outcome
    # The attempt after the refusal saw it, and its answer was evaluated and improved.
    nxt = [c for c in calls if c.iteration == refused[0].iteration and c.call_index == 1]
    assert nxt and "reads 'total'" in nxt[0].prompt
    assert any(p.ok and p.score < programs[0].score for p in programs[1:])


def run_with(tmp_path: Path, answer_fn, **settings: object):
    with serve(answer_fn) as server:
        problem = load_problem(
            "function_minimization",
            {
                "llm.models": [{"name": "openai/m", "base_url": f"{server.url}/v1"}],
                "search.islands": 1,
                "search.max_in_flight": 1,
                "sandbox.parallel": 1,
                "search.exploration_ratio": 0.0,
                "search.exploitation_ratio": 0.0,
                **settings,
            },
        )
        tmp_path.mkdir(parents=True, exist_ok=True)
        store = Store(resolve_db_url(str(tmp_path / "evolve.db")))
        run_id = store.create_run(
            problem.name, str(problem.file), problem.config.model_dump(mode="json"), 0
        )
        executor = ProcessExecutor(problem.evaluator, problem.config.sandbox, "value", "python")
        runner = Runner(problem, store, executor, build_ensemble(problem.config.llm), run_id)
        asyncio.run(runner.run())
    return store, run_id


def fixer(req: Exchange) -> str:
    """Breaks the program unless shown that it broke; then writes a working change."""
    if "boom-4711" not in req.prompt:
        return (
            "<<<<<<< SEARCH\n    return best_x, best_y\n=======\n"
            "    raise RuntimeError('boom-4711')\n>>>>>>> REPLACE\n"
        )
    return (
        "<<<<<<< SEARCH\n    for _ in range(100):\n=======\n"
        "    for _ in range(250):\n>>>>>>> REPLACE\n"
    )


def test_repair_sends_a_failed_child_back_once_and_evaluates_the_fix(tmp_path: Path) -> None:
    store, run_id = run_with(
        tmp_path, fixer, **{"llm.repair": True, "llm.attempts": 1, "search.iterations": 1}
    )
    programs = store.programs(run_id)
    fixed = programs[1]
    assert fixed.status is CandidateStatus.OK and fixed.score < programs[0].score
    assert "range(250)" in fixed.code and "boom" not in fixed.code
    assert "boom-4711" in fixed.artifacts["repair:first_reason"]
    assert "raise RuntimeError('boom-4711')" in fixed.artifacts["repair:first_diff"]
    calls = sorted(store.llm_calls(run_id), key=lambda c: c.call_index)
    assert [c.call_index for c in calls] == [0, 1]
    assert calls[0].outcome == "failed when run; sent back for repair"
    assert calls[1].outcome == "" and "boom-4711" in calls[1].prompt
    # Without repair the same model's first child stays failed.
    plain, plain_id = run_with(
        tmp_path / "plain", fixer, **{"llm.attempts": 1, "search.iterations": 1}
    )
    assert plain.programs(plain_id)[1].status is CandidateStatus.ERROR
    assert len(plain.llm_calls(plain_id)) == 1


def test_a_failed_repair_keeps_the_first_child_and_both_calls(tmp_path: Path) -> None:
    def stubborn(req: Exchange) -> str:
        return fixer(Exchange(req.protocol, req.model, req.system, "", req.body, req.headers))

    store, run_id = run_with(
        tmp_path, stubborn, **{"llm.repair": True, "llm.attempts": 1, "search.iterations": 1}
    )
    first = store.programs(run_id)[1]
    assert first.status is CandidateStatus.ERROR and "raise RuntimeError" in first.code
    calls = sorted(store.llm_calls(run_id), key=lambda c: c.call_index)
    assert len(calls) == 2 and calls[1].outcome == "repeats a program of this run"
