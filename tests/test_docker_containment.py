"""Hostile candidates on the ``docker`` backend, each checked from outside (the host's
/proc, the engine's containers): time limits, fork bombs, writes, what can be read, the
network; and containers of crashed or exiting engines, removed.

Never skipped: without a docker engine these tests fail and say to start dockerd. The
cases shared with the process backend are in ``test_executor.py``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest
from conftest import ROOT, MakeBackend, assert_nothing_left, created_since, processes_in
from conftest import evaluate_in as evaluate

from evolve.config import DockerConfig, SandboxConfig
from evolve.core.status import Verdict
from evolve.evaluation.backend import Call
from evolve.evaluation.docker_backend import DockerBackend
from evolve.problem import EvaluatorTarget
from evolve.sdk.protocol import Kind

# --- hostile candidates, checked from outside ---------------------------------------------


def test_timeout_kills_the_container_and_everything_in_it(
    make_backend: MakeBackend, docker_client: docker.DockerClient
) -> None:
    since = time.time()
    started = time.monotonic()
    result = evaluate(
        make_backend(timeout=1.5, warm=0),
        """
        import os, signal, subprocess, time

        def run():
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            subprocess.Popen(["sleep", "300"], start_new_session=True)
            if os.fork() == 0:
                os.setsid()
                while True:
                    pass
            while True:
                time.sleep(0.01)
        """,
    )
    assert result.status is Verdict.TIMEOUT
    assert time.monotonic() - started < 1.5 + 3.0
    made = created_since(docker_client, since)
    assert len(made) == 1  # no pool: the evaluation's own container
    assert not processes_in(made), "the container was not killed before the result came back"
    assert_nothing_left(docker_client, since)


def test_fork_bomb_is_contained(make_backend: MakeBackend) -> None:
    started = time.monotonic()
    result = evaluate(
        make_backend(timeout=10.0, max_processes=64),
        """
        import os, time

        def run():
            made = 0
            try:
                while True:
                    if os.fork() == 0:
                        time.sleep(30)
                        os._exit(0)
                    made += 1
            except OSError:
                pass
            return {"score": float(made)}
        """,
    )
    assert result.status is Verdict.OK, result.reason
    assert 0 < result.score < 64  # stopped by the container's pids limit
    assert time.monotonic() - started < 10.0


def test_writes_outside_scratch_fail_and_the_host_is_untouched(
    make_backend: MakeBackend, problem: Path
) -> None:
    evaluator = problem / "evaluator.py"
    original = evaluator.read_text()
    targets = [
        "/evolve/problem/evaluator.py",
        "/evolve/lib/evolve/__init__.py",
        "/etc/passwd",
        "/tmp/x",
        "/var/tmp/x",
        "/evolve-pwned",
        "/evolve/lib/evolve/sdk/harness.py",
    ]
    code = f"""
    def run():
        wrote = []
        for path in {targets!r}:
            try:
                with open(path, "a") as fh:
                    fh.write("pwned")
                wrote.append(path)
            except OSError:
                pass
        with open("/scratch/ok.txt", "w") as fh:
            fh.write("fine")
        return {{"score": float(len(wrote)), "wrote": float(bool(wrote))}}
    """
    result = evaluate(make_backend(), code)
    assert result.status is Verdict.OK, result.reason
    assert result.score == 0.0
    assert evaluator.read_text() == original
    assert "pwned" not in (ROOT / "evolve" / "sdk" / "harness.py").read_text()


def test_home_project_and_run_database_are_out_of_sight(
    make_backend: MakeBackend, problem: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = Path.home() / f".evolve-secret-{os.getpid()}"
    secret.write_text("AWS_SECRET=hunter2")
    project = tmp_path / "project"
    project.mkdir()
    (project / "evolve.db").write_bytes(b"SQLite format 3\0" + b"x" * 100)
    monkeypatch.chdir(project)
    beside = problem / "evolve.db"  # a database in the problem's own folder: masked
    beside.write_bytes(b"SQLite format 3\0" + b"y" * 100)
    paths = [str(secret), str(project / "evolve.db"), "/evolve/problem/evolve.db", str(beside)]
    code = f"""
    from evolve import EvaluationResult

    def run():
        got = {{}}
        for path in {paths!r}:
            try:
                with open(path, "rb") as fh:
                    got[path] = str(len(fh.read()))
            except OSError as exc:
                got[path] = type(exc).__name__
        return EvaluationResult(metrics={{"score": 1.0}}, artifacts=got)
    """
    try:
        masked = evaluate(make_backend(hidden=(beside,)), code)
        plain = evaluate(make_backend(), code)
    finally:
        secret.unlink()
    assert masked.status is Verdict.OK, masked.reason
    got = {k.removeprefix("evaluator:"): v for k, v in masked.artifacts.items()}
    unreadable = ("FileNotFoundError", "PermissionError")  # not there, or the image's own
    assert got[str(secret)] in unreadable  # (the image's /root is not the host's)
    assert got[str(project / "evolve.db")] in unreadable
    assert got[str(beside)] in unreadable  # host paths mean nothing inside
    assert got["/evolve/problem/evolve.db"] == "0"  # masked: no byte of it
    assert plain.artifacts["evaluator:/evolve/problem/evolve.db"] == "116"  # unmasked


def bridge_gateway(client: docker.DockerClient) -> str:
    """The host's address on docker's default bridge (its subnet's first, unless named)."""
    config = client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    return config.get("Gateway") or str(ipaddress.ip_network(config["Subnet"])[1])


def test_network_only_when_configured(
    make_backend: MakeBackend, docker_client: docker.DockerClient
) -> None:
    gateway = bridge_gateway(docker_client)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind((gateway, 0))
    server.listen(16)
    port = server.getsockname()[1]
    code = f"""
    import socket

    def run():
        try:
            socket.create_connection(({gateway!r}, {port}), timeout=3).close()
        except OSError:
            return {{"score": 0.0}}
        return {{"score": 1.0}}
    """
    try:
        cut_off = evaluate(make_backend(), code)
        allowed = evaluate(make_backend(network=True), code)
    finally:
        server.close()
    assert cut_off.status is Verdict.OK and cut_off.score == 0.0, cut_off.reason
    assert allowed.status is Verdict.OK and allowed.score == 1.0, allowed.reason


def test_option_files_are_mounted_and_their_paths_rewritten(
    tmp_path: Path, no_containers_left: float
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "cases.json").write_text('{"answer": 42}')
    folder = tmp_path / "ev"
    folder.mkdir()
    (folder / "evaluator.py").write_text(
        "import json\n\ndef evaluate(program_path, cases_file):\n"
        "    with open(cases_file) as fh:\n"
        "        return {'score': json.load(fh)['answer'], 'inside': cases_file.startswith('/evolve/')}\n"
    )
    target = EvaluatorTarget(
        function="evaluate",
        path=folder / "evaluator.py",
        options=(("cases_file", str(data / "cases.json")),),
        files=(data / "cases.json",),
    )
    config = SandboxConfig(backend="docker", timeout=20.0, docker=DockerConfig(warm=0))
    backend = DockerBackend(target, config)
    try:
        outcome = asyncio.run(backend.run("x = 1\n", Call("evaluate", 20.0), []))
    finally:
        asyncio.run(backend.close())
    assert outcome.message.kind is Kind.OK, outcome
    assert outcome.message.metrics == {"score": 42.0, "inside": 1.0}


# --- crashes ------------------------------------------------------------------------------

CRASHING_ENGINE = """
import asyncio, sys
from pathlib import Path
from evolve.config import DockerConfig, SandboxConfig
from evolve.evaluation.backend import Call
from evolve.evaluation.docker_backend import DockerBackend
from evolve.problem import EvaluatorTarget
from evolve.sdk.protocol import Kind

target = EvaluatorTarget(function="evaluate", path=Path(sys.argv[1]))
config = SandboxConfig(backend="docker", timeout=120.0, docker=DockerConfig(warm=2))
backend = DockerBackend(target, config)
code = "import time\\ndef run():\\n    time.sleep(300)\\n"
asyncio.run(backend.run(code, Call("evaluate", 120.0), []))
"""


def test_containers_of_a_killed_engine_are_removed_by_the_next(
    make_backend: MakeBackend, problem: Path, docker_client: docker.DockerClient
) -> None:
    engine = subprocess.Popen(
        [sys.executable, "-c", CRASHING_ENGINE, str(problem / "evaluator.py")],
        cwd=ROOT,
    )
    owner = {"label": f"evolve.owner={engine.pid}"}
    try:
        deadline = time.monotonic() + 30
        running: list[str] = []
        while time.monotonic() < deadline and not running:  # the evaluation is under way
            ids = [c["Id"] for c in docker_client.api.containers(filters=owner)]
            running = (
                [
                    pid
                    for pid in processes_in(ids)
                    if b"harness" in Path(f"/proc/{pid}/cmdline").read_bytes()
                ]
                if ids
                else []
            )
            time.sleep(0.1)
        assert running, "the engine never started its evaluation"
    finally:
        engine.send_signal(signal.SIGKILL)
        engine.wait()
    time.sleep(1.0)
    orphans = [c["Id"] for c in docker_client.api.containers(all=True, filters=owner)]
    assert len(orphans) >= 2, "the killed engine's containers should still be there"
    assert processes_in(orphans), "and their processes still running"
    backend = make_backend()  # a new engine's backend, starting up
    assert set(orphans) <= set(backend.reaped)
    assert not docker_client.api.containers(all=True, filters=owner)
    assert not processes_in(orphans)


EXITING_ENGINE = """
import asyncio, sys
from pathlib import Path
from evolve.config import DockerConfig, SandboxConfig
from evolve.evaluation.backend import Call
from evolve.evaluation.docker_backend import DockerBackend
from evolve.problem import EvaluatorTarget
from evolve.sdk.protocol import Kind

target = EvaluatorTarget(function="evaluate", path=Path(sys.argv[1]))
backend = DockerBackend(target, SandboxConfig(backend="docker", docker=DockerConfig(warm=3)))
outcome = asyncio.run(backend.run("def run():\\n    return {'score': 1}\\n", Call("evaluate", 20.0), []))
print(outcome.message.kind.value)
"""


def test_an_engine_exiting_without_close_leaves_no_container(
    problem: Path, docker_client: docker.DockerClient
) -> None:
    engine = subprocess.Popen(
        [sys.executable, "-c", EXITING_ENGINE, str(problem / "evaluator.py")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = engine.communicate(timeout=60)
    assert engine.returncode == 0, err
    assert out.strip() == "ok"
    owner = {"label": f"evolve.owner={engine.pid}"}
    assert not docker_client.api.containers(all=True, filters=owner)
