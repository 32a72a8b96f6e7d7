"""Embeddings of programs, for novelty by meaning rather than by text.

Two embedders behind one small protocol (``Embedder.embed(texts) -> vectors``):

* ``OpenAIEmbedder``: ``openai/<model>`` through the OpenAI SDK's ``embeddings.create``, or
  any OpenAI-compatible server (``base_url``). Like the chat providers, the SDK's own
  retries are off and every failure becomes an ``LLMError`` with a ``Fault``.
* ``LocalEmbedder``: ``local/gemma-3-270m`` (or ``local/PATH.gguf``), the embedded model run
  by llama.cpp in embedding mode, on the CPU, in a process of its own
  (``embed_worker.py``), so a native crash is an ``LLMError``, not a dead engine. Needs no
  key and no download: the weights ship in a Python package.

``Embeddings`` keeps what was embedded, unit-normalised, in a bounded cache keyed by the
text's digest, so a program is embedded once however many children it is compared with.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from evolve.llm.base import Fault, LLMError
from evolve.llm.local import model_path, model_threads
from evolve.llm.providers import classify
from evolve.llm.worker_process import WorkerDied, WorkerProcess

MAX_CHARS = 20_000
"""A text sent to a remote embedding model is cut to this many characters (OpenAI's models
take at most 8,191 tokens of an input)."""
BATCH = 256
"""Texts per request to a remote embedding model."""
EMPTY = "(empty)"
"""Sent in place of an empty text, which OpenAI's API refuses."""


class Embedder(Protocol):
    spec: str

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order; an ``LLMError`` when that cannot be done."""
        ...

    async def close(self) -> None: ...


def _malformed(spec: str, why: str) -> LLMError:
    return LLMError(f"{spec}: malformed embeddings ({why})", Fault.MALFORMED)


class OpenAIEmbedder:
    """``openai/<model>``; with ``base_url``, any server that speaks ``/v1/embeddings``."""

    def __init__(
        self,
        spec: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        api_key_env: str | None = None,
    ) -> None:
        from openai import AsyncOpenAI

        self.spec = spec
        self.model = spec.split("/", 1)[1]
        key = os.environ.get(api_key_env or "OPENAI_API_KEY") or (
            "not-needed" if base_url else None
        )
        self._client = AsyncOpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=0)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            batch = [t[:MAX_CHARS] if t.strip() else EMPTY for t in texts[start : start + BATCH]]
            try:
                out = await self._client.embeddings.create(
                    model=self.model, input=batch, encoding_format="float"
                )
            except Exception as exc:  # noqa: BLE001 - every SDK failure is classified
                fault, after = classify(exc)
                text = " ".join(str(exc).split())[:500]
                raise LLMError(
                    f"{self.spec}: {fault.value}: {type(exc).__name__}: {text}", fault, after
                ) from None
            vectors.extend(self._check(out, len(batch)))
        return vectors

    def _check(self, out: Any, count: int) -> list[list[float]]:
        data = list(getattr(out, "data", None) or [])
        if len(data) != count:
            raise _malformed(self.spec, f"{len(data)} vectors for {count} texts")
        try:
            data.sort(key=lambda item: int(item.index))
            vectors = [[float(x) for x in item.embedding] for item in data]
        except (AttributeError, TypeError, ValueError) as exc:
            raise _malformed(self.spec, str(exc)) from None
        widths = {len(v) for v in vectors}
        if len(widths) != 1 or 0 in widths:
            raise _malformed(self.spec, f"vectors of lengths {sorted(widths)}")
        return vectors

    async def close(self) -> None:
        await self._client.close()


def _worker(path: Path, n_ctx: int, threads: int, chunk: int) -> WorkerProcess:
    """The embedding model's process, its model loaded."""
    setup = {"path": str(path), "n_ctx": n_ctx, "n_threads": threads, "chunk": chunk}
    return WorkerProcess("evolve.novelty.embed_worker", setup, "the embedding model's process")


class LocalEmbedder:
    """A GGUF model run by llama.cpp in embedding mode, in a worker process of its own.

    The process starts on the first call (about a second, and some 600 MB of memory for
    Gemma 3 270M) and serves one text at a time, about 6 ms a token on one CPU thread (a
    program's essence of 200 tokens: 1.3 s). A crash is an ``LLMError`` (``crashed``)
    and the next call starts a new process; after a second crash in a row every call fails
    at once, with the reason.
    """

    _live: ClassVar[weakref.WeakSet[LocalEmbedder]] = weakref.WeakSet()

    def __init__(self, spec: str, n_ctx: int = 2048, chunk: int = 128) -> None:
        self.spec = spec
        self.name = spec.split("/", 1)[1]
        self.n_ctx = n_ctx
        self.chunk = chunk
        self.threads = max(1, model_threads() // 2)
        """Half the CPUs: the process runs beside the evaluations and often beside the
        embedded chat model, and llama.cpp's threads slow down sharply when they must
        share cores (on a busy 2-core machine, one thread embeds 5 times faster than two)."""
        self.tokens = 0
        """Tokens embedded so far."""
        self._worker: WorkerProcess | None = None
        self._crashes = 0
        self._broken = ""
        self._lock = threading.Lock()
        self._live.add(self)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._embed, texts)

    def _embed(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            if self._broken:
                raise LLMError(self._broken, Fault.CRASHED)
            try:
                if self._worker is None:
                    path = model_path(self.name)
                    self._worker = _worker(path, self.n_ctx, self.threads, self.chunk)
                answer = self._worker.ask({"texts": list(texts)})
            except WorkerDied as exc:
                self._stop()
                self._crashes += 1
                if self._crashes == 1:
                    raise LLMError(f"{self.spec}: {exc}; restarting it", Fault.CRASHED) from None
                self._broken = f"{self.spec}: {exc}, twice in a row; not started again"
                raise LLMError(self._broken, Fault.CRASHED) from None
            self._crashes = 0
        if "error" in answer:
            raise LLMError(f"{self.spec}: {answer['error']}", Fault.OTHER)
        vectors = answer.get("vectors")
        if not isinstance(vectors, list) or len(vectors) != len(texts):
            raise _malformed(self.spec, "the worker answered the wrong number of vectors")
        self.tokens += sum(int(n) for n in answer.get("tokens") or ())
        return vectors

    def _stop(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def pid(self) -> int | None:
        """The worker's process id (None while none runs)."""
        return self._worker.proc.pid if self._worker is not None else None

    async def close(self) -> None:
        """End the worker process (a later call starts another)."""
        await asyncio.to_thread(self.shutdown)

    def shutdown(self) -> None:
        worker = self._worker
        if worker is not None and worker.proc.poll() is None:
            worker.proc.kill()  # a call in flight ends now and lets go of the lock
        with self._lock:
            self._stop()

    @classmethod
    def shutdown_all(cls) -> None:
        for embedder in list(cls._live):
            embedder.shutdown()


atexit.register(LocalEmbedder.shutdown_all)


def make_embedder(spec: str, base_url: str | None = None, timeout: float = 60.0) -> Embedder:
    """The embedder of a model spec: ``openai/<model>`` or ``local/<name>``."""
    provider = spec.partition("/")[0]
    if provider == "local":
        return LocalEmbedder(spec)
    if provider == "openai":
        return OpenAIEmbedder(spec, base_url=base_url, timeout=timeout)
    raise LLMError(
        f"embedding model {spec!r}: use openai/<model> or local/<name>", Fault.BAD_REQUEST
    )


def unit(vector: Sequence[float]) -> np.ndarray:
    """The vector scaled to length 1 (a zero vector stays zero), as float32."""
    array = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(array))
    if not np.isfinite(norm):
        raise LLMError("an embedding holds a non-finite number", Fault.MALFORMED)
    return (array / norm if norm > 0 else array).astype(np.float32)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0.0 when either is zero)."""
    return float(np.dot(unit(a), unit(b)))


class Embeddings:
    """An embedder with a bounded cache of unit vectors by text digest."""

    def __init__(self, embedder: Embedder, capacity: int = 8192) -> None:
        self.embedder = embedder
        self.capacity = capacity
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    async def vectors(self, items: Sequence[tuple[str, str]]) -> np.ndarray:
        """The unit vectors of ``(digest, text)`` items as rows (in order), embedding in
        one call the texts not yet cached."""
        self.capacity = max(self.capacity, len(items))
        found: dict[str, np.ndarray] = {}
        missing: dict[str, str] = {}
        for digest, text in items:
            cached = self._cache.get(digest)
            if cached is not None:
                found[digest] = cached
            elif digest not in missing:
                missing[digest] = text
        if missing:
            got = await self.embedder.embed(list(missing.values()))
            if len(got) != len(missing):
                raise _malformed(self.embedder.spec, f"{len(got)} vectors for {len(missing)}")
            for digest, vector in zip(missing, got, strict=True):
                found[digest] = self._cache[digest] = unit(vector)
        for digest in found:
            if digest in self._cache:
                self._cache.move_to_end(digest)
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        rows = [found[digest] for digest, _ in items]
        if len({row.shape for row in rows}) > 1:
            raise _malformed(self.embedder.spec, "vectors of different lengths")
        return np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    def __len__(self) -> int:
        return len(self._cache)
