"""The embedded model's own process: loads a GGUF model with llama.cpp and answers calls.

``evolve.llm.local`` starts this module as a child process and talks to it over two pipes
(length-prefixed JSON, one request and one answer at a time). llama.cpp is native code:
when it crashes (a segfault, an abort, the kernel's OOM killer) it takes only this process
down, and the engine records a fault instead of dying with it.

What it does beyond plain completion:

* **Safe loading.** The model is loaded without llama.cpp's "extra buffer types" (weight
  repacking into CPU-specific layouts). On CPUs with Intel AMX that path crashes in the
  first ``decode`` (llama.cpp issue 20824); measured on the 2-core development machine it
  made no difference to speed for this model (see the README), so it is off everywhere.
* **Prefix reuse without order dependence.** A prompt is evaluated in fixed chunks of
  ``n_batch`` tokens counted from its start. The model's memory after the first ``m``
  chunks depends only on those tokens, so it is saved (keyed by their hash) and restored
  for a later prompt that starts with the same tokens: the arithmetic is the same as
  evaluating from scratch, whatever came before, so a call's answer depends on its prompt
  and seed only. The task, the fixed code and the oldest versions, shown first in every
  prompt, are then evaluated once per run instead of once per call.

* **Forced divergence.** A request may name text the answer must not begin with
  (``avoid``: the rest of the parent's function after the start the prompt already gave):
  at the first sampled position every token that is blank or whose text, less leading
  blanks, starts that text is masked, so the model's answer departs from the parent right
  where the prompt was cut instead of copying it. Later positions are sampled as usual.

Standard library and ``llama_cpp`` only; the parent's protocol lives in ``local.py``.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import struct
import sys
import threading
import time
from collections import OrderedDict
from typing import Any

_HEADER = struct.Struct("<I")


def read_message(fd: int) -> dict[str, Any] | None:
    """One framed JSON message from ``fd``; None at end of file."""
    head = _read_exactly(fd, _HEADER.size)
    if head is None:
        return None
    body = _read_exactly(fd, _HEADER.unpack(head)[0])
    if body is None:
        return None
    return json.loads(body.decode("utf-8"))


def write_message(fd: int, message: dict[str, Any]) -> None:
    data = json.dumps(message).encode("utf-8")
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _die_with_parent() -> None:
    """End this process soon after the engine's, even after a kill -9: an idle worker sees
    its request pipe close, and a busy one is stopped by this watch. (Not
    PR_SET_PDEATHSIG: that fires when the *thread* that started the worker ends, and the
    engine starts it from a pool thread.)"""
    parent = os.getppid()
    if parent == 1:  # already gone
        os._exit(0)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def disable_extra_buffer_types() -> None:
    """From now on, llama.cpp models in this process load without extra buffer types.

    llama-cpp-python builds its model parameters from ``llama_model_default_params()``
    and has no argument for this one, so the defaults themselves are changed. The process
    is the model's own (the worker, or the tests' llama.cpp server), so nothing else sees it.
    """
    import llama_cpp.llama_cpp as native

    defaults = native.llama_model_default_params
    if getattr(defaults, "_evolve_safe", False):
        return

    def safe_defaults() -> Any:
        params = defaults()
        if hasattr(params, "use_extra_bufts"):  # older bindings have no such field
            params.use_extra_bufts = False
        return params

    safe_defaults._evolve_safe = True  # type: ignore[attr-defined]
    native.llama_model_default_params = safe_defaults


def load(path: str, n_ctx: int, n_threads: int, n_batch: int) -> Any:
    """The model, loaded without extra buffer types (see the module docstring)."""
    import llama_cpp

    disable_extra_buffer_types()
    return llama_cpp.Llama(
        model_path=path,
        n_ctx=n_ctx,
        n_batch=n_batch,
        n_ubatch=n_batch,
        n_threads=n_threads,
        n_threads_batch=n_threads,
        # A full-size sliding-window cache: with the default one, old positions are
        # dropped as decoding goes on, and a saved prefix would miss them.
        swa_full=True,
        verbose=False,
        seed=0,
    )


class PrefixStates:
    """Saved model memories for prompt prefixes of whole chunks, least recently used out."""

    def __init__(self, llm: Any, budget_bytes: int) -> None:
        import llama_cpp.llama_cpp as native

        self.native = native
        self.llm = llm
        self.budget = budget_bytes
        self.states: OrderedDict[bytes, bytes] = OrderedDict()
        self.hits = 0

    @staticmethod
    def key(tokens: list[int]) -> bytes:
        return hashlib.blake2b(struct.pack(f"<{len(tokens)}i", *tokens), digest_size=16).digest()

    def save(self, tokens: list[int]) -> None:
        key = self.key(tokens)
        if key in self.states:
            self.states.move_to_end(key)
            return
        ctx = self.llm._ctx.ctx
        size = self.native.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = self.native.llama_state_seq_get_data(ctx, buffer, size, 0)
        if not written:
            return
        self.states[key] = bytes(buffer[:written])
        while sum(len(s) for s in self.states.values()) > self.budget and len(self.states) > 1:
            self.states.popitem(last=False)

    def restore(self, tokens: list[int]) -> bool:
        """Put the memory of ``tokens`` back, if saved; the model then holds exactly them."""
        state = self.states.get(self.key(tokens))
        if state is None:
            return False
        llm = self.llm
        llm.reset()
        self.native.llama_memory_clear(self.native.llama_get_memory(llm._ctx.ctx), True)
        buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        if self.native.llama_state_seq_set_data(llm._ctx.ctx, buffer, len(state), 0) != len(state):
            llm.reset()
            return False
        llm.input_ids[: len(tokens)] = tokens
        llm.n_tokens = len(tokens)
        self.states.move_to_end(self.key(tokens))
        self.hits += 1
        return True


class Openings:
    """Every token's text, indexed by its text less leading blanks, to find at once the
    tokens an answer may not begin with (built on first use: about a second for Gemma's
    262,144 tokens)."""

    def __init__(self, llm: Any) -> None:
        self.by_text: dict[str, list[int]] = {}
        self.blank: list[int] = []
        for token in range(llm.n_vocab()):
            piece = llm.detokenize([token]).decode("utf-8", "replace")
            if not piece:
                continue
            if not piece.strip():
                self.blank.append(token)
            else:
                self.by_text.setdefault(piece.lstrip(), []).append(token)

    def banned(self, avoid: str) -> list[int]:
        """Tokens that are blank or whose text (less leading blanks) starts ``avoid``."""
        found = list(self.blank)
        for end in range(1, len(avoid) + 1):
            found.extend(self.by_text.get(avoid[:end], ()))
        return found


def first_token_mask(llm: Any, start: int, banned: list[int]) -> Any:
    """A logits processor masking ``banned`` at the first sampled position only."""
    import numpy as np
    from llama_cpp import LogitsProcessorList

    ids = np.asarray(banned, dtype=np.int64)

    def mask(input_ids: Any, scores: Any) -> Any:
        if len(input_ids) == start:
            scores[ids] = -np.inf
        return scores

    return LogitsProcessorList([mask])


_OPENINGS: dict[int, Openings] = {}


def complete(llm: Any, states: PrefixStates | None, request: dict[str, Any]) -> dict[str, Any]:
    """One completion; the answer as a dict (``error`` set when the request cannot fit).

    ``stop_pattern`` (a regular expression) ends the answer where it first matches, like a
    stop string: the caller knows where an answer stops being useful (the end of the
    function), and tokens past it are seconds spent on nothing.
    """
    from llama_cpp import StoppingCriteriaList

    # special=True: as llama-cpp-python itself tokenizes a text prompt.
    tokens = llm.tokenize(request["prompt"].encode("utf-8"), special=True)
    n_ctx = llm.n_ctx()
    room = n_ctx - len(tokens) - 8
    if room < 16:
        return {
            "error": f"prompt of {len(tokens)} tokens does not fit the {n_ctx}-token context",
            "fault": "bad_request",
        }
    started = time.monotonic()
    chunk = llm.n_batch
    # Whole chunks before the last token: the last chunk is always evaluated, so sampling
    # starts from logits computed by this call.
    whole = (len(tokens) - 1) // chunk
    restored = 0
    llm.reset()
    if states is not None:
        for m in range(whole, 0, -1):
            if states.restore(tokens[: m * chunk]):
                restored = m
                break
        # Evaluate, and remember, the rest of the whole chunks one by one.
        for m in range(restored + 1, whole + 1):
            llm.eval(tokens[(m - 1) * chunk : m * chunk])
            states.save(tokens[: m * chunk])
    pattern = re.compile(request["stop_pattern"]) if request.get("stop_pattern") else None
    criteria = None
    if pattern is not None:
        start = len(tokens)

        def reached(ids: Any, _logits: Any) -> bool:
            # Called before each new token with everything evaluated so far.
            said = llm.detokenize(list(ids[start:])).decode("utf-8", "ignore")
            return pattern.search(said) is not None

        criteria = StoppingCriteriaList([reached])
    processors = None
    avoid = str(request.get("avoid") or "")[:64]
    if avoid.strip():
        openings = _OPENINGS.get(id(llm)) or _OPENINGS.setdefault(id(llm), Openings(llm))
        processors = first_token_mask(llm, len(tokens), openings.banned(avoid.lstrip()))
    out = llm.create_completion(
        tokens,
        stopping_criteria=criteria,
        max_tokens=min(int(request["max_tokens"]), room),
        temperature=float(request["temperature"]),
        top_p=0.95,
        top_k=64,
        repeat_penalty=1.0,  # a penalty breaks the copying that code edits need
        seed=int(request["seed"]) if request.get("seed") is not None else -1,
        stop=list(request.get("stop") or ()) or None,
        logits_processor=processors,
    )
    choice = out["choices"][0]
    usage = out.get("usage") or {}
    text = choice.get("text") or ""
    found = pattern.search(text) if pattern is not None else None
    if found is not None:
        text = text[: found.start()]
    return {
        "text": text,
        "tokens_in": int(usage.get("prompt_tokens", len(tokens))),
        "tokens_out": int(usage.get("completion_tokens", 0)),
        "latency": time.monotonic() - started,
        "finish_reason": str(choice.get("finish_reason") or ""),
        "reused_tokens": restored * chunk,
    }


def serve(requests: int, answers: int) -> int:
    """The worker's loop: a setup message, then one answer per request until EOF."""
    setup = read_message(requests)
    if setup is None:
        return 0
    # llama.cpp writes notes to fds 1 and 2 whatever ``verbose`` says; the parent keeps
    # stderr's tail to explain a crash, and stdout goes nowhere.
    llm = load(setup["path"], setup["n_ctx"], setup["n_threads"], setup["n_batch"])
    states = PrefixStates(llm, setup["cache_bytes"]) if setup["cache_bytes"] > 0 else None
    write_message(answers, {"ready": True, "pid": os.getpid()})
    while (request := read_message(requests)) is not None:
        write_message(answers, complete(llm, states, request))
    return 0


def main(argv: list[str]) -> int:
    _die_with_parent()
    return serve(int(argv[1]), int(argv[2]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
