"""Built-in evaluator plugin ``pytest``: run the problem's test file against the candidate.

pytest runs as a subprocess of this evaluator, on the test file from the problem folder.
Tests reach the candidate through the fixture ``candidate`` (``candidate.solve(2, 3)``
calls the candidate's ``solve`` in a fresh process of its own, through
``evolve.sdk.runner``, and returns its value as plain data) or ``candidate_path`` (its file,
also in ``$EVOLVE_CANDIDATE``). Each test's outcome comes back on a private pipe that no
candidate process inherits. score = the fraction of the collected tests that passed; the
artifact ``failures`` shows each failure. A test file that does not collect is an error.

    [evaluator]
    plugin = "pytest"
    primary_metric = "score"
    [evaluator.options]
    test_file = "test_solution.py"   # next to problem.toml
    call_timeout = 10.0              # seconds per candidate call (default: what is left)
    args = ["-x"]                    # more pytest arguments (optional)

Tests must not import the candidate's file themselves: that would run it inside pytest.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

from evolve import EvaluationResult
from evolve.sdk import remaining_time

PLUGIN = "_pytest_candidate"
WRAP_UP = 1.5
"""Seconds of what is left of the evaluation that pytest keeps for itself after its calls
to the candidate: to report the last test, tear down and exit before the evaluation ends."""
_FAILURE_CHARS = 1500
MAX_LISTED = 20


def evaluate(
    program_path: str,
    test_file: str = "",
    call_timeout: float = 0.0,
    args: list[str] | None = None,
) -> EvaluationResult:
    """Run pytest on ``test_file`` with the candidate; score = passed / collected."""
    if not test_file:
        raise ValueError("the pytest plugin needs [evaluator.options] test_file = 'test_x.py'")
    left = remaining_time()
    read_end, write_end = os.pipe()
    with tempfile.TemporaryDirectory(prefix="evolve-pytest-") as scratch:
        ini = os.path.join(scratch, "pytest.ini")
        with open(ini, "w", encoding="utf-8") as fh:
            fh.write("[pytest]\n")
        # The fixtures' plugin goes in a folder of its own: this plugins folder, on the
        # harness's path, has a pytest.py (this file) that must not shadow pytest.
        plugin = os.path.join(scratch, "plugin")
        os.mkdir(plugin)
        shutil.copy(os.path.join(os.path.dirname(__file__), f"{PLUGIN}.py"), plugin)
        here = os.path.dirname(os.path.abspath(__file__))
        path = [plugin, *(p for p in sys.path if p and os.path.abspath(p) != here)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env.update(
            EVOLVE_CANDIDATE=program_path,
            EVOLVE_PYTEST_FD=str(write_end),
            PYTHONPATH=os.pathsep.join(path),
            PYTHONDONTWRITEBYTECODE="1",
        )
        if call_timeout:
            env["EVOLVE_CALL_TIMEOUT"] = str(call_timeout)
        if left is not None:  # the calls inside pytest share what is left (its plugin says so)
            env["EVOLVE_PYTEST_SECONDS"] = str(max(left - WRAP_UP, 0.1))
        rootdir = os.path.dirname(os.path.abspath(test_file))  # test ids relative to it
        command = [sys.executable, "-m", "pytest", "-c", ini, "--rootdir", rootdir]
        command += ["-p", "no:cacheprovider", "-p", PLUGIN, "-q", "-rN"]
        command += [*(args or []), test_file]
        with os.fdopen(read_end, "r", encoding="utf-8") as reader:
            try:
                done = subprocess.Popen(
                    command,
                    cwd=scratch,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    pass_fds=(write_end,),
                    text=True,
                )
            finally:
                os.close(write_end)
            try:
                output, _ = done.communicate(timeout=left)
            except subprocess.TimeoutExpired:
                done.kill()
                done.communicate()
                raise TimeoutError("pytest did not finish in the evaluation's time") from None
            records = [json.loads(line) for line in reader.read().splitlines() if line]
    return _score(records, output, done.returncode)


def _score(records: list[dict], output: str, returncode: int) -> EvaluationResult:
    tail = output[-4000:]
    errors = [r for r in records if r["event"] == "collect_error"]
    if errors:
        first = errors[0]["text"].strip().splitlines()[-1:] or ["?"]
        raise RuntimeError(
            f"the test file did not collect ({errors[0]['where']}): {first[0][:300]}; "
            "fix the problem's tests"
        )
    collected = next((r["ids"] for r in records if r["event"] == "collected"), None)
    if collected is None:
        raise RuntimeError(f"pytest exited with code {returncode} before collecting: {tail[-300:]}")
    if not collected:
        raise ValueError("the test file has no tests")
    failed: dict[str, str] = {}
    passed: set[str] = set()
    for record in records:
        if record["event"] != "test":
            continue
        if record["outcome"] == "failed":
            text = record["text"][-_FAILURE_CHARS:]
            failed.setdefault(record["id"], f"{record['id']} ({record['when']}): {text}")
        elif record["outcome"] == "passed" and record["when"] == "call":
            passed.add(record["id"])
    good = len([t for t in collected if t in passed and t not in failed])
    listed = list(failed.values())[:MAX_LISTED]
    if not any(r["event"] == "finished" for r in records):
        listed.insert(
            0,
            f"pytest ended before finishing (exit code {returncode}); the tests it did not "
            "run count as failed",
        )
    artifacts = {"pytest_output": tail}
    if listed:
        artifacts["failures"] = "\n\n".join(listed)
    return EvaluationResult(
        metrics={"score": good / len(collected), "passed": good, "total": len(collected)},
        artifacts=artifacts,
    )
