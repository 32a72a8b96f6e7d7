"""Remote provider clients over real HTTP on loopback: a small server that speaks the
OpenAI Chat Completions and Anthropic Messages protocols (the real endpoints cannot be
reached from here)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from evolve.llm.base import LLMError, LLMRequest
from evolve.llm.providers import AnthropicChat, OpenAIChat

ANSWER = "<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n"


class Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict]] = []
    status = 200

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Handler.seen.append({"path": self.path, "body": body, "headers": dict(self.headers)})
        if Handler.status != 200:
            self._send(Handler.status, {"error": {"message": "overloaded", "type": "server"}})
        elif self.path.endswith("/chat/completions"):
            self._send(
                200,
                {
                    "id": "c1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": ANSWER},
                        }
                    ],
                    "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
                },
            )
        elif self.path.endswith("/messages"):
            self._send(
                200,
                {
                    "id": "m1",
                    "type": "message",
                    "role": "assistant",
                    "model": body["model"],
                    "content": [{"type": "text", "text": ANSWER}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": 13, "output_tokens": 8},
                },
            )
        else:
            self._send(404, {"error": "no such path"})

    def _send(self, code: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server() -> Iterator[str]:
    Handler.seen, Handler.status = [], 200
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


REQUEST = LLMRequest(
    prompt="improve it", system="you are a programmer", temperature=0.4, max_tokens=100, seed=5
)


def test_openai_compatible_server(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    client = OpenAIChat("openai/test-model", base_url=f"{server}/v1", timeout=10)
    response = asyncio.run(client.complete(REQUEST))
    assert response.text == ANSWER
    assert (response.tokens_in, response.tokens_out) == (12, 7)
    [call] = Handler.seen
    body = call["body"]
    assert body["model"] == "test-model" and body["seed"] == 5 and body["max_tokens"] == 100
    assert body["messages"] == [
        {"role": "system", "content": "you are a programmer"},
        {"role": "user", "content": "improve it"},
    ]


def test_anthropic_messages_api(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    client = AnthropicChat("anthropic/claude-test", base_url=server, timeout=10)
    response = asyncio.run(client.complete(REQUEST))
    assert response.text == ANSWER and (response.tokens_in, response.tokens_out) == (13, 8)
    [call] = Handler.seen
    assert call["path"] == "/v1/messages"
    assert call["body"]["system"] == "you are a programmer"
    headers = {k.lower(): v for k, v in call["headers"].items()}
    assert "sk-ant-test" in (headers.get("x-api-key", "") + headers.get("authorization", ""))


def test_server_errors_become_llm_errors(server: str) -> None:
    Handler.status = 500
    client = OpenAIChat("openai/test-model", base_url=f"{server}/v1", timeout=10)
    with pytest.raises(LLMError, match="openai/test-model"):
        asyncio.run(client.complete(REQUEST))


# --- provider-specific parameters ------------------------------------------------------------


def _capture(bodies: list):
    def answer(ex):
        bodies.append(ex.body)
        return "ok"

    return answer


def test_openai_reasoning_models_get_reasoning_parameters() -> None:
    from loopback import serve

    bodies: list = []
    with serve(_capture(bodies)) as server:
        url = f"{server.url}/v1"
        asyncio.run(OpenAIChat("openai/o4-mini", base_url=url).complete(REQUEST))
        asyncio.run(
            OpenAIChat("openai/my-model", base_url=url, reasoning_effort="high").complete(REQUEST)
        )
        asyncio.run(OpenAIChat("openai/gpt-4.1", base_url=url).complete(REQUEST))
    o4, effort, plain = bodies
    for body in (o4, effort):
        assert body["max_completion_tokens"] == 100
        assert "temperature" not in body and "max_tokens" not in body
    assert effort["reasoning_effort"] == "high" and "reasoning_effort" not in o4
    assert plain["temperature"] == 0.4 and plain["max_tokens"] == 100


def test_anthropic_extended_thinking() -> None:
    from loopback import serve

    bodies: list = []
    with serve(_capture(bodies)) as server:
        client = AnthropicChat("anthropic/claude-x", base_url=server.url, thinking_budget=2048)
        response = asyncio.run(client.complete(REQUEST))
    assert response.text == "ok"
    [body] = bodies
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] == 2048 + 100 and "temperature" not in body


def test_litellm_path_over_http() -> None:
    from loopback import serve

    from evolve.llm.providers import LiteLLMChat

    bodies: list = []
    with serve(_capture(bodies)) as server:
        client = LiteLLMChat("litellm/openai/some-model", base_url=f"{server.url}/v1")
        response = asyncio.run(client.complete(REQUEST))
    assert response.text == "ok" and response.tokens_out > 0
    assert bodies[0]["model"] == "some-model" and bodies[0]["seed"] == 5
