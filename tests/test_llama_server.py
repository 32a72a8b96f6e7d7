"""The ``openai`` and ``litellm`` paths against a real OpenAI-compatible server:
llama-cpp-python's own server, serving the embedded model on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from evolve.llm.base import LLMRequest
from evolve.llm.local import model_path
from evolve.llm.providers import LiteLLMChat, OpenAIChat
from evolve.store.store import Store, resolve_db_url

pytestmark = pytest.mark.llm

REQUEST = LLMRequest(
    prompt="Write a Python function that adds two numbers.",
    system="You are a programmer.",
    temperature=0.8,
    max_tokens=40,
    seed=3,
)

# llama-cpp-python's server, with the model loaded as evolve loads it: no extra buffer
# types, whose AMX path segfaults in the first decode on Intel CPUs that have AMX.
SERVER = (
    "import runpy; from evolve.llm.local_worker import disable_extra_buffer_types; "
    "disable_extra_buffer_types(); "
    "runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SERVER,
            "--model",
            str(model_path("gemma-3-270m")),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "4096",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/v1/models", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("llama-cpp-python's server did not start") from None
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_openai_client_against_llama_server(llama_server: str) -> None:
    client = OpenAIChat("openai/gemma-3-270m", base_url=f"{llama_server}/v1", timeout=120)
    response = asyncio.run(client.complete(REQUEST))
    assert response.text.strip()
    assert response.tokens_in > 10 and 0 < response.tokens_out <= 40


def test_litellm_client_against_llama_server(llama_server: str) -> None:
    client = LiteLLMChat("litellm/openai/gemma-3-270m", base_url=f"{llama_server}/v1", timeout=120)
    response = asyncio.run(client.complete(REQUEST))
    assert response.text.strip()
    assert response.tokens_in > 10 and 0 < response.tokens_out <= 40


def test_a_run_through_the_server(llama_server: str, tmp_path: Path) -> None:
    folder = tmp_path / "problem"
    import shutil

    from evolve.resources import bundled_problems

    shutil.copytree(bundled_problems()["function_minimization"], folder)
    toml = folder / "problem.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("attempts = 3", "attempts = 1"))
    with open(toml, "a", encoding="utf-8") as f:
        f.write(
            "\n[[llm.models]]\n"
            'name = "openai/gemma-3-270m"\n'
            f'base_url = "{llama_server}/v1"\n'
            'mutation = "rewrite"\n'
            "max_tokens = 120\n"
        )
    db = tmp_path / "evolve.db"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "evolve.cli.main",
            "run",
            str(folder),
            "-n",
            "3",
            "--db",
            str(db),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"},
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "completed"
    store = Store(resolve_db_url(str(db)))
    calls = store.llm_calls(out["run_id"])
    assert len(store.programs(out["run_id"])) == 4
    answered = [c for c in calls if not c.fault]
    assert answered and all(c.model == "openai/gemma-3-270m" for c in calls)
    assert all(c.tokens_in > 0 for c in answered)
