"""The embedding model's own process: loads a GGUF model with llama.cpp in embedding mode
and answers requests for embeddings.

``evolve.novelty.embedding.LocalEmbedder`` starts this module as a child process and talks
to it over two pipes (the framing of ``evolve.llm.local_worker``: length-prefixed JSON, one
request and one answer at a time), so that a native crash takes only this process down.

A text's embedding is the mean of the model's last hidden states over its tokens (the
first ``n_ctx``). The tokens are evaluated in chunks of ``chunk`` tokens, one after the
other in one sequence: in embedding mode llama.cpp computes the output layer for every
token of a batch, and with Gemma's 262,144-token vocabulary that costs a megabyte per
token, so a whole program in one batch would need gigabytes; chunk by chunk it needs
``chunk`` megabytes, and the mean is the same as llama.cpp's own mean pooling.

Standard library, numpy and ``llama_cpp`` only.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from evolve.llm.local_worker import (
    _die_with_parent,
    disable_extra_buffer_types,
    read_message,
    write_message,
)


def load(path: str, n_ctx: int, n_threads: int, chunk: int) -> Any:
    """The model in embedding mode, per-token outputs, without extra buffer types."""
    import llama_cpp

    disable_extra_buffer_types()
    return llama_cpp.Llama(
        model_path=path,
        embedding=True,
        pooling_type=llama_cpp.LLAMA_POOLING_TYPE_NONE,
        n_ctx=n_ctx,
        n_batch=chunk,
        n_ubatch=chunk,
        n_threads=n_threads,
        n_threads_batch=n_threads,
        swa_full=True,
        verbose=False,
        seed=0,
    )


def embed(llm: Any, text: str) -> tuple[list[float], int]:
    """The mean of the last hidden states over the text's first ``n_ctx`` tokens, and how
    many tokens that was."""
    import llama_cpp
    import numpy as np

    tokens = llm.tokenize(text.encode("utf-8"))[: llm.n_ctx()]
    width = llm.n_embd()
    total = np.zeros(width, dtype=np.float64)
    chunk = llm.n_batch
    llm._ctx.kv_cache_clear()
    try:
        for start in range(0, len(tokens), chunk):
            part = tokens[start : start + chunk]
            llm._batch.set_batch(part, n_past=start, logits_all=True)
            llm._ctx.decode(llm._batch)
            pointer = llama_cpp.llama_get_embeddings(llm._ctx.ctx)
            states = np.ctypeslib.as_array(pointer, shape=(len(part) * width,))
            total += states.reshape(len(part), width).sum(axis=0, dtype=np.float64)
    finally:
        llm._ctx.kv_cache_clear()
    return (total / max(1, len(tokens))).tolist(), len(tokens)


def serve(requests: int, answers: int) -> int:
    """A setup message, then one answer per request until EOF."""
    setup = read_message(requests)
    if setup is None:
        return 0
    llm = load(setup["path"], setup["n_ctx"], setup["n_threads"], setup["chunk"])
    write_message(answers, {"ready": True, "pid": os.getpid(), "width": llm.n_embd()})
    while (request := read_message(requests)) is not None:
        try:
            vectors, counts = [], []
            for text in request["texts"]:
                vector, count = embed(llm, text)
                vectors.append(vector)
                counts.append(count)
            answer: dict[str, Any] = {"vectors": vectors, "tokens": counts}
        except Exception as exc:  # noqa: BLE001 - a failed decode is an answer, not a crash
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        write_message(answers, answer)
    return 0


def main(argv: list[str]) -> int:
    _die_with_parent()
    return serve(int(argv[1]), int(argv[2]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
