"""Evaluator plugins installed by entry point (``evolve.evaluators``) on the ``docker``
backend: the plugin's code and metadata are mounted read-only into the container, on the
harness's import path, and it scores candidates there as it does in the process backend.

The plugin is a distribution installed into a folder of its own, as a third party would
ship it: a package with a submodule, a second top-level module and a ``.dist-info``
folder with its ``RECORD`` (which says what belongs to it). Never skipped: without a
docker engine these tests fail and say to start one.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from evolve.core.status import Verdict
from evolve.errors import UserError
from evolve.evaluation.executor import build_executor
from evolve.problem import load_problem

PLUGIN = {
    "lengthscore/__init__.py": "from lengthscore.core import score\n",
    "lengthscore/core.py": (
        "from importlib.metadata import version\n"
        "import lengthscore_units\n"
        "from evolve import EvaluationResult\n\n"
        "def score(program_path, unit=1.0):\n"
        "    lines = len(open(program_path).read().splitlines())\n"
        "    return EvaluationResult(\n"
        "        metrics={'score': lengthscore_units.scaled(lines, unit)},\n"
        "        artifacts={'version': version('lengthscore'), 'where': __file__},\n"
        "    )\n"
    ),
    "lengthscore_units.py": "def scaled(n, unit):\n    return n * unit\n",
}
DIST_INFO = "lengthscore-0.1.dist-info"


def install_plugin(site: Path, extra_entry: str = "") -> Path:
    """Install the ``lines`` plugin (distribution ``lengthscore``) into ``site``."""
    for name, text in PLUGIN.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    info = site / DIST_INFO
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lengthscore\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[evolve.evaluators]\nlines = lengthscore:score\n{extra_entry}"
    )
    record = [*PLUGIN, f"{DIST_INFO}/METADATA", f"{DIST_INFO}/entry_points.txt"]
    (info / "RECORD").write_text(
        "".join(f"{name},,\n" for name in [*record, f"{DIST_INFO}/RECORD"])
    )
    return site


def make_problem(folder: Path, plugin: str = "lines") -> Path:
    folder.mkdir()
    (folder / "prog.py").write_text("# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END\n")
    (folder / "problem.toml").write_text(
        'name = "ep"\ninitial_program = "prog.py"\n'
        f'[evaluator]\nplugin = "{plugin}"\nprimary_metric = "score"\n'
        '[evaluator.options]\nunit = 2.0\n[sandbox]\nbackend = "docker"\n'
    )
    return folder


@pytest.fixture
def site(tmp_path: Path) -> Path:
    tmp_path.chmod(0o755)  # pytest makes it private; the container's user must read it
    folder = tmp_path / "site"
    folder.mkdir()
    return install_plugin(folder, "ghost = nosuchmodule:score\n")


def test_plugin_runs_in_the_docker_backend(
    site: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    docker_client: object,
    no_containers_left: float,
) -> None:
    monkeypatch.syspath_prepend(str(site))  # as if installed in the engine's environment
    problem = load_problem(str(make_problem(tmp_path / "problem")))
    assert problem.evaluator.module == "lengthscore"
    executor = build_executor(problem, backend="docker")
    try:
        mounts = {m["Target"]: m for m in executor.backend.containers.mounts}
        result = asyncio.run(executor.evaluate(problem.initial_code))
    finally:
        asyncio.run(executor.close())
    assert result.status is Verdict.OK, (result.reason, result.artifacts)
    assert result.score == 6.0  # 3 lines, unit 2
    # It ran from the mounted copy, and its own metadata is readable there.
    assert result.artifacts["evaluator:where"] == "/evolve/lib/lengthscore/core.py"
    assert result.artifacts["evaluator:version"] == "0.1"
    plugin = {t: m["Source"] for t, m in mounts.items() if t.startswith("/evolve/lib/length")}
    assert plugin == {
        "/evolve/lib/lengthscore": str(site / "lengthscore"),
        "/evolve/lib/lengthscore_units.py": str(site / "lengthscore_units.py"),
        f"/evolve/lib/{DIST_INFO}": str(site / DIST_INFO),
    }
    assert all(mounts[t]["ReadOnly"] for t in plugin)
    assert str(site) not in {m["Source"] for m in mounts.values()}  # not the whole folder


def test_plugin_that_cannot_be_imported_is_a_user_error(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docker_client: object
) -> None:
    monkeypatch.syspath_prepend(str(site))
    problem = load_problem(str(make_problem(tmp_path / "problem", plugin="ghost")))
    with pytest.raises(UserError, match=r"plugin module 'nosuchmodule' cannot be imported"):
        build_executor(problem, backend="docker")


def test_evolve_eval_runs_a_plugin_on_docker(
    site: Path, tmp_path: Path, docker_client: object, no_containers_left: float
) -> None:
    """The command line end to end, as a user who installed the plugin runs it."""
    folder = make_problem(tmp_path / "problem")
    env = {**os.environ, "PYTHONPATH": str(site)}
    command = [sys.executable, "-m", "evolve", "eval", str(folder), str(folder / "prog.py")]
    out = subprocess.run(
        [*command, "--sandbox", "docker", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["sandbox"] == "docker"
    assert report["status"] == "ok" and report["score"] == 6.0, report
    ghost = make_problem(tmp_path / "ghost", plugin="ghost")
    bad = subprocess.run(
        [sys.executable, "-m", "evolve", "eval", str(ghost), str(ghost / "prog.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2, bad.stderr
    assert "plugin module 'nosuchmodule' cannot be imported" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
