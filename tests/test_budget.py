"""``--budget-usd`` over the real CLI: a priced model on loopback (a real HTTP server speaking
the OpenAI protocol), eight proposals in flight, children evaluated in the real sandbox.

The budget must be spent, not merely approached: the run goes on while the real spend leaves
room for another call, and ends within one call of the cap. The problem is a cheap one (a
number to raise) so that a couple of hundred candidates take seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from loopback import Exchange, Reply, serve

from evolve.config import MutationStyle
from evolve.core.records import LLMCall
from evolve.llm.ensemble import Member
from evolve.llm.pricing import Price
from evolve.spending import Budget, BudgetSpent
from evolve.store.store import Store, resolve_db_url

PROGRAM = "# EVOLVE-BLOCK-START\nVALUE = 1\n# EVOLVE-BLOCK-END\n"
EVALUATOR = """import runpy


def evaluate(program_path):
    return {"score": float(runpy.run_path(program_path)["VALUE"])}
"""
_CURRENT = re.compile(r"# Current program.*?```python\n(.*?)```", re.DOTALL)
_VALUE = re.compile(r"VALUE = (\d+)")


def answer(out_tokens: tuple[int, int]) -> Any:
    """A model that raises the current program's VALUE, reporting between ``out_tokens[0]``
    and ``out_tokens[1]`` completion tokens (varied by the call's seed, as answer lengths
    vary); its prompt tokens are the server's count of the prompt actually sent."""
    low, high = out_tokens

    def reply(ex: Exchange) -> Reply:
        current = _CURRENT.search(ex.prompt)
        found = _VALUE.search(current.group(1) if current else ex.prompt)
        value = int(found.group(1)) if found else 1
        seed = int(ex.body.get("seed") or 0)
        text = (
            f"<<<<<<< SEARCH\nVALUE = {value}\n=======\n"
            f"VALUE = {value + 1 + seed % 100_000}\n>>>>>>> REPLACE\n"
        )
        return Reply(text, tokens_out=low + seed % (high - low + 1))

    return reply


def priced_problem(
    tmp_path: Path, url: str, price_in: float, price_out: float, max_tokens: int
) -> Path:
    folder = tmp_path / "problem"
    folder.mkdir()
    (folder / "initial.py").write_text(PROGRAM)
    (folder / "evaluator.py").write_text(EVALUATOR)
    (folder / "problem.toml").write_text(
        'name = "raise_value"\ninitial_program = "initial.py"\n'
        'prompt = "Make VALUE larger."\n'
        '[evaluator]\npath = "evaluator.py"\nprimary_metric = "score"\n'
        'direction = "maximize"\n'
        "[sandbox]\ntimeout = 20.0\n"
        "[search]\niterations = 2000\nmax_in_flight = 8\n"
        f"[llm]\nmax_tokens = {max_tokens}\ntimeout = 10.0\n"
        "[[llm.models]]\n"
        f'name = "openai/frontier"\nbase_url = "{url}/v1"\n'
        f"price_in = {price_in}\nprice_out = {price_out}\n"
    )
    return folder


def run_cli(tmp_path: Path, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "evolve.cli.main", "run", *args, "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "OPENAI_API_KEY": "sk-loopback"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def answered(store: Store, run_id: str) -> list[LLMCall]:
    return [c for c in store.llm_calls(run_id) if not c.fault]


def test_eight_in_flight_spend_the_budget_not_a_first_guess_of_it(tmp_path: Path) -> None:
    # $15 / $75 per million tokens, answers of 200 to 400 tokens: about 2.5 cents a call, so
    # $5 is worth about 200 calls. The first guess (the whole max_tokens of 1024) is four
    # times a real call; eight such guesses in flight used to end the run at once.
    with serve(answer((200, 400)), latency=0.02) as server:
        folder = priced_problem(tmp_path, server.url, 15.0, 75.0, max_tokens=1024)
        db = str(tmp_path / "evolve.db")
        out = run_cli(tmp_path, str(folder), "--budget-usd", "5", "--db", db)
        most_at_once = server.max_in_flight

    assert out["status"] == "completed"
    assert out["message"].startswith("budget of $5 reached: spent $")
    store = Store(resolve_db_url(db))
    calls = answered(store, out["run_id"])
    dearest = max(c.cost for c in calls)
    assert out["spent_usd"] == pytest.approx(store.spent(out["run_id"]))
    assert out["spent_usd"] == pytest.approx(sum(c.cost for c in calls))
    assert out["candidates"] < 2000
    # Spent: at least 90 % of the budget (in fact within one call of it), never more than
    # the budget plus one call.
    assert 0.9 * 5 <= out["spent_usd"] <= 5 + dearest
    assert 5 - out["spent_usd"] < dearest
    assert len(calls) >= 0.9 * 5 / dearest
    assert most_at_once >= 4  # the budget did not serialise the run
    # The candidates kept are iterations 1..N without a gap: proposals the budget held back
    # were dropped before they called, to be redone by a resume.
    iterations = [p.iteration for p in store.programs(out["run_id"])]
    assert iterations == list(range(len(iterations)))


def test_a_dear_model_makes_every_call_that_fits_and_resume_spends_a_raised_budget(
    tmp_path: Path,
) -> None:
    # $100 / $400 per million: a call costs 7 to 9 cents; the first guess (the prompt plus
    # 512 tokens out) is over 20 cents, twice that for a proposal's two attempts, which is
    # nearly the whole $0.50 budget: it used to make one call and stop.
    with serve(answer((100, 200)), latency=0.02) as server:
        folder = priced_problem(tmp_path, server.url, 100.0, 400.0, max_tokens=512)
        db = str(tmp_path / "evolve.db")
        first = run_cli(tmp_path, str(folder), "--budget-usd", "0.5", "--db", db)
        store = Store(resolve_db_url(db))
        run_id = first["run_id"]
        calls = answered(store, run_id)
        made = len(server.requests)

        assert first["status"] == "completed" and "budget of $0.5 reached" in first["message"]
        dearest = max(c.cost for c in calls)
        assert len(calls) == made >= int(0.5 / dearest) >= 3
        assert 0.5 - dearest < first["spent_usd"] <= 0.5 + dearest
        assert first["spent_usd"] == pytest.approx(sum(c.cost for c in calls))

        # Resumed with the same budget: nothing fits, no call is made.
        same = run_cli(tmp_path, "--resume", run_id, "--budget-usd", "0.5", "--db", db)
        assert len(server.requests) == made
        assert same["status"] == "completed" and "budget of $0.5 reached" in same["message"]
        assert same["spent_usd"] == pytest.approx(first["spent_usd"])

        # Resumed with a higher budget: it goes on until that one is spent too.
        more = run_cli(tmp_path, "--resume", run_id, "--budget-usd", "1", "--db", db)
        calls = answered(store, run_id)
        dearest = max(c.cost for c in calls)
        assert len(server.requests) >= made + int(0.5 / dearest)
        assert more["status"] == "completed" and "budget of $1 reached" in more["message"]
        assert 1 - dearest < more["spent_usd"] <= 1 + dearest
        assert more["spent_usd"] == pytest.approx(store.spent(run_id))
        assert more["candidates"] > first["candidates"]


def test_held_back_proposals_go_in_iteration_order_as_calls_settle() -> None:
    # The gate itself, step by step: $1 / $10 per million tokens, a 400-character prompt
    # (100 tokens) and 100 tokens out: 0.11 cents a call, 0.22 held per proposal of two
    # attempts, against a budget of 0.5 cents.
    price = Price(1e-6, 1e-5)
    # The budget never calls the model: no client.
    member = Member("openai/m", 1.0, MutationStyle.DIFF, (0.8,), 100, None, price)  # type: ignore[arg-type]
    prompt = "x" * 400
    budget = Budget(0.005, attempts=2)

    async def scenario() -> list[str]:
        log: list[str] = []
        tabs = {k: budget.tab(k) for k in range(1, 7)}

        async def first_call(k: int) -> None:
            try:
                await tabs[k].call(member, prompt)
                log.append(f"{k} admitted for {tabs[k].allowed}")
            except BudgetSpent as exc:
                log.append(f"{k} refused: {exc}")

        def settle(k: int) -> None:
            tabs[k].answered(member, prompt, 100, 100, price.cost(100, 100))
            tabs[k].close()

        async def turn() -> None:
            for _ in range(3):
                await asyncio.sleep(0)

        await first_call(1)
        await first_call(2)  # both fit at once: 0.44 cents held
        waiting = [asyncio.create_task(first_call(k)) for k in (4, 3)]  # 3 arrives last
        await turn()
        assert log == ["1 admitted for 2", "2 admitted for 2"]
        settle(1)
        await turn()
        assert len(log) == 2  # 0.11 spent + 0.22 held + 0.22 asked > 0.5: still waiting
        settle(2)
        await turn()
        assert log[2:] == ["3 admitted for 2"]  # the lower iteration first
        settle(3)
        await turn()
        # Alone with 0.17 cents left: room for one answer, not two.
        assert log[3:] == ["4 admitted for 1"]
        await asyncio.gather(*waiting)
        late = [asyncio.create_task(first_call(k)) for k in (5, 6)]
        await turn()
        assert len(log) == 4  # 4 is in flight: 5 and 6 wait for its real cost
        settle(4)
        await asyncio.gather(*late)
        return log

    log = asyncio.run(scenario())
    assert log[4].startswith("5 refused: budget of $0.005 reached: spent $0.0044")
    assert log[5].startswith("6 refused: budget of $0.005")
    assert budget.closed and budget.spent == pytest.approx(0.0044)


def test_estimate_uses_the_ninetieth_percentile_of_answers_at_any_run_length() -> None:
    # $0 in, $1 per million out: the estimate is the expected completion length in µ$.
    price = Price(0.0, 1e-6)
    member = Member("openai/m", 1.0, MutationStyle.DIFF, (0.8,), 1000, None, price)  # type: ignore[arg-type]
    budget = Budget(1.0)
    assert budget.estimate(member, "x") == pytest.approx(1000e-6)  # nothing seen: max_tokens
    for tokens_out in range(1, 11):  # 1 .. 10: the 90th percentile is 9
        budget.observe(member.spec, "x", 1, tokens_out)
    assert budget.estimate(member, "x") == pytest.approx(9e-6)
    for _ in range(50_000):  # a long run of short answers moves it, and costs no memory
        budget.observe(member.spec, "x", 1, 2)
    assert budget.estimate(member, "x") == pytest.approx(2e-6)
    assert len(budget._usage[member.spec].outputs) == 10  # one count per distinct length
