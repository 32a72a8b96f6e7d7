"""The bandit learns over the real CLI: two chat models on loopback (a real HTTP server
speaking the OpenAI protocol), children evaluated in the real sandbox, 300 iterations.

``openai/useless`` answers a SEARCH/REPLACE diff that leaves the program as it is, so its
answer is never usable (it is asked again, ``llm.attempts``, and every call is a lesson for
the bandit); ``openai/useful`` always gives a valid, novel child, and one time in six (by
the call's seed) a better one. With improvements this rare, a bonus of fixed size used to
outweigh the rewards and keep the useless model at about 40 % of the calls; with the reward
crediting valid children a little and the exploration on the scale of the run's rewards, it
must fall under 10 % once the first 100 iterations are past, under ``ucb`` and
``thompson`` alike. The problem is a number to raise, so each evaluation is cheap.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_kit import evolve, write_problem
from loopback import Exchange, serve

from evolve.core.status import CandidateStatus
from evolve.store.store import Store, resolve_db_url

ITERATIONS = 300
LEARNED_BY = 100
"""Iterations after which the useless model must get under a tenth of the calls."""

PROGRAM = "# EVOLVE-BLOCK-START\nVALUE = 1\n# EVOLVE-BLOCK-END\n"
_CURRENT = re.compile(r"# Current program.*?```python\n(.*?)```", re.DOTALL)
_LINE = re.compile(r"^VALUE = (\d+).*$", re.MULTILINE)


def answer(ex: Exchange) -> str:
    """The useless model rewrites the VALUE line as it is; the useful one writes a new
    comment on it (a valid, novel child with its parent's score) or, when the call's seed is
    a multiple of 6, raises VALUE (a better child)."""
    current = _CURRENT.search(ex.prompt)
    found = _LINE.search(current.group(1) if current else ex.prompt)
    assert found is not None, ex.prompt
    line, value = found.group(0), int(found.group(1))
    seed = int(ex.body.get("seed") or 0)
    if ex.model == "useless":
        new = line
    elif seed % 6 == 0:
        new = f"VALUE = {value + 1 + seed % 1000}"
    else:
        new = f"VALUE = {value}  # variant {seed}"
    return f"Here is a change.\n<<<<<<< SEARCH\n{line}\n=======\n{new}\n>>>>>>> REPLACE\n"


def problem(tmp_path: Path, url: str, mode: str) -> Path:
    return write_problem(
        tmp_path / "problem",
        PROGRAM,
        "[sandbox]\ntimeout = 20.0\nparallel = 2\n"
        f"[search]\niterations = {ITERATIONS}\nmax_in_flight = 4\n"
        f'[llm]\nselection = "{mode}"\ntimeout = 10.0\nattempts = 2\n'
        f'[[llm.models]]\nname = "openai/useless"\nbase_url = "{url}/v1"\n'
        f'[[llm.models]]\nname = "openai/useful"\nbase_url = "{url}/v1"\n',
        number="VALUE",
    )


@pytest.mark.parametrize("mode", ["ucb", "thompson"])
def test_a_useless_model_falls_under_a_tenth_of_the_calls(tmp_path: Path, mode: str) -> None:
    db = str(tmp_path / "e.db")
    with serve(answer) as server:
        result = evolve(tmp_path, "run", str(problem(tmp_path, server.url, mode)), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "completed", out
    store = Store(resolve_db_url(db))
    run_id = out["run_id"]

    calls = store.llm_calls(run_id)
    assert not [c for c in calls if c.fault], "a loopback call failed"
    late = [c for c in calls if c.iteration > LEARNED_BY]
    useless = sum(1 for c in late if c.model == "openai/useless") / len(late)
    assert useless < 0.1, f"{mode}: the useless model got {useless:.1%} of the late calls"
    # It still had its chances: tried, and every one of its answers unusable.
    mine = [c for c in calls if c.model == "openai/useless"]
    assert mine and all(c.outcome for c in mine)

    # The useful model's children are valid, and beat their parents now and then.
    programs = store.programs(run_id)
    by_id = {p.id: p for p in programs}
    children = [p for p in programs[1:] if p.model == "openai/useful"]
    valid = [p for p in children if p.status is CandidateStatus.OK]
    better = [p for p in valid if p.score > by_id[p.parent_id].score]
    assert len(valid) >= 0.9 * len(children)
    assert 0.08 * len(valid) <= len(better) <= 0.3 * len(valid), (len(better), len(valid))
    state = store.run(run_id).selection
    assert state is not None and state["mode"] == mode
    useless_arm, useful_arm = state["arms"]
    assert useless_arm["reward"] == 0.0 and useful_arm["reward"] > 0.0
    print(
        f"{mode}: useless model {useless:.1%} of {len(late)} calls after iteration "
        f"{LEARNED_BY}; useful: {len(better)} better of {len(valid)} valid children"
    )
