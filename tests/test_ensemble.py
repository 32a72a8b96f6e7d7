"""The LLM ensemble over real HTTP on loopback: faults and fallbacks, the bandit, budgets,
outages, record and replay. The endpoints are ``loopback_server`` (OpenAI and Anthropic
protocols, scripted answers, injected faults); the clients are the real SDK code."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from loopback import Reply, serve
from scripted import bad_answer, good_answer

from evolve.core.status import CandidateStatus
from evolve.evaluation.executor import ProcessExecutor
from evolve.llm.base import Fault, LLMError, LLMRequest
from evolve.llm.ensemble import build_ensemble
from evolve.llm.providers import AnthropicChat, OpenAIChat
from evolve.problem import load_problem
from evolve.resources import bundled_problems
from evolve.search.runner import Runner
from evolve.store.store import Store, resolve_db_url

FAULT_KIND = {
    "429": "rate_limit",
    "500": "server",
    "hang": "timeout",
    "truncated": "malformed",
    "drop": "connection",
    "empty": "empty",
}
"""What each injected fault is recorded as."""

FAST_RETRIES = {"llm.retries": 2, "llm.backoff": 0.01, "llm.backoff_max": 0.05}


def model(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"name": f"openai/{name}", "base_url": f"{url}/v1", **extra}


def run_search(tmp_path: Path, models: list[dict[str, Any]], **overrides: Any):
    settings = {
        "llm.models": models,
        "llm.timeout": 2.0,
        "search.max_in_flight": 4,
        "llm.attempts": 1,
        **FAST_RETRIES,
        **overrides,
    }
    problem = load_problem("function_minimization", settings)
    tmp_path.mkdir(parents=True, exist_ok=True)
    store = Store(resolve_db_url(str(tmp_path / "evolve.db")))
    run_id = store.create_run(
        problem.name,
        str(problem.file),
        problem.config.model_dump(mode="json"),
        problem.config.search.seed,
    )
    executor = ProcessExecutor(problem.evaluator, problem.config.sandbox, "value", "python")
    runner = Runner(problem, store, executor, build_ensemble(problem.config.llm), run_id)
    finished = asyncio.run(runner.run())
    return store, run_id, finished


def trace(store: Store, run_id: str) -> list[tuple]:
    """Everything a replay must reproduce, per candidate."""
    programs = store.programs(run_id)
    by_id = {p.id: p for p in programs}
    return [
        (
            p.iteration,
            p.code,
            p.status.value,
            p.score,
            json.dumps(p.metrics, sort_keys=True),
            p.reason,
            p.island,
            p.generation,
            p.cell,
            by_id[p.parent_id].iteration if p.parent_id else None,
            tuple(by_id[i].iteration for i in p.inspiration_ids),
            p.model,
            p.selected_model,
            p.diff,
        )
        for p in programs
    ]


def evolve_cli(*args: str, cwd: Path, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "evolve.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", sorted(FAULT_KIND))
@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_each_fault_is_classified(fault: str, protocol: str) -> None:
    with serve(fault_rate=1.0, faults=(fault,), hang_seconds=5, retry_after="7") as server:
        if protocol == "openai":
            client: Any = OpenAIChat("openai/m", base_url=f"{server.url}/v1", timeout=0.5)
        else:
            client = AnthropicChat("anthropic/m", base_url=server.url, timeout=0.5)

        async def call() -> None:
            await client.complete(LLMRequest("hello"))

        with pytest.raises(LLMError) as info:
            asyncio.run(call())
    assert info.value.fault.value == FAULT_KIND[fault]
    assert info.value.fault.transient
    assert info.value.retry_after == (7.0 if fault == "429" else None)
    assert str(info.value).startswith(client.spec)


def test_refusals_and_auth_errors_are_not_retried(tmp_path: Path) -> None:
    with serve(lambda _req: Reply("I cannot help with that.", refusal=True)) as server:
        client = OpenAIChat("openai/m", base_url=f"{server.url}/v1", timeout=2)
        with pytest.raises(LLMError) as info:
            asyncio.run(client.complete(LLMRequest("hello")))
        assert info.value.fault is Fault.REFUSAL and not info.value.fault.transient
        anthropic = AnthropicChat("anthropic/m", base_url=server.url, timeout=2)
        with pytest.raises(LLMError) as info:
            asyncio.run(anthropic.complete(LLMRequest("hello")))
        assert info.value.fault is Fault.REFUSAL


def test_run_survives_30_percent_faults_with_retries_and_fallbacks(tmp_path: Path) -> None:
    faults = ("429", "500", "hang", "truncated", "drop", "empty")
    with (
        serve(good_answer, fault_rate=0.3, faults=faults, seed=1, hang_seconds=10) as flaky,
        serve(good_answer, fault_rate=0.3, faults=faults, seed=2, hang_seconds=10) as other,
    ):
        store, run_id, finished = run_search(
            tmp_path,
            [model("flaky", flaky.url, weight=3.0), model("other", other.url)],
            **{"search.iterations": 50, "llm.selection": "fixed", "llm.retries": 1},
        )
        injected = Counter(r.fault for r in flaky.requests + other.requests if r.fault)
    assert finished.status == "completed", finished.message
    programs = store.programs(run_id)
    assert len(programs) == 51
    calls = store.llm_calls(run_id)
    failed = [c for c in calls if c.fault]
    # Every injected fault is a recorded failed call, with its kind.
    assert len(failed) == sum(injected.values())
    kinds = Counter(c.fault for c in failed)
    assert kinds == Counter({FAULT_KIND[k]: n for k, n in injected.items()})
    assert len(kinds) >= 5
    assert all(c.error for c in failed)
    # Fallbacks: the chosen model kept failing and another one answered.
    fallbacks = [p for p in programs if p.selected_model and p.model != p.selected_model]
    assert fallbacks, "no proposal fell back to the other model"
    for p in fallbacks:
        mine = [c for c in calls if c.program_id == p.id]
        assert [c.model for c in mine if c.fault][:2] == [p.selected_model] * 2
        assert mine[-1].model == p.model
    valid = [p for p in programs[1:] if p.status is CandidateStatus.OK]
    assert len(valid) >= 40
    assert finished.best is not None and finished.best.score < programs[0].score


def test_outage_stops_the_run_cleanly_and_resume_finishes_it(tmp_path: Path) -> None:
    with serve(good_answer, fault_rate=1.0, faults=("500",)) as down:
        store, run_id, finished = run_search(
            tmp_path,
            [model("down", down.url)],
            **{
                "search.iterations": 6,
                "llm.outage_seconds": 0.5,
                "llm.retries": 3,
                # Backoffs of at least 0.1 + 0.2 + 0.4 s: past the outage limit, whatever
                # the machine's speed.
                "llm.backoff": 0.2,
                "llm.backoff_max": 5.0,
            },
        )
        assert finished.status == "interrupted"
        assert "every model has failed" in finished.message
        assert store.run(run_id).status == "interrupted"
        kept = store.programs(run_id)
        # Calls of abandoned proposals are kept (they happened), attached to no candidate.
        assert any(c.program_id is None for c in store.llm_calls(run_id))
        down.fault_rate = 0.0
        result = evolve_cli(
            "run", "--resume", run_id, "--db", str(tmp_path / "evolve.db"), "--json", cwd=tmp_path
        )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "completed"
    programs = store.programs(run_id)
    assert [p.iteration for p in programs] == list(range(7))
    assert {p.id for p in kept} <= {p.id for p in programs}


# --- the bandit -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["ucb", "thompson"])
def test_bandit_moves_choices_to_the_model_that_improves(tmp_path: Path, mode: str) -> None:
    with serve(bad_answer) as weak, serve(good_answer) as strong:
        store, run_id, finished = run_search(
            tmp_path,
            [model("weak", weak.url), model("strong", strong.url)],
            **{"search.iterations": 40, "search.max_in_flight": 2, "llm.selection": mode},
        )
    assert finished.status == "completed"
    chosen = [p.selected_model for p in store.programs(run_id)[1:]]
    late = chosen[20:]
    assert late.count("openai/strong") >= 14, chosen
    state = store.run(run_id).selection
    assert state is not None and state["mode"] == mode
    weak_arm, strong_arm = state["arms"]
    assert strong_arm["calls"] > weak_arm["calls"]
    assert strong_arm["reward"] > weak_arm["reward"]


def test_fixed_weights_keep_their_shares(tmp_path: Path) -> None:
    with serve(bad_answer) as weak, serve(good_answer) as strong:
        store, run_id, _ = run_search(
            tmp_path,
            [model("weak", weak.url, weight=1.0), model("strong", strong.url, weight=1.0)],
            **{"search.iterations": 30, "llm.selection": "fixed"},
        )
    chosen = [p.selected_model for p in store.programs(run_id)[1:]]
    assert 8 <= chosen.count("openai/weak") <= 22


# --- budget ---------------------------------------------------------------------------------


def problem_with_models(tmp_path: Path, models: list[dict[str, Any]]) -> Path:
    """A copy of function_minimization whose [llm] section lists ``models``."""
    folder = tmp_path / "problem"
    shutil.copytree(bundled_problems()["function_minimization"], folder)
    lines = []
    for m in models:
        lines.append("\n[[llm.models]]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in m.items())
    with open(folder / "problem.toml", "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return folder


def test_budget_stops_within_one_proposal_of_the_cap(tmp_path: Path) -> None:
    def priced(req):
        return Reply(good_answer(req), tokens_in=1000, tokens_out=500)

    # 1 USD per Mtok in, 10 per Mtok out: each call costs 0.001 + 0.005 = 0.006 USD.
    with serve(priced) as server:
        folder = problem_with_models(
            tmp_path, [model("priced", server.url, price_in=1.0, price_out=10.0)]
        )
        result = evolve_cli(
            "run",
            str(folder),
            "--iterations",
            "100",
            "--budget-usd",
            "0.05",
            "--db",
            str(tmp_path / "evolve.db"),
            "--json",
            cwd=tmp_path,
        )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "completed" and "budget" in out["message"]
    store = Store(resolve_db_url(str(tmp_path / "evolve.db")))
    proposal_costs = [p.cost for p in store.programs(out["run_id"])[1:]]
    assert out["spent_usd"] == pytest.approx(sum(proposal_costs))
    assert out["spent_usd"] == pytest.approx(store.spent(out["run_id"]))
    assert 0.05 - max(proposal_costs) <= out["spent_usd"] <= 0.05 + max(proposal_costs)
    assert len(proposal_costs) < 100


def test_budget_needs_a_known_price(tmp_path: Path) -> None:
    folder = problem_with_models(tmp_path, [model("mystery", "http://127.0.0.1:9")])
    result = evolve_cli("run", str(folder), "--budget-usd", "1", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "price_in" in result.stderr


# --- record and replay ----------------------------------------------------------------------


def test_replay_reproduces_the_run_byte_for_byte_without_the_models(tmp_path: Path) -> None:
    with serve(good_answer, fault_rate=0.25, seed=5) as a, serve(bad_answer) as b:
        store, run_id, finished = run_search(
            tmp_path,
            [model("a", a.url), model("b", b.url)],
            **{"search.iterations": 16, "llm.retries": 1, "llm.attempts": 2},
        )
    assert finished.status == "completed"
    # The servers are gone: a replay that called a model would fail.
    result = evolve_cli(
        "run", "--replay", run_id, "--db", str(tmp_path / "evolve.db"), "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    replayed = out["run_id"]
    assert replayed != run_id and store.run(replayed).origin == f"replay:{run_id}"
    assert trace(store, replayed) == trace(store, run_id)
    original = [
        (c.iteration, c.call_index, c.model, c.prompt, c.response, c.fault)
        for c in store.llm_calls(run_id)
    ]
    again = [
        (c.iteration, c.call_index, c.model, c.prompt, c.response, c.fault)
        for c in store.llm_calls(replayed)
    ]
    assert sorted(again) == sorted(original)
    assert store.run(replayed).selection == store.run(run_id).selection


def test_fork_continues_a_run_from_an_iteration(tmp_path: Path) -> None:
    with serve(good_answer) as server:
        store, run_id, _ = run_search(
            tmp_path, [model("a", server.url)], **{"search.iterations": 8}
        )
        result = evolve_cli(
            "run",
            "--fork",
            run_id,
            "--at",
            "5",
            "--iterations",
            "10",
            "--db",
            str(tmp_path / "evolve.db"),
            "--json",
            cwd=tmp_path,
            env={"OPENAI_API_KEY": "x"},
        )
    assert result.returncode == 0, result.stderr
    fork = json.loads(result.stdout)["run_id"]
    original, forked = trace(store, run_id), trace(store, fork)
    assert len(forked) == 11
    assert forked[:5] == original[:5]
    assert store.run(fork).origin == f"fork:{run_id}:5"


# --- resume, keys, models -------------------------------------------------------------------


def test_resume_restores_the_bandit_exactly(tmp_path: Path) -> None:
    with serve(bad_answer) as weak, serve(good_answer) as strong:
        models = [model("weak", weak.url), model("strong", strong.url)]
        straight, straight_id, _ = run_search(tmp_path / "a", models, **{"search.iterations": 20})
        halves, halves_id, _ = run_search(tmp_path / "b", models, **{"search.iterations": 10})
        result = evolve_cli(
            "run",
            "--resume",
            halves_id,
            "--iterations",
            "20",
            "--db",
            str(tmp_path / "b" / "evolve.db"),
            "--json",
            cwd=tmp_path,
        )
    assert result.returncode == 0, result.stderr
    assert trace(halves, halves_id) == trace(straight, straight_id)
    assert halves.run(halves_id).selection == straight.run(straight_id).selection


def test_missing_litellm_key_is_one_line_before_the_run(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MISTRAL_API_KEY"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "evolve.cli.main",
            "run",
            "function_minimization",
            "--model",
            "litellm/mistral/mistral-large-latest",
            "--db",
            str(tmp_path / "x.db"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "MISTRAL_API_KEY" in result.stderr
    assert not (tmp_path / "x.db").exists() or "Traceback" not in result.stderr


def test_models_command_reports_usability_and_pings(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "evolve.cli.main",
            "models",
            "-m",
            "openai/gpt-4.1-mini",
            "-m",
            "local/gemma-3-270m",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    remote, local = json.loads(result.stdout)
    assert remote["usable"] is False and "OPENAI_API_KEY" in remote["detail"]
    assert remote["price_known"] and remote["price_in"] > 0
    assert local["usable"] is True and local["price_in"] == 0
    with serve(lambda _req: "OK") as server:
        folder = problem_with_models(tmp_path, [model("served", server.url)])
        result = evolve_cli("models", str(folder), "--ping", "--json", cwd=tmp_path, env=env)
        assert server.requests, "no call was made"
    assert result.returncode == 0, result.stderr
    [served] = json.loads(result.stdout)
    assert served["usable"] is True and "OK" in served["detail"]


def test_rejected_credentials_stop_the_run_at_once(tmp_path: Path) -> None:
    with serve(good_answer, fault_rate=1.0, faults=("401",)) as server:
        store, run_id, finished = run_search(
            tmp_path, [model("a", server.url)], **{"search.iterations": 10}
        )
    assert finished.status == "interrupted"
    assert "refused its credentials" in finished.message
    assert len(server.requests) <= 4  # no retries of an auth error, no spent iterations
    assert len(store.programs(run_id)) == 1
    assert all(c.fault == "auth" for c in store.llm_calls(run_id))


def test_a_short_outage_spends_no_iteration(tmp_path: Path) -> None:
    import threading

    with serve(good_answer, fault_rate=1.0, faults=("500",)) as server:
        threading.Timer(1.5, lambda: setattr(server, "fault_rate", 0.0)).start()
        store, run_id, finished = run_search(
            tmp_path,
            [model("a", server.url)],
            **{"search.iterations": 6, "llm.backoff": 0.05, "llm.backoff_max": 0.2},
        )
    assert finished.status == "completed"
    programs = store.programs(run_id)
    assert len(programs) == 7
    assert not [p for p in programs if p.status is CandidateStatus.INVALID], [
        p.reason for p in programs
    ]
    assert sum(1 for c in store.llm_calls(run_id) if c.fault == "server") >= 4
