"""The novelty check: is a child too similar to a program already on its island?

``NoveltyCheck.nearest(code, members)`` finds the member nearest to the child and says
whether the child is too similar to it (``NoveltyVerdict``). Similarity is lexical (token
windows, ``lexical.py``) or from embeddings (``embedding.py``; when the embedding model
fails, the lexical similarity stands in and the verdict says why). A child whose similarity
falls in the band just below the threshold may be put to an LLM judge (``judge.py``), whose
"no, not meaningfully different" makes it too similar; a judge that fails or answers
neither yes nor no leaves the threshold's decision.

The answer depends only on the child's code and the members' codes (and the judge's
answer): members are considered oldest first (by iteration, then id), so among equally
similar members the oldest is the neighbour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evolve.code.blocks import BlockError, split
from evolve.config import ModelConfig, NoveltyConfig
from evolve.core.records import Candidate, code_hash
from evolve.errors import UserError
from evolve.llm.base import LLMError
from evolve.novelty import lexical
from evolve.novelty.embedding import Embedder, Embeddings, make_embedder
from evolve.novelty.judge import Judge, JudgeCall


@dataclass(frozen=True)
class NoveltyVerdict:
    """How a child compares with the members of its island."""

    similar: bool
    """Too similar: reject it (or ask again)."""
    similarity: float
    """To the nearest member, in [0, 1] (0.0 when there were no members)."""
    neighbour_id: str | None
    """The nearest member (None when there were none)."""
    method: str
    """``lexical`` or ``embedding``: what measured ``similarity``."""
    judged: bool = False
    """The judge's answer decided ``similar`` (the similarity was in the judge's band)."""
    judge: JudgeCall | None = None
    """The judge's call, answered or failed, when one was made: to be recorded."""
    note: str = ""
    """Why ``method`` is not the configured one (the embedding model's failure)."""

    @property
    def reason(self) -> str:
        """One line for a rejected child's record."""
        if self.neighbour_id is None:
            return "novel: no program on its island to compare with"
        verb = "too similar to" if self.similar else "novel; nearest"
        said = ", judged the same idea" if self.judged and self.similar else ""
        said = ", judged different" if self.judged and not self.similar else said
        return f"{verb} {self.neighbour_id} ({self.method} similarity {self.similarity:.3f}{said})"


class NoveltyCheck:
    """Compares a child with its island's members (see the module docstring)."""

    def __init__(
        self,
        config: NoveltyConfig,
        language: str,
        *,
        embedder: Embedder | None = None,
        judge: Judge | None = None,
        cache_size: int = 8192,
    ) -> None:
        if config.method == "embedding" and embedder is None:
            raise ValueError('method = "embedding" needs an embedder')
        self.config = config
        self.language = language
        self.fingerprints = lexical.Fingerprints(language, cache_size)
        self.embeddings = Embeddings(embedder, cache_size) if embedder is not None else None
        self.judge = judge

    async def nearest(
        self,
        code: str,
        members: Sequence[Candidate],
        *,
        key: tuple[int, int] | None = None,
    ) -> NoveltyVerdict:
        """The member nearest to ``code`` and whether ``code`` is too similar to it.
        ``key``: (iteration, call number) for the judge's call, if one is made."""
        ordered = sorted(members, key=lambda m: (m.iteration, m.id))
        method = self.config.method
        if not ordered:
            return NoveltyVerdict(False, 0.0, None, method)
        note = ""
        found: tuple[int, float] | None = None
        if self.embeddings is not None and method == "embedding":
            try:
                found = await self._by_embedding(code, ordered)
            except LLMError as exc:
                method, note = "lexical", f"embedding failed, lexical similarity used: {exc}"
        if found is None:
            found = self._by_tokens(code, ordered)
        index, similarity = found
        neighbour = ordered[index]
        similar = similarity >= self.config.threshold
        verdict = NoveltyVerdict(similar, similarity, neighbour.id, method, note=note)
        if self.judge is not None and not similar and self._borderline(similarity):
            call = await self.judge.ask(self._shown(code), self._shown(neighbour.code), key)
            if call.novel is None:
                return NoveltyVerdict(False, similarity, neighbour.id, method, False, call, note)
            return NoveltyVerdict(
                not call.novel, similarity, neighbour.id, method, True, call, note
            )
        return verdict

    def _borderline(self, similarity: float) -> bool:
        low = self.config.threshold - self.config.judge_band
        return self.config.judge_band > 0 and low <= similarity < self.config.threshold

    def _by_tokens(self, code: str, members: Sequence[Candidate]) -> tuple[int, float]:
        """Lexical nearest. Synchronous from start to end: the cache's signature rows are
        read before any other check can change them."""
        cache = self.fingerprints
        cache.reserve(len(members) + 1)
        child, _ = cache.get(code, code_hash(code))
        prints, rows = [], []
        for member in members:
            fingerprint, row = cache.get(member.code, member.code_hash)
            prints.append(fingerprint)
            rows.append(row)
        signatures = cache.signatures[np.asarray(rows, dtype=np.intp)]
        found = lexical.nearest(child, prints, signatures)
        assert found is not None  # members is not empty
        return found

    async def _by_embedding(self, code: str, members: Sequence[Candidate]) -> tuple[int, float]:
        assert self.embeddings is not None
        cache = self.fingerprints
        cache.reserve(len(members) + 1)
        child, _ = cache.get(code, code_hash(code))
        prints = [cache.get(m.code, m.code_hash)[0] for m in members]
        items = [(child.digest, child.text)]
        items.extend((p.digest, p.text) for p in prints)
        vectors = await self.embeddings.vectors(items)
        scores = vectors[1:].astype(np.float64) @ vectors[0].astype(np.float64)
        for i, fingerprint in enumerate(prints):
            if fingerprint.digest == child.digest:
                scores[i] = 1.0  # the same essence: exactly, not to float32's precision
        scores = np.clip(scores, 0.0, 1.0)
        index = int(np.argmax(scores))  # the first, the oldest, on ties
        value = float(scores[index])
        if not math.isfinite(value):
            raise LLMError("the embeddings gave a non-finite similarity")
        return index, value

    def _shown(self, code: str) -> str:
        """What the judge sees of a program: its evolvable regions (all of it if unmarked)."""
        try:
            regions = split(code, self.language).regions
        except BlockError:
            return code
        return "\n...\n".join(region.strip("\n") for region in regions)

    async def close(self) -> None:
        """Let go of the embedding model (its process) and the judge's client."""
        if self.embeddings is not None:
            await self.embeddings.embedder.close()
        close = getattr(self.judge.client, "close", None) if self.judge is not None else None
        if close is not None:
            await close()


def from_config(
    config: NoveltyConfig, language: str, *, timeout: float = 300.0
) -> NoveltyCheck | None:
    """The run's novelty check (None when ``config.enabled`` is false). A model that cannot
    be used as written (an unknown provider, a missing key) is a ``UserError`` here, before
    the run starts. ``timeout``: seconds for one call of the embedding model or the judge."""
    if not config.enabled:
        return None
    from evolve.llm.ensemble import check_spec, make_client
    from evolve.llm.pricing import price_of

    embedder = None
    if config.method == "embedding":
        assert config.embedding_model is not None  # the config's own check
        try:
            check_spec(config.embedding_model, config.embedding_base_url)
        except UserError as exc:
            raise UserError(f"novelty.embedding_model: {exc}") from None
        embedder = make_embedder(config.embedding_model, config.embedding_base_url, timeout)
    judge = None
    if config.judge_model is not None:
        model = ModelConfig(name=config.judge_model, base_url=config.judge_base_url)
        try:
            client = make_client(model, timeout)
        except UserError as exc:
            raise UserError(f"novelty.judge_model: {exc}") from None
        judge = Judge(client, price_of(model), language)
    return NoveltyCheck(config, language, embedder=embedder, judge=judge)
