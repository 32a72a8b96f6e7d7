"""The embedded model in its own process: loaded without llama.cpp's extra buffer types (the
AMX crash), prompt prefixes reused without changing any answer, answers cut where they stop
being useful, and a native crash turned into a recorded fault, a restart, and after a
second crash in a row a clean stop that ``evolve run --resume`` continues."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from evolve.llm import local_worker
from evolve.llm.base import Fault, LLMError, LLMRequest
from evolve.llm.local import N_BATCH, LocalLlama, model_path

pytestmark = pytest.mark.llm

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = (ROOT / "problems" / "function_minimization" / "initial_program.py").read_text()


@pytest.fixture(scope="module")
def llm() -> Any:
    return local_worker.load(str(model_path("gemma-3-270m")), 4096, 2, N_BATCH)


def request(prompt: str, seed: int, **extra: Any) -> dict[str, Any]:
    return {"prompt": prompt, "max_tokens": 40, "temperature": 0.8, "seed": seed, **extra}


def test_model_is_loaded_without_extra_buffer_types(llm: Any) -> None:
    # The parameters llama.cpp loaded the model with: no repacked (AMX) weight buffers.
    assert llm.model_params.use_extra_bufts is False


def test_reused_prefixes_give_the_answers_of_a_fresh_evaluation(llm: Any) -> None:
    rng = random.Random(7)
    prompts = []
    for _ in range(5):
        notes = "".join(f"# note {rng.randrange(10**6)}\n" for _ in range(rng.randrange(1, 30)))
        prompts.append(PROGRAM + notes + "def search_v2(")
    fresh = [local_worker.complete(llm, None, request(p, i)) for i, p in enumerate(prompts)]
    states = local_worker.PrefixStates(llm, 256 << 20)
    order = [3, 0, 4, 1, 2, 0, 3, 2]  # any order, some prompts twice
    reused = 0
    for i in order:
        answer = local_worker.complete(llm, states, request(prompts[i], i))
        assert answer["text"] == fresh[i]["text"], f"prompt {i} answered differently"
        reused += answer["reused_tokens"]
    # The program shared by every prompt was evaluated once, then restored.
    assert states.hits >= len(order) - 1
    assert reused >= (len(order) - 1) * (len(PROGRAM) // 8)


def test_stop_pattern_ends_the_answer_where_the_function_ends(llm: Any) -> None:
    prompt = PROGRAM + "\n\ndef search_v2(objective, bounds, rng):\n"
    pattern = r"\n(?=\S)"
    for seed in range(4):
        whole = local_worker.complete(llm, None, {**request(prompt, seed), "max_tokens": 160})
        cut = local_worker.complete(
            llm, None, {**request(prompt, seed), "max_tokens": 160, "stop_pattern": pattern}
        )
        found = re.search(pattern, whole["text"])
        expected = whole["text"][: found.start()] if found else whole["text"]
        assert cut["text"] == expected
        assert not re.search(pattern, cut["text"])
        assert cut["tokens_out"] <= whole["tokens_out"]


def test_avoid_makes_the_answer_depart_from_the_parent_at_the_cut(llm: Any) -> None:
    # The prompt ends inside a copy of the parent's loop header: left alone, the model
    # mostly writes the parent's own number; with ``avoid`` it never starts with it.
    body = PROGRAM.split("def search(")[1]
    given = "def search_v1(" + body.split("range(")[0] + "range("
    rest = "100):\n        x = rng.uniform(low, high)"
    prompt = PROGRAM + "\n\n" + given
    plain, steered = [], []
    for seed in range(6):
        plain.append(local_worker.complete(llm, None, request(prompt, seed, max_tokens=8))["text"])
        answer = local_worker.complete(llm, None, request(prompt, seed, max_tokens=8, avoid=rest))
        steered.append(answer["text"])
    assert sum(t.startswith("1") for t in plain) >= 2, plain  # what copying looks like
    for text in steered:
        assert text and not text[0].isspace() and not rest.startswith(text[:1]), steered
    # Later positions are untouched: with nothing to avoid, the answers are the plain ones.
    again = local_worker.complete(llm, None, request(prompt, 0, max_tokens=8, avoid=""))
    assert again["text"] == plain[0]


def worker_pid() -> int:
    pids = LocalLlama.worker_pids()
    assert len(pids) == 1
    return pids[0]


def call_in_thread(client: LocalLlama, req: LLMRequest) -> dict[str, Any]:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["answer"] = client._complete(req)
        except LLMError as exc:
            box["error"] = exc

    box["thread"] = threading.Thread(target=target)
    box["thread"].start()
    return box


def test_a_crash_is_a_fault_then_a_restart_then_a_stop() -> None:
    client = LocalLlama("local/gemma-3-270m")
    short = LLMRequest(prompt=PROGRAM, max_tokens=8, seed=1)
    # Seconds of prompt to evaluate, none of it seen before: a kill lands mid-call.
    notes = "".join(f"# note {i * 7919 % 100003}\n" for i in range(250))
    long = LLMRequest(prompt=notes + PROGRAM, max_tokens=400, seed=2)
    try:
        first = client._complete(short)
        pid = worker_pid()
        box = call_in_thread(client, long)
        time.sleep(0.5)  # mid-call
        os.kill(pid, signal.SIGSEGV)
        box["thread"].join(60)
        error = box["error"]
        assert error.fault is Fault.CRASHED and not error.stops_run
        assert "killed by SIGSEGV" in str(error) and "restarting" in str(error)
        # Restarted: the same call gives the same answer as before the crash.
        again = client._complete(short)
        assert again.text == first.text
        assert worker_pid() != pid
        # Two crashes in a row: the run must stop.
        os.kill(worker_pid(), signal.SIGSEGV)
        with pytest.raises(LLMError) as one:
            client._complete(short)
        assert not one.value.stops_run
        box = call_in_thread(client, long)
        deadline = time.monotonic() + 60
        while not LocalLlama.worker_pids() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(worker_pid(), signal.SIGSEGV)
        box["thread"].join(60)
        assert box["error"].stops_run and "twice in a row" in str(box["error"])
    finally:
        LocalLlama.shutdown()
    assert LocalLlama.worker_pids() == []


def _children_workers(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"evolve.llm.local_worker" in cmdline:
            found.append(int(entry.name))
    return found


def _wait_for(predicate: Any, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _calls(db: Path) -> list[tuple[Any, ...]]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT iteration, fault FROM llm_calls").fetchall()
    except sqlite3.OperationalError:
        return []


def test_cli_run_survives_a_segfaulting_model_and_resumes(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    cli = [sys.executable, "-m", "evolve.cli.main"]
    run = subprocess.Popen(
        [*cli, "run", "function_minimization", "--iterations", "3", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    try:
        first = _wait_for(lambda: _children_workers(run.pid), 120, "the model's process")[0]
        _wait_for(lambda: _calls(db), 300, "a first answer")
        os.kill(first, signal.SIGSEGV)
        # The restarted process dies too, before it can answer: the run must stop cleanly.
        second = _wait_for(
            lambda: [p for p in _children_workers(run.pid) if p != first], 60, "a restart"
        )[0]
        os.kill(second, signal.SIGSEGV)
        output, _ = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert "killed by SIGSEGV" in output and "twice in a row" in output, output
    assert "Traceback" not in output
    assert "resume with: evolve run --resume" in output
    faults = [fault for _, fault in _calls(db) if fault]
    assert faults.count("crashed") == 2
    status = subprocess.run(
        [*cli, "runs", "--db", str(db), "--json"], capture_output=True, text=True, check=True
    )
    (info,) = json.loads(status.stdout)
    assert info["status"] == "interrupted"
    assert "SIGSEGV" in info["message"]
    assert not _children_workers(run.pid)

    resumed = subprocess.run(
        [*cli, "run", "--resume", info["id"], "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["status"] == "completed"
    assert result["candidates"] == 3


def test_a_bad_thread_count_is_one_line_before_the_run(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "evolve", "run", "function_minimization", "--iterations", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "EVOLVE_LLM_THREADS": "lots"},
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: EVOLVE_LLM_THREADS='lots' is not a number of threads: set it to e.g. 2 or unset it"
    ]
