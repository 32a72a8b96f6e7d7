"""Progress during `evolve run`: on a terminal (a real pseudo-terminal here) a live board
with the best score and its step, each island's best, candidates per minute, valid rate,
spend and the time left; through a pipe, the plain lines only."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from loopback import serve
from scripted import good_answer
from test_inspect_rundb import problem_with_models


def run_args(tmp_path: Path, url: str) -> list[str]:
    folder = problem_with_models(
        tmp_path / "problem",
        [{"name": "openai/good", "base_url": f"{url}/v1", "price_in": 1.0, "price_out": 4.0}],
    )
    return [sys.executable, "-m", "evolve.cli.main", "run", str(folder), "--iterations", "6",
            "--db", str(tmp_path / "run.db")]  # fmt: skip


def test_terminal_gets_the_live_board(tmp_path: Path) -> None:
    with serve(good_answer) as server:
        master, slave = pty.openpty()
        env = {**os.environ, "COLUMNS": "140", "LINES": "50", "TERM": "xterm-256color"}
        proc = subprocess.Popen(
            run_args(tmp_path, server.url), stdin=slave, stdout=slave, stderr=slave, env=env
        )
        os.close(slave)
        chunks = []
        while True:
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:
                proc.kill()
                raise AssertionError("no output for 120 s")
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(60) == 0
        os.close(master)
    out = b"".join(chunks).decode("utf-8", "replace")
    for needle in ("candidates/min", "best value:", "(step ", "valid ", "spent $",
                   "to the iteration budget", "island", "candidates 6/6"):  # fmt: skip
        assert needle in out, needle
    assert "[6/6]" in out and "Best program" in out  # the plain lines are still there


def test_a_pipe_gets_plain_lines(tmp_path: Path) -> None:
    with serve(good_answer) as server:
        result = subprocess.run(
            run_args(tmp_path, server.url), capture_output=True, text=True, timeout=300
        )
    assert result.returncode == 0, result.stderr
    assert "[6/6]" in result.stdout and "Best program" in result.stdout
    assert "candidates/min" not in result.stdout and "\x1b[" not in result.stdout
