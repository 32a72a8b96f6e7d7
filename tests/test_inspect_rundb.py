"""A real run's database for the inspection tests (CLI, UI, notebook API): ``evolve run``
on function_minimization with two models served over loopback HTTP (one whose diffs
improve the program, one whose diffs never apply), two islands, real evaluations.

``build_run_db`` is shared by ``test_inspect*.py`` and ``test_ui*.py``; the test here checks
that the run it builds has what those tests rely on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from loopback import serve
from scripted import bad_answer, good_answer

from evolve.resources import bundled_problems
from evolve.store.store import Store, resolve_db_url

ITERATIONS = 24


def evolve_cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evolve.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(os.environ),
        timeout=timeout,
        check=False,
    )


def problem_with_models(folder: Path, models: list[dict[str, Any]]) -> Path:
    """A copy of function_minimization whose [llm] section lists ``models``."""
    shutil.copytree(bundled_problems()["function_minimization"], folder)
    lines = []
    for m in models:
        lines.append("\n[[llm.models]]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in m.items())
    with open(folder / "problem.toml", "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return folder


def build_run_db(tmp: Path, iterations: int = ITERATIONS) -> tuple[Path, dict[str, Any]]:
    """Run ``evolve run`` into ``tmp/run.db``; returns the path and the run's JSON summary."""
    tmp.mkdir(parents=True, exist_ok=True)
    db = tmp / "run.db"
    with serve(good_answer) as good, serve(bad_answer) as bad:
        folder = problem_with_models(
            tmp / "problem",
            [
                {
                    "name": "openai/good",
                    "base_url": f"{good.url}/v1",
                    "price_in": 1.0,
                    "price_out": 4.0,
                },
                {
                    "name": "openai/bad",
                    "base_url": f"{bad.url}/v1",
                    "price_in": 0.5,
                    "price_out": 2.0,
                },
            ],
        )
        result = evolve_cli(
            "run",
            str(folder),
            "--iterations",
            str(iterations),
            "--db",
            str(db),
            "--json",
            cwd=tmp,
        )
    assert result.returncode == 0, result.stderr
    return db, json.loads(result.stdout)


def test_the_run_has_what_the_inspection_tests_need(tmp_path: Path) -> None:
    db, summary = build_run_db(tmp_path, iterations=8)
    assert summary["status"] == "completed"
    store = Store(resolve_db_url(str(db)))
    programs = store.programs(summary["run_id"])
    assert [p.iteration for p in programs] == list(range(9))
    assert {p.model for p in programs[1:]} == {"openai/good", "openai/bad"}
    assert {p.island for p in programs} == {0, 1}
    assert any(p.ok and p.parent_id for p in programs)
    assert any(not p.ok for p in programs)
    assert store.llm_calls(summary["run_id"])
