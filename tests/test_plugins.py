"""Evaluator plugins: the built-in `command` plugin, resolved by name, run in the sandbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evolve.errors import UserError
from evolve.evaluation.executor import ProcessExecutor
from evolve.evaluation.result import Status
from evolve.problem import load_problem

PROGRAM = (
    '# EVOLVE-BLOCK-START\nX=3\n# EVOLVE-BLOCK-END\necho "log line"\necho "{\\"score\\": $X}"\n'
)


def _problem(tmp_path: Path, command: str, plugin: str = "command") -> Path:
    (tmp_path / "prog.sh").write_text(PROGRAM)
    (tmp_path / "problem.toml").write_text(
        'name = "cmd"\ninitial_program = "prog.sh"\n'
        f'[evaluator]\nplugin = "{plugin}"\nprimary_metric = "score"\n'
        f"[evaluator.options]\ncommand = '{command}'\n"
    )
    return tmp_path


def _evaluate(folder: Path, code: str):
    problem = load_problem(str(folder))
    executor = ProcessExecutor(problem.evaluator, problem.config.sandbox, "score", problem.language)
    return problem, asyncio.run(executor.evaluate(code))


def test_command_plugin_scores_a_shell_program(tmp_path: Path) -> None:
    problem, result = _evaluate(_problem(tmp_path, "sh {program}"), PROGRAM)
    assert problem.language == "shell" and problem.blocks.marked
    assert result.status is Status.OK and result.score == 3.0
    assert "log line" in result.artifacts["evaluator:command_stdout"]


def test_command_plugin_failures_are_candidate_errors(tmp_path: Path) -> None:
    folder = _problem(tmp_path, "sh {program}")
    _, failed = _evaluate(folder, "echo oops >&2; exit 4\n")
    assert failed.status is Status.ERROR and "code 4" in failed.reason and "oops" in failed.reason
    _, not_json = _evaluate(folder, "echo 'score: 3'\n")
    assert not_json.status is Status.ERROR and "not JSON" in not_json.reason


def test_unknown_plugin_names_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no evaluator plugin named 'nope'.*command"):
        load_problem(str(_problem(tmp_path, "sh {program}", plugin="nope")))
