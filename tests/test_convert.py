"""``evolve convert``: OpenEvolve and ShinkaEvolve problem folders become evolve problems.

The peer folders here are written in each peer's documented layout. A converted folder must
load (``load_problem``) and its evaluator must score programs in evolve's process sandbox,
through the executor ``evolve eval`` uses, with neither peer installed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from evolve.cli.main import main
from evolve.convert import convert
from evolve.core.status import Verdict
from evolve.evaluation.executor import build_executor
from evolve.problem import load_problem

PROGRAM = """\
import math


# EVOLVE-BLOCK-START
def value():
    \"\"\"The number to make large.\"\"\"
    return 3.0
# EVOLVE-BLOCK-END


def run():
    return value()
"""

OE_EVALUATOR = """\
import importlib.util

from openevolve.evaluation_result import EvaluationResult


def _load(program_path):
    spec = importlib.util.spec_from_file_location("program", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def evaluate(program_path):
    v = _load(program_path).run()
    return EvaluationResult(
        metrics={"value": v, "combined_score": v / 4},
        artifacts={"feedback": f"value was {v}", "raw": b"bytes too"},
    )


def evaluate_stage1(program_path):
    return {"positive": float(_load(program_path).value() > 0), "error": "none"}


def evaluate_stage2(program_path):
    return evaluate(program_path)
"""

OE_CONFIG = """\
max_iterations: 30
checkpoint_interval: 10
random_seed: 7
llm:
  primary_model: "gemini-2.0-flash-lite"
  primary_model_weight: 0.8
  secondary_model: "gemini-2.0-flash"
  api_base: "https://generativelanguage.googleapis.com/v1beta/openai/"
  api_key: "sk-do-not-copy-me"
  temperature: 0.6
  top_p: 0.95
  max_tokens: 2048
prompt:
  system_message: |
    You improve value().
    Return a larger number.
  num_top_programs: 2
  num_diverse_programs: 1
database:
  population_size: 50
  archive_size: 20
  num_islands: 3
  migration_interval: 20
  migration_rate: 0.2
  feature_dimensions: ["complexity", "diversity"]
  feature_bins: 6
evaluator:
  timeout: 30
  cascade_evaluation: true
  cascade_thresholds: [0.5, 0.75]
  use_llm_feedback: false
diff_based_evolution: false
frobnicate: 1
"""


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _openevolve(tmp_path: Path, **changes: str) -> Path:
    files = {"initial_program.py": PROGRAM, "evaluator.py": OE_EVALUATOR, "config.yaml": OE_CONFIG}
    return _write(tmp_path / "oe", {**files, **changes})


def _score(folder: Path, code: str):
    executor = build_executor(load_problem(str(folder)))

    async def once():
        try:
            return await executor.evaluate(code)
        finally:
            await executor.close()

    return asyncio.run(once())


def test_no_peer_is_installed() -> None:
    assert importlib.util.find_spec("openevolve") is None
    assert importlib.util.find_spec("shinka") is None


def test_openevolve_folder_converts_and_scores_in_the_sandbox(tmp_path: Path) -> None:
    source = _openevolve(tmp_path)
    done = convert("openevolve", source)
    out = tmp_path / "oe-evolve"
    assert done.out == out and done.program == "initial_program.py"
    problem = load_problem(str(out))
    config = problem.config
    assert config.name == "oe" and config.prompt == "You improve value().\nReturn a larger number."
    assert config.evaluator.path == "evolve_evaluator.py"
    assert config.evaluator.primary_metric == "combined_score"
    assert config.evaluator.direction.value == "maximize"
    # OpenEvolve's cascade runs inside one evaluation, as OpenEvolve runs it
    assert config.evaluator.function == "evaluate_cascade" and config.evaluator.stages == []
    wrapper = (out / "evolve_evaluator.py").read_text()
    assert "CASCADE: tuple[str, ...] = ('evaluate_stage1', 'evaluate_stage2')" in wrapper
    assert "THRESHOLDS: tuple[float | None, ...] = (0.5,)" in wrapper
    search = config.search
    assert (search.iterations, search.seed, search.islands) == (30, 7, 3)
    assert search.population_size == 17  # 50 over 3 islands
    assert search.migration_interval == 60  # 20 generations of each of 3 islands
    assert search.migration_rate == 0.2 and search.num_inspirations == 3
    assert [(f.name, f.bins) for f in config.features] == [("code_length", 6)]
    assert config.sandbox.timeout == 60.0  # 30 s for each of the 2 stages
    assert (config.llm.temperature, config.llm.max_tokens, config.llm.models) == (0.6, 2048, [])
    assert (out / "evaluator.py").read_text() == OE_EVALUATOR  # the peer's, unchanged
    assert (out / "openevolve" / "evaluation_result.py").is_file()

    text = (out / "problem.toml").read_text()
    assert '# name = "openai/gemini-2.0-flash-lite"' in text
    assert '# mutation = "rewrite"' in text
    for path in out.rglob("*"):
        assert path.is_dir() or "sk-do-not-copy-me" not in path.read_text(errors="replace")
    dropped = "\n".join(done.not_carried)
    for needle in (
        "frobnicate",
        "'diversity'",
        "llm.top_p",
        "database.archive_size",
        "api_key of gemini-2.0-flash-lite",
        "llm models gemini-2.0-flash-lite",
    ):
        assert needle in dropped, needle

    ok = _score(out, PROGRAM)
    assert ok.status is Verdict.OK, ok.reason
    assert ok.score == 0.75
    assert ok.metrics == {"value": 3.0, "positive": 1.0, "combined_score": 0.75}
    assert ok.artifacts["evaluator:feedback"] == "value was 3.0"
    assert ok.artifacts["evaluator:raw"] == "bytes too"
    assert "evaluator:cascade" not in ok.artifacts

    # below stage 1's threshold: stage 1's result stands (text metrics become artifacts)
    short = _score(out, PROGRAM.replace("return 3.0", "return -1.0"))
    assert short.status is Verdict.OK, short.reason
    assert short.score == 0.0 and short.metrics == {"positive": 0.0, "combined_score": 0.0}
    assert short.artifacts["evaluator:error"] == "none"
    assert "stopped after evaluate_stage1" in short.artifacts["evaluator:cascade"]

    # a failure after the first stage keeps the first stage's result, as in OpenEvolve
    broken = _score(out, PROGRAM.replace("return value()", "return value() + RUNS"))
    assert broken.status is Verdict.OK and broken.metrics["stage2_passed"] == 0.0
    assert "NameError" in broken.artifacts["evaluator:stage2_error"]


def test_openevolve_without_combined_score_ranks_by_the_mean(tmp_path: Path) -> None:
    evaluator = """\
import runpy


def evaluate(program_path, scale=1):
    v = runpy.run_path(program_path)["run"]()
    return {"a": v * scale, "c": 1.0, "width": 100.0, "ok": True, "note": "plain text"}
"""
    config = """\
max_iterations: 5
database:
  num_islands: 0
  feature_dimensions: ["complexity", "width", "score"]
  feature_bins: {complexity: 4, width: 3}
llm:
  temperature: 3.5
evaluator:
  cascade_evaluation: false
  evaluator_args: {scale: 2, nested: {x: 1}}
"""
    source = _openevolve(tmp_path, **{"evaluator.py": evaluator, "config.yaml": config})
    out = tmp_path / "elsewhere" / "converted"
    done = convert("openevolve", source, out)
    problem = load_problem(str(out))
    cfg = problem.config
    assert cfg.evaluator.function == "evaluate" and cfg.evaluator.stages == []
    assert dict(cfg.evaluator.options) == {"scale": 2}
    assert [(f.name, f.bins) for f in cfg.features] == [
        ("code_length", 4),
        ("width", 3),
        ("combined_score", 10),
    ]
    assert cfg.sandbox.timeout == 300.0  # OpenEvolve's default
    assert cfg.search.islands == 4 and cfg.llm.temperature == 0.8  # refused: evolve's defaults
    dropped = "\n".join(done.not_carried)
    assert "database.num_islands" in dropped and "llm.temperature" in dropped
    assert "evaluator.evaluator_args.nested" in dropped
    assert "prompt.system_message" in dropped  # no task text to carry

    result = _score(out, PROGRAM)
    assert result.status is Verdict.OK, result.reason
    # the mean of a (3 * 2) and c, without the feature "width", the boolean and the text
    assert result.score == 3.5 and result.metrics["ok"] == 1.0
    assert result.artifacts["evaluator:note"] == "plain text"


SHINKA_INITIAL = """\
# EVOLVE-BLOCK-START
def numbers(seed):
    \"\"\"Five numbers in [0, 1]: make their sum large.\"\"\"
    return [0.5] * 5
# EVOLVE-BLOCK-END


def run_experiment(seed=0):
    values = numbers(seed)
    return values, sum(values)
"""

SHINKA_EVALUATE = """\
import argparse
import os

from shinka.core import run_shinka_eval


def validate(result):
    values, _ = result
    if any(v < 0 or v > 1 for v in values):
        return False, "a number is outside [0, 1]"
    return True, None


def aggregate(results):
    values, reported = results[0]
    return {
        "combined_score": float(sum(values)),
        "public": {"count": len(values), "listing": ", ".join(map(str, values))},
        "private": {"reported": reported},
        "text_feedback": "the sum of the five numbers",
    }


def main(program_path, results_dir):
    os.makedirs(results_dir, exist_ok=True)
    metrics, correct, error = run_shinka_eval(
        program_path=program_path,
        results_dir=results_dir,
        experiment_fn_name="run_experiment",
        num_runs=3,
        get_experiment_kwargs=lambda i: {"seed": i},
        validate_fn=validate,
        aggregate_metrics_fn=aggregate,
    )
    print("correct" if correct else f"incorrect: {error}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--program_path", default="initial.py")
    parser.add_argument("--results_dir", default="results")
    args = parser.parse_args()
    main(args.program_path, args.results_dir)
"""

SHINKA_YAML = """\
max_evaluation_jobs: 2
max_proposal_jobs: 3
max_db_workers: 2
db_config:
  num_islands: 2
  archive_size: 40
  num_archive_inspirations: 2
  num_top_k_inspirations: 1
  migration_interval: 10
  migration_rate: 0.1
  parent_selection_strategy: weighted
evo_config:
  patch_types: [diff, full, cross]
  patch_type_probs: [0.6, 0.3, 0.1]
  num_generations: 40
  max_api_costs: 5.0
  language: python
  llm_models: ["gpt-5-mini", "gemini-3-flash-preview"]
  llm_kwargs:
    temperatures: [0.0, 0.5, 1.0]
    max_tokens: 8192
  llm_dynamic_selection: ucb1
  embedding_model: text-embedding-3-small
  init_program_path: initial.py
  results_dir: results/small
"""

SHINKA_RUN = '''\
import argparse

import yaml

from shinka.core import EvolutionConfig, ShinkaEvolveRunner
from shinka.database import DatabaseConfig
from shinka.launch import LocalJobConfig

TASK = """Make the five numbers sum high.

Each stays within [0, 1]."""


def main(config_path):
    with open(config_path) as fh:
        config = yaml.safe_load(fh)
    config["evo_config"]["task_sys_msg"] = TASK
    runner = ShinkaEvolveRunner(
        evo_config=EvolutionConfig(**config["evo_config"]),
        job_config=LocalJobConfig(eval_program_path="evaluate.py", time="00:01:30"),
        db_config=DatabaseConfig(**config["db_config"]),
        max_evaluation_jobs=config.get("max_evaluation_jobs"),
    )
    runner.run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--config_path", default="shinka_small.yaml")
    main(parser.parse_args().config_path)
'''


def _shinka(tmp_path: Path, **changes: str) -> Path:
    files = {
        "initial.py": SHINKA_INITIAL,
        "evaluate.py": SHINKA_EVALUATE,
        "shinka_small.yaml": SHINKA_YAML,
        "shinka_large.yaml": SHINKA_YAML.replace("num_generations: 40", "num_generations: 400"),
        "run_evo.py": SHINKA_RUN,
    }
    folder = _write(tmp_path / "task", {**files, **changes})
    (folder / "results").mkdir()  # a previous run's output: not copied
    (folder / "results" / "old.json").write_text("{}")
    return folder


def _cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str):
    """``evolve ARGS`` in this process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["evolve", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def test_shinka_folder_converts_and_scores_in_the_sandbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _shinka(tmp_path)
    out = tmp_path / "converted"
    code, printed, err = _cli(
        capsys, monkeypatch, "convert", "shinka", str(source), "--out", str(out)
    )
    assert code == 0, err
    assert "carried over:" in printed and "not carried over" in printed
    assert "settings read from shinka_small.yaml" in printed  # the one run_evo.py names
    assert "evo_config.patch_types, evo_config.patch_type_probs: " in printed
    cfg = load_problem(str(out)).config
    assert cfg.prompt == "Make the five numbers sum high.\n\nEach stays within [0, 1]."
    assert (cfg.evaluator.primary_metric, cfg.evaluator.path) == (
        "combined_score",
        "evolve_evaluator.py",
    )
    assert (cfg.search.iterations, cfg.search.islands, cfg.search.num_inspirations) == (40, 2, 3)
    assert (cfg.search.migration_interval, cfg.search.migration_rate) == (10, 0.1)
    assert (cfg.search.max_in_flight, cfg.sandbox.parallel, cfg.sandbox.timeout) == (3, 2, 90.0)
    assert cfg.llm.temperature == [0.0, 0.5, 1.0] and cfg.llm.max_tokens == 8192
    assert (cfg.llm.selection, cfg.llm.budget_usd) == ("ucb", 5.0)
    assert not (out / "results").exists()
    assert (out / "evaluate.py").read_text() == SHINKA_EVALUATE
    assert '# name = "openai/gpt-5-mini"' in (out / "problem.toml").read_text()

    ok = _score(out, SHINKA_INITIAL)
    assert ok.status is Verdict.OK, ok.reason
    assert ok.score == 2.5
    assert ok.metrics["count"] == 5.0 and ok.metrics["num_valid_runs"] == 3.0
    assert "reported" not in ok.metrics and "public.reported" not in ok.metrics  # private
    assert ok.artifacts["evaluator:text_feedback"] == "the sum of the five numbers"
    assert ok.artifacts["evaluator:listing"] == "0.5, 0.5, 0.5, 0.5, 0.5"

    wrong = _score(out, SHINKA_INITIAL.replace("[0.5] * 5", "[1.5] * 5"))
    assert wrong.status is Verdict.ERROR and wrong.score is None
    assert "IncorrectProgram" in wrong.reason and "outside [0, 1]" in wrong.reason


def test_shinka_run_script_alone_is_read_not_run(tmp_path: Path) -> None:
    script = """\
from shinka.core import EvolutionConfig, ShinkaEvolveRunner
from shinka.database import DatabaseConfig
from shinka.launch import LocalJobConfig

job_config = LocalJobConfig(eval_program_path="evaluate.py", time="00:05:00")
parent_config = dict(parent_selection_strategy="weighted", parent_selection_lambda=10.0)
db_config = DatabaseConfig(num_islands=3, migration_interval=0, **parent_config)
search_task_sys_msg = "Maximise the sum."
MAX_EVALUATION_JOBS = 4
evo_config = EvolutionConfig(
    task_sys_msg=search_task_sys_msg,
    num_generations=12,
    llm_kwargs=dict(temperatures=[0.3], max_tokens=4096, reasoning_efforts=["auto"]),
    init_program_path=str(TASK_DIR / "initial.py"),
    llm_models=["claude-sonnet-4"],
    meta_rec_interval=None,
    results_dir=make_dir(),
)
raise SystemExit("this script must not run")
ShinkaEvolveRunner(evo_config=evo_config, job_config=job_config, db_config=db_config,
                   max_evaluation_jobs=MAX_EVALUATION_JOBS)
"""
    source = _write(
        tmp_path / "game",
        {"initial.py": SHINKA_INITIAL, "evaluate.py": SHINKA_EVALUATE, "run_evo.py": script},
    )
    done = convert("shinka", source)
    cfg = load_problem(str(done.out)).config
    assert cfg.prompt == "Maximise the sum." and cfg.search.iterations == 12
    assert (cfg.search.islands, cfg.search.migration_rate) == (3, 0.0)  # interval 0: no migration
    assert (cfg.sandbox.timeout, cfg.sandbox.parallel, cfg.llm.temperature) == (300.0, 4, 0.3)
    dropped = "\n".join(done.not_carried)
    assert "db_config.parent_selection_strategy, db_config.parent_selection_lambda" in dropped
    assert "run_evo.py: EvolutionConfig(results_dir=...): not a literal" in dropped
    assert "evo_config.llm_kwargs.reasoning_efforts" in dropped
    assert "meta_rec_interval" not in dropped  # None: nothing was on
    assert '# name = "anthropic/claude-sonnet-4"' in (done.out / "problem.toml").read_text()


def test_cli_json_and_evolve_eval_on_the_result(tmp_path: Path) -> None:
    source = _openevolve(tmp_path)
    run = [sys.executable, "-m", "evolve"]
    out = subprocess.run(
        [*run, "convert", "openevolve", str(source), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    target = Path(report["out"])
    assert target == tmp_path / "oe-evolve" and report["peer"] == "OpenEvolve"
    assert any(line.startswith("search.islands = 3") for line in report["carried"])
    scored = subprocess.run(
        [*run, "eval", str(target), str(target / "initial_program.py"), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["score"] == 0.75
    assert tomllib.loads((target / "problem.toml").read_text())["name"] == "oe"


def _bad(tmp_path: Path, case: str) -> tuple[list[str], str]:
    """Arguments for ``evolve convert`` that must fail, and what the line says."""
    if case == "missing folder":
        return ["openevolve", str(tmp_path / "nowhere")], "no such folder"
    if case == "unknown peer":
        return ["alphaevolve", str(_openevolve(tmp_path))], "unknown peer 'alphaevolve'"
    if case == "no config":
        folder = _openevolve(tmp_path)
        (folder / "config.yaml").unlink()
        return ["openevolve", str(folder)], "no OpenEvolve config"
    if case == "two configs":
        folder = _openevolve(tmp_path)
        (folder / "config.yaml").rename(folder / "phase1.yaml")
        (folder / "phase2.yaml").write_text(OE_CONFIG)
        return ["openevolve", str(folder)], "choose one with --config"
    if case == "no initial program":
        folder = _openevolve(tmp_path)
        (folder / "initial_program.py").unlink()
        return ["openevolve", str(folder)], "no initial program"
    if case == "malformed yaml":
        folder = _openevolve(tmp_path, **{"config.yaml": "llm: [unclosed\n  x: 1\n"})
        return ["openevolve", str(folder)], "not valid YAML"
    if case == "no evaluate":
        folder = _openevolve(tmp_path, **{"evaluator.py": "def score(path):\n    return {}\n"})
        return ["openevolve", str(folder)], "defines no evaluate(program_path)"
    if case == "shinka no config":
        folder = _shinka(tmp_path)
        for name in ("shinka_small.yaml", "shinka_large.yaml", "run_evo.py"):
            (folder / name).unlink()
        return ["shinka", str(folder)], "no ShinkaEvolve config"
    if case == "shinka no initial program":
        folder = _shinka(tmp_path)
        (folder / "initial.py").unlink()
        return ["shinka", str(folder)], "no initial program"
    if case == "unclosed block":
        folder = _openevolve(tmp_path, **{"initial_program.py": "# EVOLVE-BLOCK-START\nx = 1\n"})
        return ["openevolve", str(folder)], f"{folder / 'initial_program.py'}: line 1"
    if case == "not a folder":
        return ["shinka", str(_write(tmp_path / "f", {"x": ""}) / "x")], "not a folder"
    assert case == "output not empty"
    folder = _openevolve(tmp_path)
    _write(tmp_path / "oe-evolve", {"keep.txt": "mine"})
    return ["openevolve", str(folder)], "not empty"


@pytest.mark.parametrize(
    "case",
    [
        "missing folder",
        "unknown peer",
        "no config",
        "two configs",
        "no initial program",
        "malformed yaml",
        "no evaluate",
        "shinka no config",
        "shinka no initial program",
        "unclosed block",
        "not a folder",
        "output not empty",
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    args, needle = _bad(tmp_path, case)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, printed, err = _cli(capsys, monkeypatch, "convert", *args)
    assert code == 2, (printed, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
    assert "Traceback" not in err and printed == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing left behind
    if case == "output not empty":
        assert (tmp_path / "oe-evolve" / "keep.txt").read_text() == "mine"
