"""The evaluator side (``evolve.sdk``) and its protocol with the engine.

Both sides import one definition of every limit and of the harness message, so they agree
by construction; the evaluation's time budget reaches the function runner explicitly, on
both backends; a message that is not what a harness sends is an error with the reason, and
the package imports with nothing but the standard library.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from evolve.config import DockerConfig, SandboxConfig
from evolve.core.status import Verdict
from evolve.evaluation import backend as backend_module
from evolve.evaluation import docker_backend, process
from evolve.evaluation.backend import RawOutcome, sandbox_env
from evolve.evaluation.executor import Evaluation, SandboxExecutor, cascade, judge
from evolve.evaluation.gpus import GpuPool
from evolve.problem import EvaluatorTarget
from evolve.sdk import context, exchange, harness, protocol, runner
from evolve.sdk.protocol import HarnessMessage, Kind, ProtocolError, Spec

ROOT = Path(__file__).resolve().parent.parent

MakeExecutor = Callable[..., SandboxExecutor]


@pytest.fixture(params=("process", "docker"))
def make_executor(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeExecutor]:
    made: list[SandboxExecutor] = []
    if request.param == "docker":
        request.getfixturevalue("no_containers_left")
        tmp_path.chmod(0o755)  # the container's user must read the evaluator

    def make(evaluator: str, **sandbox: object) -> SandboxExecutor:
        path = tmp_path / f"evaluator_{len(made)}.py"
        path.write_text(textwrap.dedent(evaluator), encoding="utf-8")
        sandbox.setdefault("memory_mb", 1024)
        target = EvaluatorTarget(function="evaluate", path=path)
        if request.param == "process":
            config = SandboxConfig(**sandbox)
            chosen: object = process.ProcessBackend(target, config)
        else:
            config = SandboxConfig(backend="docker", docker=DockerConfig(warm=1), **sandbox)
            chosen = docker_backend.DockerBackend(target, config, "python")
        executor = SandboxExecutor(
            chosen,  # type: ignore[arg-type]
            config,
            "score",
            cascade("evaluate", config),
            gpu_pool=GpuPool([]),
        )
        made.append(executor)
        return executor

    make.backend = request.param  # type: ignore[attr-defined]
    yield make
    for executor in made:
        asyncio.run(executor.close())


def evaluate(executor: SandboxExecutor, code: str) -> Evaluation:
    return asyncio.run(executor.evaluate(textwrap.dedent(code)))


# --- one definition, both sides ------------------------------------------------------------


def test_both_sides_hold_the_same_protocol_objects() -> None:
    # The harness writes, and each backend reads, under the one cap; the function runner's
    # limits and the environment it passes on are the protocol's, not copies.
    assert harness.MESSAGE_CAP is protocol.MESSAGE_CAP
    assert process.MESSAGE_CAP is protocol.MESSAGE_CAP
    assert docker_backend.MESSAGE_CAP is protocol.MESSAGE_CAP
    assert harness.HarnessMessage is backend_module.HarnessMessage is protocol.HarnessMessage
    assert exchange.VALUE_CAP is protocol.VALUE_CAP
    assert runner.EVALUATION_ENV is protocol.EVALUATION_ENV
    assert backend_module.ENGINE_ENV is protocol.ENGINE_ENV
    # Everything a backend puts in an evaluation's environment reaches the program's
    # process through the runner, by name.
    made = sandbox_env(SandboxConfig(gpus=0), "/scratch", [])
    assert set(made) <= set(protocol.EVALUATION_ENV)
    assert set(protocol.SANDBOX_ENV) <= set(made)


BIG = """
from evolve import EvaluationResult
from evolve.sdk.protocol import ARTIFACT_CHARS, MESSAGE_CAP

def evaluate(program_path):
    # {count}: how many artifacts of ARTIFACT_CHARS characters
    count = {count}
    return EvaluationResult(
        metrics={{"score": 1.0}},
        artifacts={{f"a{{i:05d}}": "x" * ARTIFACT_CHARS for i in range(count)}},
    )
"""


def test_a_message_up_to_the_cap_crosses_and_one_over_it_is_refused_by_the_harness(
    make_executor: MakeExecutor,
) -> None:
    each = protocol.ARTIFACT_CHARS + 16  # one artifact as JSON: '"a00000": "...", '
    under = (protocol.MESSAGE_CAP - 4096) // each
    near = evaluate(make_executor(BIG.format(count=f"{under}"), timeout=60.0), "x = 1\n")
    assert near.status is Verdict.OK, near.reason
    assert len([k for k in near.artifacts if k.startswith("evaluator:a")]) == under
    over = protocol.MESSAGE_CAP // protocol.ARTIFACT_CHARS + 1
    refused = evaluate(make_executor(BIG.format(count=f"{over}"), timeout=60.0), "x = 1\n")
    assert refused.status is Verdict.ERROR
    assert refused.reason.startswith("the evaluation's result is ")
    assert refused.reason.endswith(
        f"bytes as JSON, over the {protocol.MESSAGE_CAP}-byte cap (return fewer or shorter "
        "metrics and artifacts)"
    )


# --- the time budget, passed explicitly ----------------------------------------------------

BUDGET = """
import time
from evolve.sdk import CallError, call, remaining_time

def evaluate(program_path):
    left = remaining_time()
    started = time.monotonic()
    try:
        call(program_path, "slow", timeout=100.0)  # more than the evaluation has
        kind = "returned"
    except CallError as exc:
        kind = exc.kind
    return {"score": 1.0, "left": left, "waited": time.monotonic() - started,
            "timed_out": float(kind == "timeout")}
"""


def test_the_time_budget_reaches_the_function_runner(make_executor: MakeExecutor) -> None:
    """The harness tells the runner the evaluation's limit: the evaluator reads what is left
    of it, and a call asking for more is cut to fit, so the evaluator still reports."""
    limit = 5.0
    margin = max(0.5, min(3.0, 0.15 * limit))
    result = evaluate(
        make_executor(BUDGET, timeout=limit),
        "import time\n\ndef slow():\n    time.sleep(60)\n",
    )
    assert result.status is Verdict.OK, (result.reason, result.artifacts)
    left = result.metrics["left"]
    assert limit - margin - 1.5 < left <= limit - margin
    assert result.metrics["timed_out"] == 1.0
    assert left - 0.5 < result.metrics["waited"] < left + 0.5


def test_no_budget_is_guessed_from_the_command_line(tmp_path: Path) -> None:
    # A script named harness.py with what looks like a spec as its argument: nothing is
    # configured, so there is no overall limit (the runner reads no argv, no __main__).
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"timeout": 5.0, "result_fd": 1}))
    script = tmp_path / "harness.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from evolve.sdk import context, remaining_time\n"
        "print(remaining_time())\n"
        "context.configure(5.0)\n"
        "print(0 < remaining_time() <= 5.0 - 0.75)\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(script), str(spec)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "True"]


def test_a_context_measures_from_its_start() -> None:
    clock = context.Context(timeout=10.0, started=0.0)
    assert clock.remaining() is not None and clock.remaining() < 0  # long past
    assert context.Context(timeout=None, started=0.0).remaining() is None


# --- messages that are not what a harness sends --------------------------------------------

GARBLED = [
    (b"\xff\xfe{", "it is not JSON"),
    (b"[1, 2]", "it is a JSON list, not an object"),
    (b'{"kind": "ok", "metrics": {"score": 1}}', "protocol version None, expected 1"),
    (b'{"v": 1, "kind": "great"}', "unknown kind 'great'"),
    (b'{"v": 1, "kind": "timeout"}', "kind 'timeout' is the backend's to report"),
    (b'{"v": 1, "kind": "out_of_memory"}', "kind 'out_of_memory' is the backend's to report"),
    (b'{"v": 1, "kind": "ok", "metrics": {"score": "1e9"}}', "metric 'score' is '1e9'"),
    (b'{"v": 1, "kind": "ok", "metrics": {"score": NaN}}', "metric 'score' is nan"),
    (b'{"v": 1, "kind": "ok", "metrics": {"score": true}}', "metric 'score' is True"),
    (b'{"v": 1, "kind": "ok", "metrics": [1]}', "metrics is a list, not an object"),
    (b'{"v": 1, "kind": "ok", "artifacts": {"a": 3}}', "'a' is a int, not text"),
    (b'{"v": 1, "kind": "error", "error": 7}', "error is a int, not text"),
    (b'{"v": 1, "kind": "ok", "score": 1.0}', "unknown fields ['score']"),
]


@pytest.mark.parametrize(("data", "why"), GARBLED)
def test_a_garbled_message_is_an_error_with_the_reason(data: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match="^" + why.replace("[", r"\[").replace("(", r"\(")):
        HarnessMessage.decode(data)
    received = HarnessMessage.received(data, 0)
    assert received.kind is Kind.NO_RESULT
    verdict = judge(RawOutcome(received), "score", 1.0)
    assert verdict.status is Verdict.ERROR and verdict.score is None
    assert verdict.reason.startswith("the evaluation reported a malformed result: " + why)


def test_a_message_over_the_cap_is_refused_unread() -> None:
    data = b" " * (protocol.MESSAGE_CAP + 1)
    reason = judge(RawOutcome(HarnessMessage.received(data, 0)), "score", 1.0).reason
    assert reason == (
        f"the evaluation reported a malformed result: it is over the "
        f"{protocol.MESSAGE_CAP}-byte cap"
    )


def test_messages_and_specs_round_trip() -> None:
    message = HarnessMessage(
        Kind.OK, {"score": 2.0, "aux": None}, {"aux": "nan"}, {"note": "é"}, traceback="t"
    )
    assert HarnessMessage.decode(message.encode()) == message
    spec = Spec("/p.py", "evaluate", 3.0, None, options={"k": [1, 2]}, sys_path=("/a",))
    assert Spec.decode(spec.encode()) == spec
    with pytest.raises(ProtocolError, match="malformed harness spec"):
        Spec.decode(b'{"v": 1, "program_path": "/p.py"}')


FORGER = """
import json, os

def evaluate(program_path):
    forged = {forged!r}
    if os.path.exists(".evolve-spec.json"):  # process backend: the pipe the spec names
        with open(".evolve-spec.json") as fh:
            os.write(json.load(fh)["result_fd"], forged)
    else:  # docker: the harness's private stdout (fd 3), framed as the harness frames
        os.write(3, b"r" + len(forged).to_bytes(4, "big") + forged)
    os._exit(0)
"""


@pytest.mark.parametrize(
    ("forged", "why"),
    [
        (b'{"v": 1, "kind": "timeout"}', "kind 'timeout' is the backend's to report"),
        (b'{"v": 1, "kind": "ok", "metrics": {"score": "9"}}', "metric 'score' is '9'"),
        (b"not a message", "it is not JSON"),
    ],
)
def test_a_forged_message_from_inside_the_sandbox_is_an_error(
    make_executor: MakeExecutor, forged: bytes, why: str
) -> None:
    result = evaluate(make_executor(FORGER.format(forged=forged), timeout=20.0), "x = 1\n")
    assert result.status is Verdict.ERROR and result.score is None
    assert result.reason.startswith("the evaluation reported a malformed result: " + why)


# --- standard library only -----------------------------------------------------------------


def test_the_sdk_imports_with_the_standard_library_alone() -> None:
    """Inside the sandbox (``python -I -S``, no site-packages) every sdk module imports,
    and nothing outside the standard library and ``evolve.sdk`` is loaded."""
    modules = [
        f"evolve.sdk.{p.stem}"
        for p in (ROOT / "evolve" / "sdk").glob("*.py")
        if p.stem != "__init__"
    ]
    check = (
        f"import sys; sys.path[:] = [p for p in sys.path if 'site-packages' not in p] + "
        f"[{str(ROOT)!r}]\n"
        f"import importlib\nfor name in {modules!r}:\n    importlib.import_module(name)\n"
        "import evolve.sdk as sdk\nsdk.call, sdk.mismatch, sdk.EvaluationResult\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m != '__main__' and "
        "m.split('.')[0] not in sys.stdlib_module_names)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", check], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    outside = done.stdout.split()
    assert "evolve.sdk.harness" in outside
    assert [
        m for m in outside if m not in ("evolve", "evolve.sdk") and not m.startswith("evolve.sdk.")
    ] == []


def test_the_harness_runs_from_its_file_with_nothing_on_the_path(tmp_path: Path) -> None:
    """As the process backend starts it (``python -I -S .../harness.py SPEC``), without the
    sandbox: it finds its package, runs the evaluator and writes one typed message."""
    (tmp_path / "ev.py").write_text(
        "from evolve.sdk import remaining_time\n"
        "def evaluate(path):\n    return {'score': 1.0, 'left': remaining_time()}\n"
    )
    (tmp_path / "p.py").write_text("x = 1\n")
    read_end, write_end = os.pipe()
    spec = Spec(str(tmp_path / "p.py"), "evaluate", 30.0, write_end, str(tmp_path / "ev.py"))
    (tmp_path / "spec.json").write_bytes(spec.encode())
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(harness.__file__), str(tmp_path / "spec.json")],
        pass_fds=(write_end,),
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        timeout=60,
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as fh:
        message = HarnessMessage.decode(fh.read())
    assert done.returncode == 0, done.stderr
    assert message.kind is Kind.OK
    assert message.metrics["score"] == 1.0
    assert 30.0 - 3.0 - 2.0 < message.metrics["left"] <= 30.0 - 3.0
