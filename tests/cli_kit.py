"""What the CLI tests with models on loopback share: a small problem folder whose program
holds one number to raise (``VALUE = 1`` / ``STEPS = 3``; the evaluator reads it back as
the score, so each evaluation is cheap), and ``evolve`` run as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

NUMBER_EVALUATOR = """import runpy


def evaluate(program_path):
    return {{"score": float(runpy.run_path(program_path)[{name!r}])}}
"""


def write_problem(
    folder: Path, program: str, settings: str, number: str = "", evaluator: str = ""
) -> Path:
    """A problem folder: ``initial.py`` holding ``program``, an evaluator (``evaluator``,
    or one scoring the module variable ``number``), and a problem.toml maximizing
    ``score`` with ``settings`` (TOML tables) after its header."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "initial.py").write_text(program)
    (folder / "evaluator.py").write_text(evaluator or NUMBER_EVALUATOR.format(name=number))
    (folder / "problem.toml").write_text(
        'name = "loopback"\ninitial_program = "initial.py"\n'
        'prompt = "Make the score larger."\n'
        '[evaluator]\npath = "evaluator.py"\nprimary_metric = "score"\ndirection = "maximize"\n'
        + settings
    )
    return folder


def evolve(
    cwd: Path, *args: str, db: str = "e.db", timeout: float = 600
) -> subprocess.CompletedProcess:
    """``evolve ARGS --db DB`` in ``cwd``, with a key for the loopback models."""
    return subprocess.run(
        [sys.executable, "-m", "evolve.cli.main", *args, "--db", str(cwd / db)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "OPENAI_API_KEY": "sk-loopback"},
        timeout=timeout,
    )
