"""The ``docker`` backend on a real engine: container settings, GPU requests, the warm
pool, the result channel, and the one-line errors for a missing engine or image.

Never skipped: without a docker engine these tests fail and say to start dockerd (CI's
``.ci/run`` starts it and builds ``evolve-sandbox:cpu`` with ``sandbox/build_image.sh``).
Hostile candidates and crashes: ``test_docker_containment.py``; the cases shared with
the process backend: ``test_executor.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import docker
import pytest
from conftest import (
    CUDA_PROBE,
    ROOT,
    SCORE_1,
    GpuHost,
    MakeBackend,
    assert_nothing_left,
    executor_on,
)
from conftest import evaluate_in as evaluate

from evolve.config import DockerConfig, SandboxConfig
from evolve.core.status import Verdict
from evolve.errors import UserError
from evolve.evaluation.docker_backend import DockerBackend
from evolve.evaluation.executor import Evaluation
from evolve.evaluation.gpus import GpuPool
from evolve.problem import EvaluatorTarget

# --- the container ----------------------------------------------------------------------


def test_container_is_locked_down(make_backend: MakeBackend) -> None:
    backend = make_backend(memory_mb=300, cpus=1, max_processes=77)
    container = backend.containers.create([])
    try:
        host = container.attrs["HostConfig"]
        config = container.attrs["Config"]
    finally:
        backend.containers.remove(container.id)
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert list(host["Tmpfs"]) == ["/scratch"]
    assert host["Memory"] == 300 * 1024 * 1024
    assert host["MemorySwap"] == 300 * 1024 * 1024
    assert host["NanoCpus"] == 1_000_000_000
    assert host["PidsLimit"] == 77
    assert host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert not host.get("DeviceRequests")  # a CPU-only problem never asks for a GPU
    assert config["User"] not in ("", "0", "root") and not config["User"].startswith("0:")
    assert config["Env"] == [e for e in config["Env"] if not e.startswith("OPENAI")]
    assert config["Labels"]["evolve.owner"] == str(os.getpid())
    mounts = {m["Destination"]: m for m in container.attrs["Mounts"]}
    assert set(mounts) == {"/evolve/lib/evolve", "/evolve/problem"}  # the harness is in evolve
    assert all(m["RW"] is False for m in mounts.values())


def test_candidate_sees_the_container(make_backend: MakeBackend) -> None:
    result = evaluate(
        make_backend(),
        """
        import os
        from evolve import EvaluationResult

        def run():
            return EvaluationResult(
                metrics={"score": 1.0, "uid": os.getuid()},
                artifacts={"cwd": os.getcwd(), "home": os.environ["HOME"],
                           "tmpdir": os.environ["TMPDIR"], "procs": str(len(
                               [p for p in os.listdir("/proc") if p.isdigit()]))},
            )
        """,
    )
    assert result.status is Verdict.OK, result.reason
    assert result.metrics["uid"] != 0
    assert result.artifacts["evaluator:cwd"] == "/scratch"
    assert result.artifacts["evaluator:home"] == "/scratch"
    assert result.artifacts["evaluator:tmpdir"] == "/scratch"
    assert int(result.artifacts["evaluator:procs"]) <= 3  # sleep (pid 1), the harness


# --- GPUs -------------------------------------------------------------------------------


def test_gpu_container_requests_exactly_its_devices(make_backend: MakeBackend) -> None:
    backend = make_backend(gpus=1)
    container = backend.containers.create([1])
    try:
        requests = container.attrs["HostConfig"]["DeviceRequests"]
        labels = container.attrs["Config"]["Labels"]
        env = container.attrs["Config"]["Env"]
    finally:
        backend.containers.remove(container.id)
    assert requests == [
        {"Driver": "", "Count": 0, "DeviceIDs": ["1"], "Capabilities": [["gpu"]], "Options": {}}
    ]
    assert labels["evolve.devices"] == "1"
    assert not any(e.startswith("CUDA_VISIBLE_DEVICES=") for e in env)  # set per exec
    # Inside, the container's only GPUs are numbered from 0.
    assert backend.exec_env([1])["CUDA_VISIBLE_DEVICES"] == "0"
    assert backend.exec_env([2, 5])["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert backend.exec_env([])["CUDA_VISIBLE_DEVICES"] == ""
    assert "OPENAI_API_KEY" not in backend.exec_env([])


def gpus_here(gpu_host: GpuHost, client: docker.DockerClient) -> tuple[list[int], bool]:
    """The GPUs for a docker GPU test, and whether its evaluations can get them: this
    machine's GPUs where it has them, else two GPUs that are not there (the engine must
    refuse them)."""
    if gpu_host.has_gpus:
        return [gpu.index for gpu in gpu_host.gpus], bool(gpu_host.docker(client))
    return [0, 1], False


def test_gpu_evaluation_gets_exactly_its_gpu_or_a_clear_error(
    make_backend: MakeBackend, docker_client: docker.DockerClient, gpu_host: GpuHost
) -> None:
    """With GPUs and the NVIDIA runtime: the container's only GPU is the leased one, and
    the candidate's CUDA calls reach it. Without either: the reason, never a CPU run."""
    backend = make_backend(gpus=1, memory_mb=4096)
    if not (gpu_host.has_gpus and gpu_host.docker(docker_client)):
        devices, _ = gpus_here(gpu_host, docker_client)
        result = evaluate(backend, CUDA_PROBE, GpuPool(devices))
        assert result.status is Verdict.ERROR
        assert result.score is None
        assert "GPU 0" in result.reason and "NVIDIA Container Toolkit" in result.reason
        return
    last = gpu_host.gpus[-1]  # not GPU 0 by default: the lease must be what picks it
    result = evaluate(backend, CUDA_PROBE, GpuPool([last.index]))
    assert result.status is Verdict.OK, (result.reason, result.artifacts)
    assert result.metrics["count"] == 1.0  # the container's only GPU
    assert result.artifacts["evaluator:visible"] == "0"
    assert result.artifacts["evaluator:uuid"] == last.uuid
    assert result.metrics["bytes"] > 0


def test_concurrent_gpu_evaluations_get_disjoint_devices(
    make_backend: MakeBackend, docker_client: docker.DockerClient, gpu_host: GpuHost
) -> None:
    since = time.time()
    backend = make_backend(gpus=1)
    gpus, served = gpus_here(gpu_host, docker_client)
    executor = executor_on(backend, GpuPool(gpus))

    async def main() -> list[Evaluation]:
        return await asyncio.gather(*(executor.evaluate(SCORE_1) for _ in range(6)))

    results = asyncio.run(main())
    if served:
        assert all(r.status is Verdict.OK for r in results), [r.reason for r in results]
    else:
        assert all(r.status is Verdict.ERROR and "GPU" in r.reason for r in results)
    events = docker_client.events(
        since=int(since) - 1,
        until=int(time.time()) + 1,
        filters={"type": "container", "label": f"evolve.owner={os.getpid()}"},
        decode=True,
    )
    alive: dict[str, str] = {}  # container -> its devices, from its create to its destroy
    creates = 0
    for event in events:
        if event["timeNano"] < since * 1e9:
            continue
        devices = event["Actor"]["Attributes"].get("evolve.devices", "")
        if event["Action"] == "create":
            creates += 1
            assert devices in {str(g) for g in gpus}, devices
            assert devices not in alive.values(), f"GPU {devices} given to two containers"
            alive[event["id"]] = devices
        elif event["Action"] == "destroy":
            alive.pop(event["id"], None)
    assert creates == 6
    assert not alive


# --- the warm pool ----------------------------------------------------------------------


def test_each_evaluation_gets_a_fresh_prestarted_container(
    make_backend: MakeBackend, docker_client: docker.DockerClient
) -> None:
    since = time.time()
    backend = make_backend(warm=2)
    time.sleep(2.0)  # the pool starts its containers in the background
    code = """
    import os, socket

    def run():
        seen = os.path.exists("/scratch/left-by-earlier")
        open("/scratch/left-by-earlier", "w").close()
        return {"score": 0.0 if seen else 1.0, "host": float(int(socket.gethostname(), 16))}
    """
    executor = executor_on(backend)
    began = time.time_ns()
    first = asyncio.run(executor.evaluate(textwrap.dedent(code)))
    second = asyncio.run(executor.evaluate(textwrap.dedent(code)))
    assert first.status is Verdict.OK and second.status is Verdict.OK, (first, second)
    assert first.score == 1.0 and second.score == 1.0  # nothing carried over
    hosts = [f"{int(r.metrics['host']):012x}" for r in (first, second)]
    assert hosts[0] != hosts[1]  # a container each
    events = docker_client.events(
        since=int(since) - 1,
        until=int(time.time()) + 1,
        filters={"type": "container", "label": f"evolve.owner={os.getpid()}"},
        decode=True,
    )
    started = {e["id"][:12]: e["timeNano"] for e in events if e["Action"] == "start"}
    assert all(started[h] < began for h in hosts)  # both were started before either ran
    ready = list(backend.containers.live)
    assert len(ready) == 2 and not set(hosts) & {c[:12] for c in ready}  # replaced
    for cid in ready:
        assert docker_client.api.inspect_container(cid)["State"]["Running"] is True


def test_a_harness_waiting_in_a_warm_container_gets_its_whole_time(
    make_backend: MakeBackend, problem: Path
) -> None:
    """The harness starts with its container and waits there: the evaluation's clock (and
    the candidate helper's deadline) starts when the spec arrives, not before."""
    (problem / "evaluator.py").write_text(
        "from evolve.sdk import call, remaining_time\n"
        "def evaluate(program_path):\n"
        "    left = remaining_time()\n"
        "    return {'score': call(program_path, 'run'), 'left': left}\n",
        encoding="utf-8",
    )
    backend = make_backend(warm=1, timeout=3.0)
    time.sleep(4.5)  # longer than the evaluation's time limit
    result = evaluate(backend, "def run():\n    return 1.0\n")
    assert result.status is Verdict.OK, result.reason
    assert result.score == 1.0
    assert 1.0 < result.metrics["left"] < 3.0  # the limit less a margin, not already past


def test_no_warm_pool_starts_one_per_evaluation(make_backend: MakeBackend) -> None:
    backend = make_backend(warm=0)
    assert not backend.containers.live
    assert evaluate(backend, SCORE_1).status is Verdict.OK
    deadline = time.monotonic() + 5
    while backend.containers.live and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not backend.containers.live


def test_close_removes_the_warm_containers(
    make_backend: MakeBackend, docker_client: docker.DockerClient
) -> None:
    since = time.time()
    backend = make_backend(warm=3)
    assert evaluate(backend, SCORE_1).status is Verdict.OK
    asyncio.run(backend.close())
    made = assert_nothing_left(docker_client, since, at_least=4)
    assert len(made) >= 4


# --- the result channel -----------------------------------------------------------------

FORGE = r'''
import os, subprocess, sys

FAKE = b'{"kind": "ok", "metrics": {"score": 1000.0}, "bad_metrics": {}, "artifacts": {}}'
FRAME = b"r" + len(FAKE).to_bytes(4, "big") + FAKE
CHILD = """
import os, sys
frame = bytes.fromhex(sys.argv[1])
os.write(1, frame)
for fd in range(3, 64):
    try:
        os.write(fd, frame)
    except OSError:
        pass
for pid in os.listdir("/proc"):
    try:
        with open(f"/proc/{pid}/fd/1", "wb") as fh:
            fh.write(frame)
    except OSError:
        pass
"""

def run():
    sys.stdout.buffer.write(FRAME)
    sys.stdout.flush()
    subprocess.run([sys.executable, "-c", CHILD, FRAME.hex()])
    return {"score": 1.0}
'''


def test_candidate_cannot_forge_the_result(make_backend: MakeBackend) -> None:
    result = evaluate(make_backend(), FORGE)
    assert result.status is Verdict.OK, result.reason
    assert result.score == 1.0
    assert "1000.0" in result.artifacts["stdout"]  # the forgery arrived as mere output


# --- errors the user can fix -----------------------------------------------------------------


def test_missing_image_is_a_user_error(problem: Path) -> None:
    config = SandboxConfig(backend="docker", docker=DockerConfig(image="evolve-no-such:image"))
    with pytest.raises(UserError) as caught:
        DockerBackend(EvaluatorTarget(function="evaluate", path=problem / "evaluator.py"), config)
    assert str(caught.value) == (
        "sandbox.docker.image 'evolve-no-such:image' not found: build it with "
        "sandbox/build_image.sh"
    )


def test_no_engine_is_a_user_error(problem: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{problem}/no-such.sock")
    with pytest.raises(UserError, match=r"no docker engine answers .*start dockerd") as caught:
        DockerBackend(
            EvaluatorTarget(function="evaluate", path=problem / "evaluator.py"),
            SandboxConfig(backend="docker"),
        )
    assert "\n" not in str(caught.value)


def test_unreadable_problem_folder_is_a_user_error(problem: Path, docker_client: object) -> None:
    problem.chmod(0o700 if os.getuid() == 0 else 0o000)  # root: runs as uid 10001
    with pytest.raises(UserError, match=r"not readable by the container's user.*chmod o\+rX"):
        DockerBackend(
            EvaluatorTarget(function="evaluate", path=problem / "evaluator.py"),
            SandboxConfig(backend="docker"),
        )


def test_evolve_eval_on_docker(tmp_path: Path, docker_client: object) -> None:
    """The CLI end to end: a bundled problem scored in a container; a bad image is exit 2."""
    program = ROOT / "problems" / "function_minimization" / "initial_program.py"
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "evolve",
            "eval",
            "function_minimization",
            str(program),
            "--sandbox",
            "docker",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["status"] == "ok", report
    assert report["sandbox"] == "docker"
    folder = tmp_path / "fm"
    folder.mkdir()
    for item in (ROOT / "problems" / "function_minimization").iterdir():
        if item.is_file():
            (folder / item.name).write_bytes(item.read_bytes())
    with open(folder / "problem.toml", "a", encoding="utf-8") as fh:
        fh.write('\n[sandbox.docker]\nimage = "evolve-no-such:image"\n')
    bad = subprocess.run(
        [sys.executable, "-m", "evolve", "eval", str(folder), str(program), "--sandbox", "docker"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert bad.returncode == 2
    assert "sandbox.docker.image 'evolve-no-such:image' not found" in bad.stderr
    assert "Traceback" not in bad.stderr
