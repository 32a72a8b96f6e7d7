"""Novelty before evaluation (``evolve.novelty``): lexical similarity and its properties,
embeddings through OpenAI's ``/v1/embeddings`` on a real loopback server and through the
embedded model, the LLM judge on a loopback chat server, and ``NoveltyCheck`` end to end
with island members."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evolve.config import NoveltyConfig, ProblemConfig
from evolve.core.records import Candidate, code_hash
from evolve.core.status import CandidateStatus
from evolve.errors import UserError
from evolve.llm.base import Fault, LLMError
from evolve.novelty import NoveltyCheck, from_config, lexical
from evolve.novelty.embedding import EMPTY, Embeddings, LocalEmbedder, OpenAIEmbedder, cosine
from evolve.novelty.judge import Judge, parse
from evolve.problem import validate_config
from tests.loopback import Reply, serve

ROOT = Path(__file__).resolve().parent.parent
PACKING = (ROOT / "problems" / "circle_packing" / "initial_program.py").read_text()

PROGRAM = '''"""Fixed header."""
import math

# EVOLVE-BLOCK-START
def score(xs):
    """Sum of squares, scaled."""
    total = 0.0
    for x in xs:
        total += x * x  # square it
    return total * 0.5
# EVOLVE-BLOCK-END

def run():
    return score([1, 2, 3])
'''

RENAMED_CONSTANT = PROGRAM.replace("total * 0.5", "total * 0.25")

COSMETIC = '''"""Fixed header."""
import math

# EVOLVE-BLOCK-START
def score(xs):
  """A different docstring: nothing but words."""
  # a new comment line

  total   =   0.0


  for x in xs:   # loop
      total += x*x
  return total * 0.5   # halve
# EVOLVE-BLOCK-END

def run():
    return score([1, 2, 3])
'''

REWRITTEN = '''"""Fixed header."""
import math

# EVOLVE-BLOCK-START
def score(xs):
    values = sorted(abs(v) for v in xs)
    best = max(values, default=0)
    return math.sqrt(best) + len(values) / 7
# EVOLVE-BLOCK-END

def run():
    return score([1, 2, 3])
'''


def member(code: str, iteration: int, ident: str | None = None, island: int = 0) -> Candidate:
    return Candidate(
        id=ident or f"p{iteration:04d}",
        run_id="run",
        iteration=iteration,
        code=code,
        island=island,
        generation=iteration,
        status=CandidateStatus.OK,
        score=float(iteration),
    )


def mutations(code: str, count: int, seed: int) -> list[str]:
    """``count`` programs, each ``code`` with a few of its numbers and names changed."""
    rng = random.Random(seed)
    lines = code.splitlines()
    out = []
    for _ in range(count):
        changed = list(lines)
        for _ in range(rng.randrange(1, 6)):
            i = rng.randrange(len(changed))
            changed[i] = changed[i].replace("0.", f"0.{rng.randrange(10)}", 1)
            changed[i] = changed[i].replace("r ", f"r{rng.randrange(4)} ", 1)
        out.append("\n".join(changed) + f"\nextra_{rng.randrange(10**6)} = 1\n")
    return out


# --- lexical similarity ----------------------------------------------------------------


def test_identical_programs_are_fully_similar() -> None:
    assert lexical.similarity(PROGRAM, PROGRAM) == 1.0
    assert lexical.similarity(PACKING, PACKING) == 1.0


def test_a_changed_constant_is_similar_but_not_identical() -> None:
    value = lexical.similarity(PROGRAM, RENAMED_CONSTANT)
    assert 0.7 < value < 1.0
    # One token in n changes about 2 * K shingles: about 1 - 8 / n.
    packing = PACKING.replace("r * (1 - 1e-9)", "r * (1 - 1e-8)")
    n = len(lexical.essence(PACKING).tokens)
    assert abs(lexical.similarity(PACKING, packing) - (1 - 2 * lexical.K / n)) < 0.02


def test_a_rewritten_algorithm_is_dissimilar() -> None:
    assert lexical.similarity(PROGRAM, REWRITTEN) < 0.3
    other = (ROOT / "problems" / "function_minimization" / "initial_program.py").read_text()
    assert lexical.similarity(PACKING, other) < 0.1


def test_comments_whitespace_and_docstrings_do_not_count() -> None:
    assert lexical.similarity(PROGRAM, COSMETIC) == 1.0
    assert lexical.essence(PROGRAM).tokens == lexical.essence(COSMETIC).tokens


def test_only_the_evolve_blocks_are_compared() -> None:
    fixed_changed = PROGRAM.replace("score([1, 2, 3])", "score(list(range(1000)))")
    assert lexical.similarity(PROGRAM, fixed_changed) == 1.0
    # Moving a line out of its block is a change (Python's indentation is structure).
    moved = PROGRAM.replace("        total += x * x  # square it\n", "    total += x * x\n")
    assert lexical.similarity(PROGRAM, moved) < 1.0


def test_a_hash_inside_a_python_string_is_not_a_comment() -> None:
    a = 'x = "#" + "a"\n'
    b = 'x = "#" + "b"\n'
    assert lexical.similarity(a, b) < 1.0
    # Unparsable Python (an unclosed bracket) still has its comments dropped.
    assert lexical.similarity("f(1, # one\n", "f(1, # uno\n") == 1.0


def test_other_languages_use_their_comment_syntax() -> None:
    c = """#include <stdio.h>
// EVOLVE-BLOCK-START
int f(int x) {
    /* a block
       comment */
    return x * 2; // double
}
// EVOLVE-BLOCK-END
"""
    c_cosmetic = c.replace("// double", "// twice").replace("a block", "some block")
    c_changed = c.replace("x * 2", "x * 3")
    assert lexical.similarity(c, c_cosmetic, "c") == 1.0
    assert lexical.similarity(c, c_changed, "c") < 1.0
    # In C a # is not a comment, and // inside a string is not one either.
    assert lexical.similarity('s = "//a";\n', 's = "//b";\n', "c") < 1.0
    assert lexical.essence("#define N 3\n", "c").tokens == ("#", "define", "N", "3")
    lua = "-- EVOLVE-BLOCK-START\nlocal x = 1 -- one\n-- EVOLVE-BLOCK-END\n"
    assert lexical.similarity(lua, lua.replace("-- one", "-- uno"), "lua") == 1.0


def test_similarity_is_symmetric_and_in_range() -> None:
    programs = [PROGRAM, RENAMED_CONSTANT, COSMETIC, REWRITTEN, "", "x", *mutations(PACKING, 6, 3)]
    for a in programs:
        for b in programs:
            ab, ba = lexical.similarity(a, b), lexical.similarity(b, a)
            assert ab == ba
            assert 0.0 <= ab <= 1.0
    assert lexical.similarity("", "") == 1.0
    assert lexical.similarity("", "x = 1") == 0.0


def test_estimated_nearest_matches_the_exact_one() -> None:
    codes = mutations(PACKING, 300, seed=5)
    prints = [lexical.fingerprint(c) for c in codes]
    for child_code in mutations(PACKING, 20, seed=6):
        child = lexical.fingerprint(child_code)
        exact = [lexical.jaccard(child.shingles, p.shingles) for p in prints]
        index, value = lexical.nearest(child, prints)
        assert value == exact[index]
        # The estimate may pass over a member only when it is within its error of the best.
        assert value >= max(exact) - 0.05


def test_fingerprint_cache_is_bounded() -> None:
    cache = lexical.Fingerprints("python", capacity=10)
    codes = [f"x = {i}\n" for i in range(25)]
    rows = {}
    for code in codes:
        fingerprint, row = cache.get(code, code_hash(code))
        rows[code] = row
        assert np.array_equal(cache.signatures[row], fingerprint.signature)
    assert len(cache) == 10
    assert cache.signatures.shape[0] <= 10
    # The latest ten are still there, in the rows they were given.
    for code in codes[-10:]:
        fingerprint, row = cache.get(code, code_hash(code))
        assert row == rows[code]
        assert np.array_equal(cache.signatures[row], fingerprint.signature)


def test_a_child_against_a_thousand_members_is_fast() -> None:
    members = [member(c, i) for i, c in enumerate(mutations(PACKING, 1000, seed=1))]
    check = NoveltyCheck(NoveltyConfig(enabled=True), "python")
    children = mutations(PACKING, 21, seed=2)
    asyncio.run(check.nearest(children[0], members))  # fingerprints every member once
    started = time.perf_counter()
    for child in children[1:]:
        asyncio.run(check.nearest(child, members))
    per_child = (time.perf_counter() - started) / 20
    # About a millisecond on a busy 2-core machine; generous for slower ones.
    assert per_child < 0.025, f"{per_child * 1e3:.1f} ms per child against 1000 members"


# --- NoveltyCheck end to end, lexical ---------------------------------------------------


def check_of(**settings: Any) -> NoveltyCheck:
    check = from_config(NoveltyConfig(enabled=True, **settings), "python")
    assert check is not None
    return check


def test_disabled_is_no_check() -> None:
    assert from_config(NoveltyConfig(), "python") is None


def test_no_members_means_novel() -> None:
    verdict = asyncio.run(check_of().nearest(PROGRAM, []))
    assert (verdict.similar, verdict.similarity, verdict.neighbour_id) == (False, 0.0, None)


def test_the_nearest_member_is_found_and_judged_by_the_threshold() -> None:
    members = [member(REWRITTEN, 1), member(RENAMED_CONSTANT, 2), member(PACKING, 3)]
    expected = lexical.similarity(PROGRAM, RENAMED_CONSTANT)
    loose = asyncio.run(check_of(threshold=0.95).nearest(PROGRAM, members))
    assert loose.neighbour_id == "p0002"
    assert loose.similarity == pytest.approx(expected)
    assert loose.method == "lexical"
    assert not loose.similar and not loose.judged and loose.judge is None
    strict = asyncio.run(check_of(threshold=expected).nearest(PROGRAM, members))
    assert strict.similar  # at the threshold is too similar
    assert "too similar to p0002" in strict.reason


def test_ties_go_to_the_oldest_member_whatever_the_order() -> None:
    members = [member(COSMETIC, 7, "late"), member(PROGRAM, 3, "early"), member(REWRITTEN, 1)]
    check = check_of()
    verdicts = set()
    for seed in range(5):
        random.Random(seed).shuffle(members)
        verdicts.add(asyncio.run(check.nearest(PROGRAM, members)))
    assert len(verdicts) == 1
    verdict = verdicts.pop()
    assert (verdict.neighbour_id, verdict.similarity, verdict.similar) == ("early", 1.0, True)


def test_the_same_question_gets_the_same_answer_in_a_fresh_check() -> None:
    members = [member(c, i) for i, c in enumerate(mutations(PACKING, 200, seed=9))]
    child = mutations(PACKING, 1, seed=10)[0]
    first = asyncio.run(check_of().nearest(child, members))
    second = asyncio.run(check_of().nearest(child, list(reversed(members))))
    assert first == second


# --- embeddings over OpenAI's protocol --------------------------------------------------


def toy_vector(text: str, width: int = 64) -> list[float]:
    """A deterministic embedding: character trigrams hashed into ``width`` counts."""
    vector = [0.0] * width
    for i in range(max(1, len(text) - 2)):
        digest = hashlib.blake2b(text[i : i + 3].encode(), digest_size=4).digest()
        vector[int.from_bytes(digest, "little") % width] += 1.0
    return vector


@dataclass
class EmbeddingServer:
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    answer: Callable[[list[str]], Any] | None = None

    @property
    def inputs(self) -> int:
        return sum(len(r["input"]) for r in self.requests)


@contextmanager
def embedding_server() -> Iterator[EmbeddingServer]:
    """``POST /v1/embeddings`` on 127.0.0.1, as OpenAI answers it (vectors out of order, to
    check that the client puts them back by index)."""
    state = EmbeddingServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            if not self.path.rstrip("/").endswith("/embeddings"):
                self._send(404, {"error": {"message": "no such path", "type": "not_found"}})
                return
            if state.status != 200:
                error = {"message": "injected", "type": "error", "code": str(state.status)}
                self._send(state.status, {"error": error}, state.headers)
                return
            texts = body["input"]
            if state.answer is not None:
                self._send(200, state.answer(texts))
                return
            data = [
                {"object": "embedding", "index": i, "embedding": toy_vector(t)}
                for i, t in enumerate(texts)
            ]
            usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
            payload = {"object": "list", "data": data[::-1], "model": body["model"], "usage": usage}
            self._send(200, payload)

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_openai_embeddings_over_http() -> None:
    with embedding_server() as server:
        embedder = OpenAIEmbedder("openai/text-embedding-3-small", base_url=server.url)
        texts = ["def f(): return 1", "", "x = 2"] + [f"y = {i}" for i in range(300)]
        vectors = asyncio.run(embedder.embed(texts))
    assert len(vectors) == len(texts)
    assert vectors[0] == toy_vector(texts[0])  # back in the order asked, whatever was sent
    assert vectors[1] == toy_vector(EMPTY)  # an empty text goes as a placeholder
    assert vectors[-1] == toy_vector("y = 299")
    assert [len(r["input"]) for r in server.requests] == [256, 47]  # batched
    assert server.requests[0]["model"] == "text-embedding-3-small"


@pytest.mark.parametrize(
    ("status", "fault"),
    [(429, Fault.RATE_LIMIT), (500, Fault.SERVER), (401, Fault.AUTH), (400, Fault.BAD_REQUEST)],
)
def test_embedding_server_errors_become_llm_errors(status: int, fault: Fault) -> None:
    with embedding_server() as server:
        server.status = status
        server.headers = {"Retry-After": "7"} if status == 429 else {}
        embedder = OpenAIEmbedder("openai/text-embedding-3-small", base_url=server.url)
        with pytest.raises(LLMError) as caught:
            asyncio.run(embedder.embed(["x = 1"]))
    assert caught.value.fault is fault
    if status == 429:
        assert caught.value.retry_after == 7.0


def test_malformed_embeddings_are_llm_errors() -> None:
    with embedding_server() as server:
        server.answer = lambda texts: {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [1.0]}],
            "model": "m",
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }
        embedder = OpenAIEmbedder("openai/text-embedding-3-small", base_url=server.url)
        with pytest.raises(LLMError) as caught:
            asyncio.run(embedder.embed(["a = 1", "b = 2"]))
    assert caught.value.fault is Fault.MALFORMED


def test_a_connection_refused_is_a_connection_fault() -> None:
    with embedding_server() as server:
        url = server.url
    embedder = OpenAIEmbedder("openai/text-embedding-3-small", base_url=url, timeout=5)
    with pytest.raises(LLMError) as caught:
        asyncio.run(embedder.embed(["x = 1"]))
    assert caught.value.fault is Fault.CONNECTION


def test_embeddings_are_cached_by_essence() -> None:
    # One event loop for all the calls, as in a run: the SDK's connections belong to it.
    async def go(server: EmbeddingServer) -> None:
        embeddings = Embeddings(OpenAIEmbedder("openai/m", base_url=server.url), capacity=4)
        items = [("a", "x = 1"), ("b", "x = 2"), ("a", "x = 1")]
        first = await embeddings.vectors(items)
        assert server.inputs == 2  # "a" once
        assert np.allclose(np.linalg.norm(first, axis=1), 1.0)
        again = await embeddings.vectors([("b", "ignored"), ("c", "x = 3")])
        assert server.inputs == 3
        assert np.array_equal(again[0], first[1])
        await embeddings.vectors([(str(i), f"z = {i}") for i in range(6)])
        assert len(embeddings) == 6  # at least what one call needs, then least recent out
        await embeddings.vectors([("q", "q = 1")])
        assert len(embeddings) == 6

    with embedding_server() as server:
        asyncio.run(go(server))


def test_novelty_by_embedding_end_to_end() -> None:
    members = [member(REWRITTEN, 1), member(RENAMED_CONSTANT, 2), member(PACKING, 3)]

    async def go(server: EmbeddingServer) -> None:
        check = check_of(
            method="embedding",
            embedding_model="openai/text-embedding-3-small",
            embedding_base_url=server.url,
            threshold=0.99,
        )
        verdict = await check.nearest(PROGRAM, members)
        assert verdict.method == "embedding" and verdict.note == ""
        assert verdict.neighbour_id == "p0002"
        child = lexical.essence(PROGRAM).text
        neighbour = lexical.essence(RENAMED_CONSTANT).text
        assert verdict.similarity == pytest.approx(cosine(toy_vector(child), toy_vector(neighbour)))
        assert server.inputs == 4  # the child and the three members, in one request
        assert len(server.requests) == 1
        # A comment-only variant of a member is the same essence: similarity 1, no request.
        same = await check.nearest(COSMETIC, [*members, member(PROGRAM, 4)])
        assert (same.similar, same.similarity, same.neighbour_id) == (True, 1.0, "p0004")
        assert server.inputs == 4
        await check.close()

    with embedding_server() as server:
        asyncio.run(go(server))


def test_a_failed_embedding_falls_back_to_lexical() -> None:
    with embedding_server() as server:
        server.status = 500
        check = check_of(
            method="embedding",
            embedding_model="openai/text-embedding-3-small",
            embedding_base_url=server.url,
        )
        verdict = asyncio.run(check.nearest(PROGRAM, [member(COSMETIC, 1)]))
    assert verdict.method == "lexical"
    assert "embedding failed" in verdict.note and "server" in verdict.note
    assert (verdict.similar, verdict.similarity) == (True, 1.0)


def test_an_openai_embedding_model_needs_a_key_or_a_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = NoveltyConfig(
        enabled=True, method="embedding", embedding_model="openai/text-embedding-3-small"
    )
    with pytest.raises(UserError, match="OPENAI_API_KEY"):
        from_config(config, "python")


# --- the judge ----------------------------------------------------------------------------


def test_parse_yes_and_no() -> None:
    assert parse("Yes.") is True
    assert parse("no") is False
    assert parse("**No**, it only renames a variable") is False
    assert parse("Answer: YES - different algorithm") is True
    assert parse("maybe") is None
    assert parse("") is None
    assert parse("nothing known") is None  # words that merely start with "no"


def judged_check(url: str, similarity: float, band: float = 0.1) -> NoveltyCheck:
    """A check whose judge band holds ``similarity`` (just below the threshold)."""
    return check_of(
        threshold=min(1.0, similarity + band / 2),
        judge_band=band,
        judge_model="openai/loopback-judge",
        judge_base_url=url,
    )


@pytest.mark.parametrize(("answer", "similar"), [("no", True), ("Yes.", False)])
def test_the_judge_decides_the_borderline(answer: str, similar: bool) -> None:
    members = [member(RENAMED_CONSTANT, 1)]
    value = lexical.similarity(PROGRAM, RENAMED_CONSTANT)
    seen = []

    def reply(exchange: Any) -> Reply:
        seen.append(exchange)
        return Reply(answer, tokens_in=100, tokens_out=1)

    with serve(reply) as server:
        check = judged_check(server.url + "/v1", value)
        verdict = asyncio.run(check.nearest(PROGRAM, members, key=(12, 3)))
    assert (verdict.similar, verdict.judged, verdict.similarity) == (similar, True, value)
    call = verdict.judge
    assert call is not None
    assert (call.response, call.novel, call.tokens_in, call.fault) == (answer, not similar, 100, "")
    assert call.model == "openai/loopback-judge"
    assert len(seen) == 1
    # Both programs' evolvable code is shown; the fixed text is not.
    assert "total * 0.5" in seen[0].prompt and "total * 0.25" in seen[0].prompt
    assert "def run()" not in seen[0].prompt
    assert "yes or no" in seen[0].system
    assert seen[0].body["temperature"] == 0.0


def test_the_judge_is_asked_only_in_its_band() -> None:
    members = [member(RENAMED_CONSTANT, 1)]
    value = lexical.similarity(PROGRAM, RENAMED_CONSTANT)
    with serve(lambda _ex: "no") as server:
        url = server.url + "/v1"
        above = check_of(threshold=value, judge_model="openai/j", judge_base_url=url)
        assert asyncio.run(above.nearest(PROGRAM, members)).similar
        below = check_of(
            threshold=value + 0.02, judge_band=0.01, judge_model="openai/j", judge_base_url=url
        )
        verdict = asyncio.run(below.nearest(PROGRAM, members))
        assert not verdict.similar and verdict.judge is None
        assert server.requests == []


@pytest.mark.parametrize("fault", ["500", "empty", None])
def test_a_judge_that_fails_leaves_the_threshold_decision(fault: str | None) -> None:
    members = [member(RENAMED_CONSTANT, 1)]
    value = lexical.similarity(PROGRAM, RENAMED_CONSTANT)
    with serve(
        lambda _ex: "it depends", fault_rate=1.0 if fault else 0.0, faults=[fault or "500"]
    ) as server:
        verdict = asyncio.run(judged_check(server.url + "/v1", value).nearest(PROGRAM, members))
    assert (verdict.similar, verdict.judged) == (False, False)
    call = verdict.judge
    assert call is not None and call.novel is None
    if fault == "500":
        assert call.fault == "server" and call.error
    elif fault == "empty":
        assert call.fault == "empty"
    else:
        assert call.fault == "" and call.response == "it depends"


def test_judge_prompt_cuts_long_programs() -> None:
    judge = Judge(client=None, language="python")  # type: ignore[arg-type]
    request = judge.request("a" * 50_000, "b" * 50_000)
    assert len(request.prompt) < 30_000
    assert request.temperature == 0.0


# --- the problem file -------------------------------------------------------------------


def test_problem_files_take_a_novelty_table() -> None:
    raw = {
        "name": "p",
        "initial_program": "p.py",
        "evaluator": {"path": "e.py"},
        "novelty": {"enabled": True, "threshold": 0.9, "action": "reask", "judge_band": 0.1},
    }
    config = validate_config(raw, "problem.toml")
    assert config.novelty.enabled and config.novelty.action == "reask"
    assert ProblemConfig.model_validate({**raw, "novelty": {}}).novelty == NoveltyConfig()
    for bad, said in [
        ({"threshold": 0}, "greater than 0"),
        ({"threshold": 1.5}, "less than or equal to 1"),
        ({"action": "drop"}, "reject"),
        ({"method": "embedding"}, "needs an embedding_model"),
        ({"embedding_model": "cohere/embed"}, "openai/<model>"),
        ({"embedding_model": "local/gemma-3-270m", "embedding_base_url": "http://x"}, "openai/"),
        ({"judge_base_url": "http://x"}, "needs a judge_model"),
        ({"treshold": 0.9}, "unknown key 'novelty.treshold'"),
        ({"enabled": "yes"}, "novelty.enabled"),
    ]:
        with pytest.raises(UserError, match=said):
            validate_config({**raw, "novelty": bad}, "problem.toml")


# --- the embedded model in embedding mode -------------------------------------------------


@pytest.mark.llm
def test_the_embedded_model_embeds_programs() -> None:
    embedder = LocalEmbedder("local/gemma-3-270m")
    base = lexical.essence(PACKING).text
    constant = lexical.essence(PACKING.replace("1 - 1e-9", "1 - 1e-8")).text
    other = lexical.essence(REWRITTEN).text

    async def go() -> tuple[list[list[float]], list[list[float]], float]:
        started = time.monotonic()
        first = await embedder.embed([base])
        loaded = time.monotonic() - started
        rest = await embedder.embed([base, constant, other])
        return first, rest, loaded

    try:
        first, (again, near, far), loaded = asyncio.run(go())
    finally:
        embedder.shutdown()
    assert first[0] == again  # deterministic
    assert len(again) == 640  # Gemma 3 270M's width
    assert cosine(again, near) > cosine(again, far)
    assert cosine(again, near) > 0.999
    assert loaded < 120, f"loading and one embedding took {loaded:.0f} s"


@pytest.mark.llm
def test_a_crashed_embedding_process_is_restarted() -> None:
    embedder = LocalEmbedder("local/gemma-3-270m")
    try:
        assert len(asyncio.run(embedder.embed(["x = 1"]))[0]) == 640
        pid = embedder.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(LLMError, match="restarting") as caught:
            asyncio.run(embedder.embed(["x = 1"]))
        assert caught.value.fault is Fault.CRASHED
        assert embedder.pid() is None
        assert len(asyncio.run(embedder.embed(["x = 2"]))[0]) == 640  # a new process
        assert embedder.pid() not in (None, pid)
    finally:
        embedder.shutdown()
    assert embedder.pid() is None


def test_a_model_that_keeps_crashing_is_not_started_a_third_time(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)  # llama.cpp cannot load it: the process dies
    embedder = LocalEmbedder(f"local/{bad}")
    with pytest.raises(LLMError, match="restarting") as first:
        asyncio.run(embedder.embed(["x = 1"]))
    assert first.value.fault is Fault.CRASHED
    assert "embedding model's process" in str(first.value)
    with pytest.raises(LLMError, match="twice in a row"):
        asyncio.run(embedder.embed(["x = 1"]))
    started = time.monotonic()
    with pytest.raises(LLMError, match="not started again"):
        asyncio.run(embedder.embed(["x = 1"]))
    assert time.monotonic() - started < 1


def test_an_unknown_local_embedding_model_is_an_llm_error() -> None:
    embedder = LocalEmbedder("local/no-such-model")
    with pytest.raises(LLMError, match="unknown local model"):
        asyncio.run(embedder.embed(["x = 1"]))
    assert embedder.pid() is None
