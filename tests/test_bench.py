"""``evolve bench`` and ``evolve problems`` over the real CLI: a model on loopback (a real
HTTP server speaking the OpenAI protocol), runs evaluated in the real sandbox and stored in
a real database; every figure of the report is checked against what the database holds."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from loopback import Exchange, Reply, serve

from evolve.benchmark.catalogue import Entry
from evolve.benchmark.measure import measure
from evolve.benchmark.report import summarize
from evolve.core.objective import Objective
from evolve.core.records import Candidate, LLMCall
from evolve.core.status import CandidateStatus
from evolve.store.store import Store, resolve_db_url

PROGRAM = "# EVOLVE-BLOCK-START\nVALUE = 1\n# EVOLVE-BLOCK-END\n"
EVALUATOR = """import runpy


def evaluate(program_path):
    value = float(runpy.run_path(program_path)["VALUE"])
    return {"score": value, "tenth": value / 10}
"""
_CURRENT = re.compile(r"# Current program.*?```python\n(.*?)```", re.DOTALL)
_VALUE = re.compile(r"VALUE = (\d+)")


def raise_by(step: int) -> Any:
    """A model that adds ``step`` to the current VALUE, but answers every third call with a
    diff that does not apply (an invalid proposal)."""

    def reply(ex: Exchange) -> Reply:
        current = _CURRENT.search(ex.prompt)
        found = _VALUE.search(current.group(1) if current else ex.prompt)
        value = int(found.group(1)) if found else 1
        seed = int(ex.body.get("seed") or 0)
        old = value if seed % 3 else -1
        return Reply(
            f"<<<<<<< SEARCH\nVALUE = {old}\n=======\nVALUE = {value + step}\n>>>>>>> REPLACE\n"
        )

    return reply


def problem(tmp_path: Path, url: str, name: str = "raise_value") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "initial.py").write_text(PROGRAM)
    (folder / "evaluator.py").write_text(EVALUATOR)
    (folder / "problem.toml").write_text(
        f'name = "{name}"\ninitial_program = "initial.py"\nprompt = "Make VALUE larger."\n'
        '[evaluator]\npath = "evaluator.py"\nprimary_metric = "score"\n'
        "[sandbox]\ntimeout = 20.0\n"
        "[llm]\nattempts = 1\n"
        f'[[llm.models]]\nname = "openai/loop"\nbase_url = "{url}/v1"\n'
        '[benchmark]\nbest_known = 3.0\nmetric = "tenth"\nsource = "made up"\n'
        'suites = ["mine"]\n'
    )
    return folder


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evolve.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "OPENAI_API_KEY": "sk-loopback"},
        timeout=300,
    )


def test_bench_measures_each_run_from_the_database(tmp_path: Path) -> None:
    db = str(tmp_path / "bench.db")
    with serve(raise_by(2)) as server:
        folder = problem(tmp_path, server.url)
        out = cli(
            tmp_path, "bench", str(folder), "-n", "6", "--seeds", "0", "1", "--db", db,
            "--save", "a.json", "--markdown", "a.md",
        )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "raise_value" in out.stdout and "best known" in out.stdout
    saved = json.loads((tmp_path / "a.json").read_text())
    assert saved["iterations"] == 6 and saved["seeds"] == [0, 1]
    assert [r["seed"] for r in saved["runs"]] == [0, 1]
    store = Store(resolve_db_url(db))
    try:
        for run in saved["runs"]:
            programs = store.programs(run["run_id"])
            calls = store.llm_calls(run["run_id"])
            children = [p for p in programs if p.iteration > 0]
            best = max((p for p in programs if p.ok), key=lambda p: p.score)
            assert run["proposals"] == len(children) == 6
            assert run["valid"] == sum(p.ok for p in children)
            assert 0 < run["valid"] < 6  # every third answer does not apply
            assert run["best"] == best.metrics["tenth"] > run["initial"] == 0.1  # quoted metric
            assert run["gap"] == pytest.approx(run["best"] - 3.0)  # maximize: short is negative
            assert run["calls_to_best"] == sum(c.iteration <= best.iteration for c in calls) > 0
    finally:
        store.close()
    report = (tmp_path / "a.md").read_text()
    assert report.startswith("## evolve bench:") and "| raise_value | tenth (max) |" in report


def test_compare_lines_up_two_results(tmp_path: Path) -> None:
    db = str(tmp_path / "bench.db")
    for step, name in ((1, "slow"), (50, "fast")):
        with serve(raise_by(step)) as server:
            (tmp_path / name).mkdir()
            folder = problem(tmp_path / name, server.url)
            out = cli(
                tmp_path, "bench", str(folder), "-n", "4", "--db", db, "--save", f"{name}.json"
            )
            assert out.returncode == 0, out.stderr
    out = cli(tmp_path, "bench", "--compare", "slow.json", "fast.json", "--json")
    assert out.returncode == 0, out.stderr
    (row,) = json.loads(out.stdout)
    assert row["problem"] == "raise_value" and row["runs A/B"] == "1/1"
    assert float(row["change"]) > 0  # B raised VALUE faster: positive means B is better


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["bench", "no_such_thing"], "'no_such_thing' is neither a suite"),
        (["bench"], "name a suite or problems"),
        (["bench", "--compare", "missing.json", "b.json"], "--compare missing.json: cannot read"),
        (["bench", "--compare", "bad.json", "bad.json"], "--compare bad.json: not JSON"),
        (["bench", "--compare", "other.json", "other.json"], "not an `evolve bench` result"),
        (["problems", "--suite", "nope"], "--suite nope: no such suite"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"runs": []}')
    out = cli(tmp_path, *args)
    assert out.returncode == 2, out.stderr
    assert needle in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_problems_lists_objective_best_known_and_suites(tmp_path: Path) -> None:
    out = cli(tmp_path, "problems", "--json")
    assert out.returncode == 0, out.stderr
    listed = {p["name"]: p for p in json.loads(out.stdout)}
    assert listed["circle_packing"]["objective"] == "maximize sum_radii"
    assert listed["circle_packing"]["best_known"] == pytest.approx(2.6359830849)
    assert "smoke" in listed["function_minimization"]["suites"]
    out = cli(tmp_path, "problems", "--suite", "smoke", "--json")
    assert all("smoke" in p["suites"] for p in json.loads(out.stdout))


def test_gap_follows_the_direction() -> None:
    """Minimizing, a best above the best known is short of it: a negative gap."""
    entry = Entry("m", Path("m"), "", Objective(maximize=False), "v", "v", 1.0, "", ())

    def cand(k: int, score: float | None) -> Candidate:
        status = CandidateStatus.OK if score is not None else CandidateStatus.INVALID
        metrics = {"v": score} if score is not None else {}
        return Candidate(f"{k}", "r", k, f"x = {k}", 0, k, status, score, metrics)

    programs = [cand(0, 4.0), cand(1, 2.5), cand(2, None), cand(3, 3.0)]
    calls = [LLMCall("r", k, "m", "p", "a", cost=0.5) for k in (1, 2, 3)]
    m = measure(entry, 0, "r", "completed", programs, calls, 1.0)
    assert (m.best, m.initial, m.gap) == (2.5, 4.0, -1.5)
    assert (m.proposals, m.valid, m.calls_to_best, m.cost_to_best) == (3, 2, 1, 0.5)
    (summary,) = summarize([m, measure(entry, 1, "s", "completed", programs[:1], [], 1.0)])
    assert summary.best == 2.5 and summary.runs == 2 and summary.gap == -1.5
