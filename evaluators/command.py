"""Built-in evaluator plugin ``command``: score a program in any language with a command.

The command runs in the evaluation's sandbox, in the candidate's private directory, with
``{program}`` replaced by the candidate's path (shell-quoted). It must exit 0 and print its
metrics as a JSON object on the last non-empty line of its standard output; anything it
prints before that is kept as an artifact.

    [evaluator]
    plugin = "command"
    primary_metric = "score"
    [evaluator.options]
    command = "gcc -O2 -o prog {program} && ./prog"
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess

from evolve import EvaluationResult

_TAIL = 4000


def evaluate(program_path: str, command: str = "", timeout: float = 3600.0) -> EvaluationResult:
    if not command.strip():
        raise ValueError("the command plugin needs [evaluator.options] command = '...'")
    line = command.replace("{program}", shlex.quote(program_path))
    done = subprocess.run(
        ["/bin/sh", "-c", line],
        cwd=os.path.dirname(program_path) or ".",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    artifacts = {"command_stdout": done.stdout[-_TAIL:], "command_stderr": done.stderr[-_TAIL:]}
    if done.returncode != 0:
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
        raise RuntimeError(f"command exited with code {done.returncode}: {tail[0][:300]}")
    lines = [ln for ln in done.stdout.splitlines() if ln.strip()]
    if not lines:
        raise ValueError("the command printed nothing; it must print a JSON object of metrics")
    try:
        metrics = json.loads(lines[-1])
    except json.JSONDecodeError:
        raise ValueError(f"the command's last line is not JSON: {lines[-1][:200]!r}") from None
    if not isinstance(metrics, dict):
        raise ValueError("the command's last line must be a JSON object of metrics")
    return EvaluationResult(metrics=metrics, artifacts=artifacts)
