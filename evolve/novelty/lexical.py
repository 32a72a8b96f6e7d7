"""Lexical similarity: how much of one program's text another repeats, without a model.

A program is reduced to its *essence*: the EVOLVE-BLOCK regions only (the fixed text is the
same in every program of a run), cut into tokens with comments, blank lines and the amount
of whitespace dropped (Python keeps its indentation as the structure it is: INDENT and
DEDENT tokens, so re-indenting changes nothing and moving a line out of a block does;
a statement that is only a string, a docstring, is dropped too). Two essences are compared
by the Jaccard similarity of their sets of ``K``-token windows (shingles): 1.0 for the same
tokens, about 1 - 2K / n for one changed token in n, near 0 for a rewritten algorithm.

Comparing a child with a whole island must cost little: each program's ``Fingerprint`` (its
shingles as a sorted array, and a MinHash signature of them) is computed once and kept in a
bounded cache by code hash; a child's similarity to every member is first *estimated* from
the signatures in one vectorised step, and the exact Jaccard similarity is computed only for
the few members of highest estimate (the estimate's error is a few hundredths).
"""

from __future__ import annotations

import hashlib
import io
import re
import tokenize
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from evolve.code.blocks import COMMENT_PREFIXES, BlockError, comment_prefix, split

K = 4
"""Tokens per shingle."""
PERMUTATIONS = 256
"""Hash functions of a MinHash signature: the estimate's standard deviation is
sqrt(J (1 - J) / 256), at most 0.031, 0.019 at J = 0.9."""
EXACT = 16
"""Members whose similarity to a child is computed exactly: those of highest estimate."""

_PY_DROP = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}
_PY_STATEMENT_START = {"", "\n", "<indent>", "<dedent>"}


@dataclass(frozen=True)
class Essence:
    """What of a program is compared: its tokens, and the same as text (one line per source
    line, its indentation kept) for embedding models."""

    tokens: tuple[str, ...]
    text: str


def essence(code: str, language: str = "python") -> Essence:
    """The EVOLVE-BLOCK regions of ``code`` (all of it when unmarked or malformed), less
    comments, blank lines and the amount of whitespace."""
    try:
        regions = split(code, language).regions
    except BlockError:
        regions = (code,)
    tokens: list[str] = []
    lines: list[str] = []
    for index, region in enumerate(regions):
        if index:
            tokens.append("<region>")
            lines.append("...")
        region_tokens, region_lines = _tokens(region, language)
        tokens.extend(region_tokens)
        lines.extend(region_lines)
    return Essence(tuple(tokens), "\n".join(lines))


def _tokens(text: str, language: str) -> tuple[list[str], list[str]]:
    if language != "python":
        return _generic_tokens(text, language)
    try:
        return _python_tokens(text)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        # Not valid Python: the generic tokenizer still drops the comments.
        return _generic_tokens(text, language)


def _python_tokens(text: str) -> tuple[list[str], list[str]]:
    """Python's own tokenizer: exact about comments inside strings and about indentation."""
    found: list[tuple[str, int, int]] = []  # (token, line, column)
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type in _PY_DROP:
            continue
        if tok.type == tokenize.NEWLINE:
            found.append(("\n", tok.start[0], tok.start[1]))
        elif tok.type == tokenize.INDENT:
            found.append(("<indent>", tok.start[0], 0))
        elif tok.type == tokenize.DEDENT:
            found.append(("<dedent>", tok.start[0], 0))
        else:
            found.append((tok.string, tok.start[0], tok.start[1]))
    # A statement that is only a string (a docstring) says nothing about what the code does.
    kept: list[tuple[str, int, int]] = []
    for i, item in enumerate(found):
        if (
            item[0][-1:] in ("'", '"')
            and (kept[-1][0] if kept else "") in _PY_STATEMENT_START
            and (found[i + 1][0] if i + 1 < len(found) else "\n") == "\n"
        ):
            continue
        if item[0] == "\n" and (kept[-1][0] if kept else "") in _PY_STATEMENT_START:
            continue  # the newline that ended a dropped docstring
        kept.append(item)
    tokens = [t for t, _, _ in kept]
    source_lines = text.splitlines()
    by_line: dict[int, list[str]] = {}
    for token, line, _ in kept:
        if not token.startswith(("\n", "<")):
            by_line.setdefault(line, []).append(token)
    lines = []
    for line, words in by_line.items():
        source = source_lines[line - 1] if line - 1 < len(source_lines) else ""
        indent = source[: len(source) - len(source.lstrip())]
        lines.append(indent + " ".join(words))
    return tokens, lines


@lru_cache(maxsize=64)
def _generic_pattern(language: str) -> re.Pattern[str]:
    prefixes = COMMENT_PREFIXES.get(language, (comment_prefix(language),))
    comments = []
    if "/*" in prefixes:
        comments.append(r"/\*.*?(?:\*/|\Z)")
    comments.extend(re.escape(p) + r"[^\n]*" for p in prefixes if p != "/*")
    strings = [r'"(?:[^"\\\n]|\\.)*"', r"'(?:[^'\\\n]|\\.)*'"]
    if language == "python":
        strings = [r'"""(?:.|\n)*?(?:"""|\Z)', r"'''(?:.|\n)*?(?:'''|\Z)", *strings]
    return re.compile(
        "(?P<comment>" + "|".join(comments) + ")"
        "|(?P<token>" + "|".join(strings) + r"|[A-Za-z_]\w*|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|\S)",
        re.DOTALL,
    )


def _generic_tokens(text: str, language: str) -> tuple[list[str], list[str]]:
    """Strings, names, numbers and single punctuation characters; comments dropped."""
    tokens: list[str] = []
    by_line: dict[int, list[str]] = {}
    line, seen = 0, 0
    for match in _generic_pattern(language).finditer(text):
        token = match.group("token")
        if token is None:
            continue
        line += text.count("\n", seen, match.start())
        seen = match.start()
        tokens.append(token)
        by_line.setdefault(line, []).append(token)
    source_lines = text.splitlines()
    lines = []
    for number, words in by_line.items():
        source = source_lines[number] if number < len(source_lines) else ""
        indent = source[: len(source) - len(source.lstrip())]
        lines.append(indent + " ".join(words))
    return tokens, lines


def shingles(tokens: Sequence[str], k: int = K) -> np.ndarray:
    """The distinct ``k``-token windows of ``tokens`` as sorted 32-bit hashes (a program
    shorter than ``k`` tokens is one window; no tokens, none)."""
    if not tokens:
        return np.zeros(0, dtype=np.uint32)
    n = max(1, len(tokens) - k + 1)
    values = {zlib.crc32("\x1f".join(tokens[i : i + k]).encode("utf-8")) for i in range(n)}
    return np.array(sorted(values), dtype=np.uint32)


def _hash_parameters() -> tuple[np.ndarray, np.ndarray]:
    """The fixed multiply-shift hash functions of the signatures (the same in every process)."""
    seed = hashlib.sha256(b"evolve.novelty.minhash").digest()
    state = np.random.default_rng(int.from_bytes(seed[:8], "little"))
    a = state.integers(1, 2**63, size=PERMUTATIONS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = state.integers(0, 2**63, size=PERMUTATIONS, dtype=np.uint64)
    return a, b


_A, _B = _hash_parameters()
_EMPTY_SIGNATURE = np.full(PERMUTATIONS, np.iinfo(np.uint32).max, dtype=np.uint32)


def signature(values: np.ndarray) -> np.ndarray:
    """The MinHash signature of a shingle set: the least of each hash function over it."""
    if values.size == 0:
        return _EMPTY_SIGNATURE
    x = values.astype(np.uint64)
    with np.errstate(over="ignore"):  # multiply-shift hashing works modulo 2**64
        hashed = (_A[:, None] * x[None, :] + _B[:, None]) >> np.uint64(32)
    return hashed.min(axis=1).astype(np.uint32)


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """What comparing a program needs, computed once."""

    text: str
    """The essence as text (what an embedding model is given)."""
    shingles: np.ndarray
    signature: np.ndarray
    digest: str
    """sha256 of the essence's tokens: programs that differ only in comments and
    whitespace share it."""


def fingerprint(code: str, language: str = "python") -> Fingerprint:
    found = essence(code, language)
    values = shingles(found.tokens)
    return Fingerprint(
        text=found.text,
        shingles=values,
        signature=signature(values),
        digest=hashlib.sha256("\x1f".join(found.tokens).encode("utf-8")).hexdigest(),
    )


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted shingle arrays (two empty sets: 1.0)."""
    if a.size == 0 and b.size == 0:
        return 1.0
    common = np.intersect1d(a, b, assume_unique=True).size
    return common / (a.size + b.size - common)


def similarity(a: str, b: str, language: str = "python") -> float:
    """The lexical similarity of two programs, in [0, 1] (symmetric; 1.0 when they differ
    only in comments and whitespace)."""
    fa, fb = fingerprint(a, language), fingerprint(b, language)
    if fa.digest == fb.digest:
        return 1.0
    return jaccard(fa.shingles, fb.shingles)


class Fingerprints:
    """A bounded cache of fingerprints by code hash, least recently used out, that also
    keeps every cached signature as a row of one matrix, so the members of an island are
    compared with a child in one vectorised step without first stacking their signatures."""

    def __init__(self, language: str, capacity: int = 8192) -> None:
        self.language = language
        self.capacity = capacity
        self._cache: OrderedDict[str, tuple[Fingerprint, int]] = OrderedDict()
        self._signatures = np.empty((min(capacity, 256), PERMUTATIONS), dtype=np.uint32)
        self._free: list[int] = list(range(self._signatures.shape[0] - 1, -1, -1))

    def get(self, code: str, code_hash: str) -> tuple[Fingerprint, int]:
        """The program's fingerprint and its row in ``signatures``."""
        found = self._cache.get(code_hash)
        if found is not None:
            self._cache.move_to_end(code_hash)
            return found
        made = fingerprint(code, self.language)
        if len(self._cache) >= self.capacity:
            _, (_, row) = self._cache.popitem(last=False)
            self._free.append(row)
        if not self._free:
            self._grow()
        row = self._free.pop()
        self._signatures[row] = made.signature
        self._cache[code_hash] = (made, row)
        return made, row

    def reserve(self, count: int) -> None:
        """Room for ``count`` programs at once: fetching them all evicts none of them."""
        self.capacity = max(self.capacity, count)

    @property
    def signatures(self) -> np.ndarray:
        return self._signatures

    def _grow(self) -> None:
        old = self._signatures.shape[0]
        new = min(max(2 * old, 1), max(self.capacity, old + 1))
        grown = np.empty((new, PERMUTATIONS), dtype=np.uint32)
        grown[:old] = self._signatures
        self._signatures = grown
        self._free.extend(range(new - 1, old - 1, -1))

    def __len__(self) -> int:
        return len(self._cache)


def nearest(
    child: Fingerprint, members: Sequence[Fingerprint], signatures: np.ndarray | None = None
) -> tuple[int, float] | None:
    """The index of the member most similar to ``child`` and its exact similarity (the
    first such member on ties; None without members). ``signatures``: the members'
    signatures as rows, if already stacked.

    The similarity is estimated for every member from the signatures, and computed exactly
    for the ``EXACT`` members with the highest estimates (and every member whose essence
    is the child's): the true nearest is passed over only when ``EXACT`` others estimate
    higher than it, that is when they are all within the estimate's error of it, so the
    similarity found is then at most a few hundredths below the true one.
    """
    if not members:
        return None
    if signatures is None:
        signatures = np.stack([m.signature for m in members])
    matches = np.count_nonzero(signatures == child.signature, axis=1)
    top = np.argsort(-matches, kind="stable")[:EXACT].tolist()
    best_index, best = -1, -1.0
    for index in top:
        member = members[index]
        value = 1.0 if member.digest == child.digest else jaccard(child.shingles, member.shingles)
        if value > best or (value == best and index < best_index):
            best_index, best = index, value
    if best < 1.0:  # an identical essence ranks first only by its estimate: make sure
        for index, member in enumerate(members):
            if member.digest == child.digest:
                return index, 1.0
    return best_index, best
