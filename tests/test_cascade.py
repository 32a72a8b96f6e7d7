"""Evaluation cascades: cheap stages first, the full evaluator only for candidates that pass.

Every stage really runs in the sandbox, in a process of its own with its own timeout; the
stage reached is stored with the candidate.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from evolve.core.status import Verdict
from evolve.errors import UserError
from evolve.evaluation.executor import build_executor
from evolve.problem import load_problem

EVALUATOR = """
import json, os, runpy, time

def _value(path):
    return runpy.run_path(path)["VALUE"]

def quick(program_path):
    print("quick ran")
    ns = runpy.run_path(program_path)
    if ns.get("SLOW_QUICK"):
        time.sleep(30)
    return {"score": float(ns["VALUE"]), "quick_only": 1.0}

def medium(program_path):
    ns = runpy.run_path(program_path)
    if ns.get("BREAK_MEDIUM"):
        raise RuntimeError("medium stage broke")
    return {"score": float(ns["VALUE"]) * 2}

def evaluate(program_path):
    ns = runpy.run_path(program_path)
    if ns.get("SLOW_FULL"):
        time.sleep(30)
    return {"score": float(ns["VALUE"]) * 10, "full": 1.0}
"""

PROGRAM = "# EVOLVE-BLOCK-START\nVALUE = {value}\n{extra}\n# EVOLVE-BLOCK-END\n"


def _problem(
    tmp_path: Path, stages: str, direction: str = "maximize", timeout: float = 20.0
) -> Path:
    (tmp_path / "evaluator.py").write_text(EVALUATOR)
    (tmp_path / "initial.py").write_text(PROGRAM.format(value=1, extra=""))
    (tmp_path / "problem.toml").write_text(
        'name = "cascade"\ninitial_program = "initial.py"\n'
        f'[evaluator]\npath = "evaluator.py"\nprimary_metric = "score"\ndirection = "{direction}"\n'
        f"{stages}\n[sandbox]\ntimeout = {timeout}\n"
    )
    return tmp_path


TWO_STAGES = """
[[evaluator.stages]]
function = "quick"
timeout = 3.0
threshold = 0.5

[[evaluator.stages]]
function = "medium"
threshold = 4.0
"""


def _evaluate(folder: Path, value: float, extra: str = ""):
    executor = build_executor(load_problem(str(folder)))
    code = PROGRAM.format(value=value, extra=extra)
    return asyncio.run(executor.evaluate(code))


def test_candidate_passing_every_stage_gets_the_full_score(tmp_path: Path) -> None:
    result = _evaluate(_problem(tmp_path, TWO_STAGES), 3)
    assert result.status is Verdict.OK
    assert result.score == 30.0 and result.stage == 3
    # metrics of every stage are kept, the full evaluator's win where names clash
    assert result.metrics == {"score": 30.0, "quick_only": 1.0, "full": 1.0}
    assert result.artifacts["stage1:stdout"].strip() == "quick ran"


def test_first_threshold_stops_the_cascade(tmp_path: Path) -> None:
    result = _evaluate(_problem(tmp_path, TWO_STAGES), 0.25)
    assert result.status is Verdict.FILTERED and result.score is None
    assert result.stage == 1
    assert "stage 1 (quick)" in result.reason and "threshold 0.5" in result.reason
    assert "full" not in result.metrics and result.metrics["score"] == 0.25


def test_second_threshold_stops_the_cascade(tmp_path: Path) -> None:
    result = _evaluate(_problem(tmp_path, TWO_STAGES), 1)  # quick 1 >= 0.5, medium 2 < 4
    assert result.status is Verdict.FILTERED and result.stage == 2
    assert "stage 2 (medium)" in result.reason


def test_minimizing_thresholds_are_upper_bounds(tmp_path: Path) -> None:
    stages = '[[evaluator.stages]]\nfunction = "quick"\nthreshold = 0.5\n'
    folder = _problem(tmp_path, stages, direction="minimize")
    assert _evaluate(folder, 0.25).status is Verdict.OK
    assert _evaluate(folder, 0.75).status is Verdict.FILTERED


def test_stage_failure_is_the_candidates_failure(tmp_path: Path) -> None:
    result = _evaluate(_problem(tmp_path, TWO_STAGES), 3, "BREAK_MEDIUM = True")
    assert result.status is Verdict.ERROR and result.stage == 2
    assert result.reason.startswith("stage 2: RuntimeError: medium stage broke")
    assert "medium stage broke" in result.artifacts["stage2:traceback"]


def test_each_stage_has_its_own_timeout(tmp_path: Path) -> None:
    result = _evaluate(_problem(tmp_path, TWO_STAGES), 3, "SLOW_QUICK = True")
    assert result.status is Verdict.TIMEOUT and result.stage == 1
    assert result.seconds < 15  # the quick stage's 3 s, not the sandbox's 20 s
    slow_full = _evaluate(_problem(tmp_path, TWO_STAGES, timeout=2.0), 3, "SLOW_FULL = True")
    assert slow_full.status is Verdict.TIMEOUT and slow_full.stage == 3


def test_stage_without_threshold_only_needs_to_run(tmp_path: Path) -> None:
    stages = '[[evaluator.stages]]\nfunction = "medium"\n'
    folder = _problem(tmp_path, stages)
    assert _evaluate(folder, -100).status is Verdict.OK
    broken = _evaluate(folder, 1, "BREAK_MEDIUM = True")
    assert broken.status is Verdict.ERROR and broken.stage == 1


def test_no_stages_means_one_stage(tmp_path: Path) -> None:
    result = _evaluate(_problem(tmp_path, ""), 2)
    assert result.status is Verdict.OK and result.score == 20.0 and result.stage == 1
    assert "stage1:stdout" not in result.artifacts


@pytest.mark.parametrize(
    ("stages", "needle"),
    [
        ("[[evaluator.stages]]\nthreshold = 1.0\n", "function"),
        ('[[evaluator.stages]]\nfunction = "quick"\nthreshold = "high"\n', "threshold"),
        ('[[evaluator.stages]]\nfunction = "quick"\ntimeout = -1\n', "timeout"),
        ('[[evaluator.stages]]\nfunction = "quick"\nthresold = 1.0\n', "thresold"),
    ],
)
def test_bad_stage_tables_are_one_clear_error(tmp_path: Path, stages: str, needle: str) -> None:
    with pytest.raises(UserError) as info:
        load_problem(str(_problem(tmp_path, stages)))
    message = str(info.value)
    assert "problem.toml" in message and needle in message and "\n" not in message


def test_missing_stage_function_is_an_evaluator_error(tmp_path: Path) -> None:
    stages = '[[evaluator.stages]]\nfunction = "nope"\n'
    result = _evaluate(_problem(tmp_path, stages), 1)
    assert result.status is Verdict.EVALUATOR_ERROR and "nope" in result.reason


def test_eval_command_reports_the_stage(tmp_path: Path) -> None:
    folder = _problem(tmp_path, TWO_STAGES)
    program = tmp_path / "candidate.py"
    program.write_text(PROGRAM.format(value=0.1, extra=""))
    out = subprocess.run(
        [sys.executable, "-m", "evolve.cli.main", "eval", str(folder), str(program), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["status"] == "filtered" and data["stage"] == 1 and data["score"] is None
