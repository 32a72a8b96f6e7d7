"""The loopback server against the real ``openai`` and ``anthropic`` SDKs: answers, usage,
the error each injected fault turns into, concurrency and bookkeeping."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.error
import urllib.request
from typing import Any

import anthropic
import openai
import pytest
from loopback import DEFAULT_TEXT, Exchange, Reply, serve


def openai_client(url: str, timeout: float = 5.0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url + "/v1", api_key="x", max_retries=0, timeout=timeout)


def anthropic_client(url: str, timeout: float = 5.0) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0, timeout=timeout)


async def ask_openai(url: str, prompt: str = "hi", timeout: float = 5.0) -> Any:
    async with openai_client(url, timeout) as client:
        return await client.chat.completions.create(
            model="gpt-test",
            messages=[
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": prompt},
            ],
        )


async def ask_anthropic(url: str, prompt: str = "hi", timeout: float = 5.0) -> Any:
    async with anthropic_client(url, timeout) as client:
        return await client.messages.create(
            model="claude-test",
            max_tokens=100,
            system=[{"type": "text", "text": "be "}, {"type": "text", "text": "brief"}],
            messages=[{"role": "user", "content": [{"type": "text", "text": prompt}]}],
        )


def test_openai_answer_and_usage() -> None:
    seen: list[Exchange] = []

    def answer(ex: Exchange) -> Reply:
        seen.append(ex)
        return Reply(f"echo {ex.prompt}", tokens_in=11, tokens_out=7)

    with serve(answer) as server:
        response = asyncio.run(ask_openai(server.url, "ping"))
    assert response.choices[0].message.content == "echo ping"
    assert response.choices[0].finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (11, 7)
    assert response.usage.total_tokens == 18
    [ex] = seen
    assert (ex.protocol, ex.model, ex.system, ex.prompt) == (
        "openai",
        "gpt-test",
        "be brief",
        "ping",
    )
    assert [r.fault for r in server.requests] == [None]


def test_openai_default_answer_and_refusal() -> None:
    with serve() as server:
        response = asyncio.run(ask_openai(server.url))
    assert response.choices[0].message.content == DEFAULT_TEXT
    assert response.usage.completion_tokens == len(DEFAULT_TEXT) // 4
    with serve(lambda _ex: Reply("no", refusal=True, finish="length")) as server:
        message = asyncio.run(ask_openai(server.url)).choices[0]
    assert (message.message.content, message.message.refusal) == (None, "no")
    assert message.finish_reason == "length"


def test_anthropic_answer() -> None:
    seen: list[Exchange] = []

    def answer(ex: Exchange) -> str:
        seen.append(ex)
        return "bonjour"

    with serve(answer, usage={"cache_read_input_tokens": 3}) as server:
        message = asyncio.run(ask_anthropic(server.url, "salut"))
    assert message.content[0].text == "bonjour"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 1  # max(1, len("bonjour") // 4)
    assert message.usage.cache_read_input_tokens == 3
    [ex] = seen
    assert (ex.protocol, ex.model, ex.system, ex.prompt) == (
        "anthropic",
        "claude-test",
        "be brief",
        "salut",
    )


def test_rate_limit_carries_retry_after() -> None:
    with serve(fault_rate=1.0, faults=("429",), retry_after="7") as server:
        with pytest.raises(openai.RateLimitError) as caught:
            asyncio.run(ask_openai(server.url))
        with pytest.raises(anthropic.RateLimitError):
            asyncio.run(ask_anthropic(server.url))
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.status_code == 429
    assert [r.fault for r in server.requests] == ["429", "429"]


def test_server_error() -> None:
    with serve(fault_rate=1.0, faults=("500",)) as server:
        with pytest.raises(openai.InternalServerError):
            asyncio.run(ask_openai(server.url))
        with pytest.raises(anthropic.InternalServerError):
            asyncio.run(ask_anthropic(server.url))


def test_truncated_body_is_a_json_decode_error() -> None:
    # Neither SDK wraps this: the half body reaches json.loads and its error propagates.
    with serve(fault_rate=1.0, faults=("truncated",)) as server:
        with pytest.raises(json.JSONDecodeError):
            asyncio.run(ask_openai(server.url))
        with pytest.raises(json.JSONDecodeError):
            asyncio.run(ask_anthropic(server.url))


def test_drop_is_a_connection_error() -> None:
    with serve(fault_rate=1.0, faults=("drop",)) as server:
        with pytest.raises(openai.APIConnectionError) as caught:
            asyncio.run(ask_openai(server.url))
        assert not isinstance(caught.value, openai.APITimeoutError)
        with pytest.raises(anthropic.APIConnectionError):
            asyncio.run(ask_anthropic(server.url))


def test_hang_times_out_and_shutdown_wakes_it() -> None:
    started = time.monotonic()
    with serve(fault_rate=1.0, faults=("hang",), hang_seconds=30.0) as server:
        with pytest.raises(openai.APITimeoutError):
            asyncio.run(ask_openai(server.url, timeout=0.5))
        assert server.in_flight == 1  # still hanging on the server side
    deadline = time.monotonic() + 2.0
    while server.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.in_flight == 0 and server.requests[0].ended is not None
    assert time.monotonic() - started < 3.0


def test_empty_answer() -> None:
    with serve(fault_rate=1.0, faults=("empty",)) as server:
        assert asyncio.run(ask_openai(server.url)).choices[0].message.content == ""
        assert asyncio.run(ask_anthropic(server.url)).content[0].text == ""


def test_anthropic_stop_reasons() -> None:
    with serve(lambda _ex: Reply("cut", finish="length")) as server:
        assert asyncio.run(ask_anthropic(server.url)).stop_reason == "max_tokens"
        server.answer = lambda _ex: Reply("no", refusal=True)
        assert asyncio.run(ask_anthropic(server.url)).stop_reason == "refusal"


def test_faults_are_reproducible_and_mutable() -> None:
    async def calls(url: str, n: int) -> None:
        async with openai_client(url) as client:
            for _ in range(n):
                with contextlib.suppress(openai.InternalServerError):
                    await client.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": "x"}]
                    )

    with serve(fault_rate=0.5, faults=("500", "empty"), seed=3) as a:
        asyncio.run(calls(a.url, 10))
        a.fault_rate = 0.0
        asyncio.run(calls(a.url, 1))
    with serve(fault_rate=0.5, faults=("500", "empty"), seed=3) as b:
        asyncio.run(calls(b.url, 10))
    faults = [r.fault for r in a.requests]
    assert faults[:10] == [r.fault for r in b.requests]
    assert faults[10] is None and set(faults[:10]) > {None}
    with pytest.raises(ValueError), serve(faults=("bogus",)):
        pass


def test_concurrent_requests_overlap() -> None:
    # How far they overlap under load is the benchmark's business (bench/in_flight.py);
    # here: they do overlap, and the bookkeeping adds up.
    n, latency = 16, 1.0

    async def burst(url: str) -> list[Any]:
        async with openai_client(url) as client:
            calls = [
                client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": str(i)}]
                )
                for i in range(n)
            ]
            return await asyncio.gather(*calls)

    with serve(lambda ex: ex.prompt, latency=latency) as server:
        start = time.monotonic()
        answers = asyncio.run(burst(server.url))
        end = time.monotonic()
    assert sorted(int(a.choices[0].message.content) for a in answers) == list(range(n))
    assert server.max_in_flight > 1
    busy = sum(r.ended - r.started for r in server.requests)
    assert server.mean_in_flight(start, end) == pytest.approx(busy / (end - start), rel=0.01)
    assert server.in_flight == 0
    assert all(r.ended is not None and r.ended - r.started >= latency for r in server.requests)


def test_unknown_path_and_malformed_body() -> None:
    with serve() as server:
        for path, data, status in [("/v1/nope", b"{}", 404), ("/v1/messages", b"{oops", 400)]:
            request = urllib.request.Request(server.url + path, data=data, method="POST")
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(request, timeout=5)
            assert caught.value.code == status
            assert "error" in json.loads(caught.value.read())
        assert server.requests == []
