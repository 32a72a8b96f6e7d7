"""A real HTTP server on 127.0.0.1 that speaks the OpenAI Chat Completions API
(``POST /v1/chat/completions``) and the Anthropic Messages API (``POST /v1/messages``),
non-streaming, with pluggable answers, a fixed latency and injected faults.

Remote providers cannot be reached from the test machines, so this stands in for them: the
real client code (``openai``, ``anthropic``, ``litellm``) is driven over real sockets and
parses real wire-format responses. Faults are drawn from a seeded stream, one draw per
request: ``429`` (with ``Retry-After``), ``500``, ``hang`` (no answer, then the connection is
closed), ``truncated`` (the first half of a JSON body), ``drop`` (the connection is closed
without an answer) and ``empty`` (a valid answer with no text). Every request is recorded;
``mean_in_flight`` measures how many were being served at once over a window of time (for
the concurrency benchmark).

    with serve(lambda ex: "hello", latency=0.1) as server:
        client = AsyncOpenAI(base_url=server.url + "/v1", api_key="x")
        server.fault_rate = 0.3  # settings can be changed mid-run
"""

from __future__ import annotations

import json
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("429", "500", "401", "hang", "truncated", "drop", "empty")
DEFAULT_FAULTS = ("429", "500", "hang", "truncated", "drop")
DEFAULT_TEXT = "<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n"


@dataclass(frozen=True)
class Exchange:
    """One request, as the answer callable sees it."""

    protocol: str  # "openai" or "anthropic"
    model: str
    system: str
    prompt: str  # the text of the last user message
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass(frozen=True)
class Reply:
    """An answer; token counts left as None are estimated (characters / 4)."""

    text: str
    tokens_in: int | None = None
    tokens_out: int | None = None
    finish: str = "stop"  # OpenAI finish_reason; "length" is Anthropic's "max_tokens"
    refusal: bool = False


@dataclass
class Record:
    index: int
    protocol: str
    model: str
    fault: str | None
    started: float  # time.monotonic() when the request line was parsed
    ended: float | None = None  # when the response was written; None while in flight


Answer = Callable[[Exchange], "str | Reply"]


class LoopbackServer:
    """The state of a running server; the settings may be changed while it runs."""

    def __init__(
        self,
        answer: Answer | None,
        latency: float,
        fault_rate: float,
        faults: Iterable[str],
        seed: int,
        retry_after: str,
        hang_seconds: float,
        usage: dict[str, Any] | None,
    ) -> None:
        faults = tuple(faults)
        unknown = sorted(set(faults) - set(FAULTS))
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown} (known: {', '.join(FAULTS)})")
        self.answer: Answer = answer or (lambda _ex: DEFAULT_TEXT)
        self.latency = latency
        self.fault_rate = fault_rate
        self.faults = faults
        self.retry_after = retry_after
        self.hang_seconds = hang_seconds
        self.usage = usage  # merged into every answer's usage object (extra or fixed fields)
        self.url = ""
        self.requests: list[Record] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._closing = threading.Event()

    def _enter(self) -> float:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return time.monotonic()

    def _leave(self, record: Record | None) -> None:
        with self._lock:
            self.in_flight -= 1
            if record is not None:
                record.ended = time.monotonic()

    def _record(self, protocol: str, model: str, started: float) -> Record:
        with self._lock:
            fault = None
            if self.fault_rate > 0 and self.faults and self._rng.random() < self.fault_rate:
                fault = self._rng.choice(self.faults)
            record = Record(len(self.requests), protocol, model, fault, started)
            self.requests.append(record)
            return record

    def mean_in_flight(self, start: float, end: float) -> float:
        """Time-weighted mean number of requests in flight over [start, end] (monotonic)."""
        if end <= start:
            return 0.0
        now = time.monotonic()
        with self._lock:
            spans = [(r.started, now if r.ended is None else r.ended) for r in self.requests]
        busy = sum(max(0.0, min(b, end) - max(a, start)) for a, b in spans)
        return busy / (end - start)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return ""


def _exchange(protocol: str, body: dict[str, Any], headers: dict[str, str]) -> Exchange:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    if protocol == "openai":
        sys_roles = ("system", "developer")
        system = "\n".join(_text(m.get("content")) for m in messages if m.get("role") in sys_roles)
    else:
        system = _text(body.get("system", ""))
    users = [m for m in messages if m.get("role") == "user"]
    prompt = _text(users[-1].get("content")) if users else ""
    return Exchange(protocol, str(body.get("model", "")), system, prompt, body, headers)


def _payload(
    protocol: str, ex: Exchange, reply: Reply, usage: dict[str, Any] | None
) -> dict[str, Any]:
    tin = reply.tokens_in
    tin = max(1, len(ex.prompt + ex.system) // 4) if tin is None else tin
    tout = reply.tokens_out
    tout = max(1, len(reply.text) // 4) if tout is None else tout
    if protocol == "openai":
        message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
        if reply.refusal:
            message = {"role": "assistant", "content": None, "refusal": reply.text}
        counts = {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout}
        return {
            "id": f"chatcmpl-loopback-{time.monotonic_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": ex.model,
            "choices": [{"index": 0, "message": message, "finish_reason": reply.finish}],
            "usage": {**counts, **(usage or {})},
        }
    stop = "refusal" if reply.refusal else "max_tokens" if reply.finish == "length" else "end_turn"
    return {
        "id": f"msg_loopback_{time.monotonic_ns()}",
        "type": "message",
        "role": "assistant",
        "model": ex.model,
        "content": [{"type": "text", "text": reply.text}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": tin, "output_tokens": tout, **(usage or {})},
    }


def _error(protocol: str, status: int, message: str) -> dict[str, Any]:
    kind = {
        429: "rate_limit_error",
        404: "not_found_error",
        400: "invalid_request_error",
        401: "authentication_error",
    }
    err = kind.get(status, "api_error")
    if protocol == "anthropic":
        return {"type": "error", "error": {"type": err, "message": message}}
    return {"error": {"message": message, "type": err, "code": str(status)}}


def _handler(state: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are separate writes
        _started: float | None = None
        _record: Record | None = None

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def parse_request(self) -> bool:
            ok = super().parse_request()
            if ok:
                self._started = state._enter()
            return ok

        def handle_one_request(self) -> None:
            self._started, self._record = None, None
            try:
                super().handle_one_request()
            finally:
                if self._started is not None:
                    state._leave(self._record)

        def do_GET(self) -> None:
            self._send(404, _error("openai", 404, f"no such path {self.path}"))

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?", 1)[0].rstrip("/")
            if path.endswith("/chat/completions"):
                protocol = "openai"
            elif path.endswith("/messages"):
                protocol = "anthropic"
            else:
                self._send(404, _error("openai", 404, f"no such path {self.path}"))
                return
            try:
                body = json.loads(raw)
                if not isinstance(body, dict):
                    raise ValueError("the body is not a JSON object")
            except ValueError as exc:
                self._send(400, _error(protocol, 400, f"malformed JSON body: {exc}"))
                return
            assert self._started is not None
            record = state._record(protocol, str(body.get("model", "")), self._started)
            self._record = record
            self._answer(protocol, body, record.fault)

        def _answer(self, protocol: str, body: dict[str, Any], fault: str | None) -> None:
            if state.latency > 0:
                state._closing.wait(state.latency)
            if fault in ("hang", "drop"):
                if fault == "hang":
                    state._closing.wait(state.hang_seconds)
                self.close_connection = True
                return
            if fault == "429":
                headers = {"Retry-After": str(state.retry_after)}
                self._send(429, _error(protocol, 429, "rate limited (injected)"), headers)
                return
            if fault == "500":
                self._send(500, _error(protocol, 500, "internal server error (injected)"))
                return
            if fault == "401":
                self._send(401, _error(protocol, 401, "invalid API key (injected)"))
                return
            exchange = _exchange(protocol, body, dict(self.headers.items()))
            try:
                reply = state.answer(exchange)
            except Exception as exc:  # the answer callable is test code: surface its bug
                self._send(500, _error(protocol, 500, f"answer raised {exc!r}"))
                return
            reply = Reply(reply) if isinstance(reply, str) else reply
            if fault == "empty":
                reply = Reply("", reply.tokens_in, None, reply.finish)
            data = json.dumps(_payload(protocol, exchange, reply, state.usage)).encode()
            if fault == "truncated":
                data = data[: len(data) // 2]
            self._raw(200, data)

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            self._raw(status, json.dumps(payload).encode(), headers)

        def _raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

    return Handler


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, state: LoopbackServer) -> None:
        super().__init__(("127.0.0.1", 0), _handler(state))
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Wake handlers waiting on idle keep-alive connections."""
        with self.connections_lock:
            open_now = list(self.connections)
        for conn in open_now:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


@contextmanager
def serve(
    answer: Answer | None = None,
    *,
    latency: float = 0.0,
    fault_rate: float = 0.0,
    faults: Iterable[str] = DEFAULT_FAULTS,
    seed: int = 0,
    retry_after: str = "0",
    hang_seconds: float = 30.0,
    usage: dict[str, Any] | None = None,
) -> Iterator[LoopbackServer]:
    """Serve on 127.0.0.1 (a free port) until the block ends; yields the server's state."""
    state = LoopbackServer(
        answer, latency, fault_rate, faults, seed, retry_after, hang_seconds, usage
    )
    httpd = _HTTPServer(state)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(
        target=httpd.serve_forever, args=(0.05,), name="loopback-server", daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        state._closing.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        thread.join(timeout=5)
