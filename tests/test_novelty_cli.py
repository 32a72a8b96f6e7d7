"""Novelty over the real CLI with a model on loopback: a child too similar to a program on its
island is stored as ``similar`` with its nearest neighbour and never evaluated (or, with
``action = "reask"``, asked for again), an LLM judge decides the borderline ones, the model
selector counts every such call, and ``--replay`` decides exactly as the run did."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cli_kit import evolve as run_cli
from cli_kit import write_problem
from loopback import Exchange, serve

from evolve.core.status import CandidateStatus
from evolve.store.store import Store, resolve_db_url

PROGRAM = (
    "# EVOLVE-BLOCK-START\n"
    "def value():\n"
    "    total = 0\n"
    "    for step in range(STEPS):\n"
    "        total += step\n"
    "    return total\n"
    "STEPS = 3\n"
    "# EVOLVE-BLOCK-END\n"
)
EVALUATOR = """import runpy


def evaluate(program_path):
    return {"score": float(runpy.run_path(program_path)["value"]())}
"""
_CURRENT = re.compile(r"# Current program.*?```python\n(.*?)```", re.DOTALL)
_STEPS = re.compile(r"^STEPS = (\d+).*$", re.MULTILINE)


def answer(ex: Exchange) -> str:
    """The judge always says "no, the same idea". The proposer's model answers a comment
    on the STEPS line (the same program to the lexical measure) when its seed is odd and it
    has not been told that was too similar; otherwise it raises STEPS (a new program)."""
    if ex.model == "judge":
        return "No. Both sum the same range; only a constant differs."
    current = _CURRENT.search(ex.prompt)
    found = _STEPS.search(current.group(1) if current else ex.prompt)
    assert found is not None, ex.prompt
    line, steps = found.group(0), int(found.group(1))
    seed = int(ex.body.get("seed") or 0)
    if seed % 2 and "too similar" not in ex.prompt:
        new = f"STEPS = {steps}  # same loop, note {seed}"
    else:
        new = f"STEPS = {steps + 1 + seed % 7}"
    return f"<<<<<<< SEARCH\n{line}\n=======\n{new}\n>>>>>>> REPLACE\n"


def problem(tmp_path: Path, url: str, novelty: str, attempts: int = 1) -> Path:
    return write_problem(
        tmp_path / "problem",
        PROGRAM,
        "[sandbox]\ntimeout = 20.0\nparallel = 2\n"
        "[search]\niterations = 16\nmax_in_flight = 2\nislands = 1\n"
        f'[llm]\ntimeout = 10.0\nattempts = {attempts}\nselection = "ucb"\n'
        f'[[llm.models]]\nname = "openai/writer"\nbase_url = "{url}/v1"\n'
        f"[novelty]\nenabled = true\n{novelty}\n",
        evaluator=EVALUATOR,
    )


def evolve(tmp_path: Path, *args: str) -> dict:
    result = run_cli(tmp_path, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_similar_children_are_stored_with_their_neighbour_and_not_evaluated(
    tmp_path: Path,
) -> None:
    with serve(answer) as server:
        out = evolve(tmp_path, "run", str(problem(tmp_path, server.url, "threshold = 0.95")))
    store = Store(resolve_db_url(str(tmp_path / "e.db")))
    run_id = out["run_id"]
    programs = store.programs(run_id)
    by_id = {p.id: p for p in programs}
    similar = [p for p in programs if p.status is CandidateStatus.SIMILAR]
    novel = [p for p in programs[1:] if p.status is CandidateStatus.OK]
    assert similar and novel
    for p in similar:
        neighbour = by_id[p.duplicate_of]  # type: ignore[index]
        assert neighbour.iteration < p.iteration and neighbour.ok
        assert p.reason.startswith(f"too similar to #{neighbour.iteration} (lexical similarity")
        assert p.score is None and p.eval_seconds == 0.0 and "# same loop" in p.code
    calls = store.llm_calls(run_id)
    rejected = [c for c in calls if c.outcome.startswith("too similar to #")]
    assert len(rejected) == len(similar)
    # Every call, the rejected ones included, is a lesson for the model selector.
    state = store.run(run_id).selection
    assert state is not None and state["arms"][0]["calls"] == len(calls)
    # The record says what the novelty check decided: a replay decides the same, measuring
    # nothing (the server is gone).
    again = evolve(tmp_path, "run", "--replay", run_id)
    replayed = store.programs(again["run_id"])
    assert [(p.iteration, p.status, p.score, p.code) for p in replayed] == [
        (p.iteration, p.status, p.score, p.code) for p in programs
    ]
    shown = run_cli(tmp_path, "show", similar[0].id[:10])
    assert shown.returncode == 0 and "similar" in shown.stdout and "too similar" in shown.stdout


def test_reask_asks_again_and_the_next_answer_is_evaluated(tmp_path: Path) -> None:
    with serve(answer) as server:
        folder = problem(tmp_path, server.url, 'threshold = 0.95\naction = "reask"', attempts=2)
        out = evolve(tmp_path, "run", str(folder))
    store = Store(resolve_db_url(str(tmp_path / "e.db")))
    programs = store.programs(out["run_id"])
    calls = store.llm_calls(out["run_id"])
    asked_again = [c for c in calls if c.outcome.startswith("too similar to #")]
    assert asked_again
    for c in asked_again:
        nxt = [d for d in calls if d.iteration == c.iteration and d.call_index == c.call_index + 1]
        assert nxt and "too similar" in nxt[0].prompt and not nxt[0].outcome
        # Evaluated (or, as the twin of a candidate in flight, its duplicate).
        assert programs[c.iteration].status in (CandidateStatus.OK, CandidateStatus.DUPLICATE)
    assert any(programs[c.iteration].status is CandidateStatus.OK for c in asked_again)
    assert not [p for p in programs if p.status is CandidateStatus.SIMILAR]


def test_a_judge_decides_the_borderline_children(tmp_path: Path) -> None:
    settings = (
        'threshold = 0.99\njudge_band = 0.9\njudge_model = "openai/judge"\n'
        'judge_base_url = "{url}/v1"'
    )
    with serve(answer) as server:
        folder = problem(tmp_path, server.url, settings.replace("{url}", server.url))
        out = evolve(tmp_path, "run", str(folder))
    store = Store(resolve_db_url(str(tmp_path / "e.db")))
    run_id = out["run_id"]
    programs = store.programs(run_id)
    calls = store.llm_calls(run_id)
    judged = [c for c in calls if c.model == "openai/judge"]
    assert judged and all(c.outcome.startswith("novelty judge: the same idea as #") for c in judged)
    # Said "the same idea": every judged child is rejected, with the judge's word in it.
    for c in judged:
        child = programs[c.iteration]
        assert child.status is CandidateStatus.SIMILAR
        assert child.reason.endswith("judged the same idea)")
    again = evolve(tmp_path, "run", "--replay", run_id)
    replayed = store.programs(again["run_id"])
    assert [(p.iteration, p.status) for p in replayed] == [
        (p.iteration, p.status) for p in programs
    ]
    assert len([c for c in store.llm_calls(again["run_id"]) if c.model == "openai/judge"]) == len(
        judged
    )
