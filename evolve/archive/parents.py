"""Parent selection: which program of an island the next child is made from, and which
programs are shown beside it as inspirations (``search.parent_selection``,
``search.inspiration_selection``).

Notation. An island's members are ranked best first, r = 1 .. n (ties: the older first);
g(a, b) = ``Objective.gain(a, b)``, how much better score a is than score b in the
problem's direction (the only way scores are compared here); s* is the island's best
score and Δ = g(s*, s_worst) its spread. With T = ``search.temperature``:

- ``mixed`` (the default, the rule of earlier versions): with chance
  ``exploration_ratio`` a uniformly random elite of the island's grid, with chance
  ``exploitation_ratio`` one of its top ``elite_pool``, else its best.
- ``boltzmann``: p_i ∝ exp(g(s_i, s*) / (T Δ)); the exponent lies in [-1/T, 0].
- ``power_law``: p_i ∝ r_i^-α, α = ``search.power`` (0: uniform).
- ``weighted`` (ShinkaEvolve's): p_i ∝ σ(g(s_i, s_med) / (T Δ)) / (1 + c_i), σ the
  logistic function, s_med the median member's score, c_i the children of program i
  applied so far (valid or not; counted by the archive as candidates are applied).
  ShinkaEvolve scales by the median absolute deviation; the spread keeps one
  normalisation for every rule here.
- ``clusters`` (FunSearch's): members with the same signature (``search.cluster_by``:
  the score, or every metric, rounded to 10 significant digits) form a cluster C whose
  score s_C is its best member's; a cluster is drawn with p_C ∝ exp(g(s_C, s*) /
  (T_m Δ_C)), Δ_C the spread of the cluster scores and T_m = T (1 - (m mod P) / P) with m
  the programs that have joined the island so far and P = ``search.temperature_period``;
  then a member of it with p_i ∝ exp(-(ℓ_i - ℓ_min) / (ℓ_max + 10⁻⁶)), ℓ the code's
  length in characters (shorter code preferred).
- ``initial``: always the initial program (iteration 0): repeated sampling, a baseline.
- ``best``: always the best program of the whole archive: hill climbing, a baseline.

A zero spread (every score equal) makes the score-based rules uniform. The baselines
take no inspirations, so nothing else the run found reaches the prompt. Otherwise
``search.num_inspirations`` programs, never the parent nor one another:

- ``mixed`` (the default): the island's best elite other than the parent, then uniformly
  random other elites.
- ``same``: drawn by the parent's own rule without repeats (``mixed`` as a distribution:
  p_i = ε [i elite] / E + ξ [r_i ≤ K] / min(K, n) + (1 - ε - ξ) [r_i = 1]); when the
  rule gives no weight to what is left, the best-ranked programs left.
- ``diverse``: elites of other cells, p_e ∝ Σ_d |b_d(e) - b_d(parent)|, the L1 distance
  in bins between the elite's cell and the parent's (elites of the parent's cell never).

Every draw comes from the ``random.Random`` stream it is given, so the same archive and
the same seed give the same draws. Cost: ``mixed`` and the baselines O(log n),
``power_law`` O(log n) (its running totals depend only on α and n and are kept), the
other rules O(n) to weigh the island, n at most ``search.population_size`` (beyond it
only when an island's elites alone outnumber it); drawing k inspirations from weights
O(k² + k log n).
"""

from __future__ import annotations

import itertools
import math
import random
from bisect import bisect_right, insort
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import overload

from sortedcontainers import SortedKeyList

from evolve.archive.map_elites import Cell, rank_key_of
from evolve.archive.population import Island
from evolve.config import SearchConfig
from evolve.core.objective import Objective
from evolve.core.records import Candidate

_DIGITS = 10
"""Significant digits of a cluster signature's values."""
_PRECISE = 1e-9
"""Below this share of the total weight, running totals are too coarse: draw by a scan."""


@dataclass(frozen=True)
class View:
    """What a draw sees: one island, and the few facts it needs about the rest."""

    island: Island
    children: Callable[[Candidate], int]
    """How many children of a program have been applied (its novelty, for ``weighted``)."""
    cell_of: Callable[[Candidate], Cell]
    """The MAP-Elites cell of any program."""
    initial: Candidate | None
    """The initial program (iteration 0), if it was valid."""
    best: Candidate | None
    """The best program of all islands."""


class Weights:
    """A weighted choice over a sequence, by running totals of the weights: one draw is one
    ``rng.random()`` and a bisection, O(log n); draws without repeats skip the weight of
    what was taken, O(k) each."""

    def __init__(
        self,
        items: Sequence[Candidate],
        raw: Sequence[float],
        totals: Sequence[float],
        n: int | None = None,
    ) -> None:
        self.items, self.raw, self.totals = items, raw, totals
        self.n = len(items) if n is None else n
        """How many items there are (``raw`` and ``totals`` may be longer: a kept table)."""

    @classmethod
    def of(cls, items: Sequence[Candidate], weights: Iterable[float]) -> Weights:
        """From one weight per item; a negative, NaN or infinite weight counts as 0."""
        raw = [w if 0 < w < math.inf else 0.0 for w in weights]
        return cls(items, raw, list(itertools.accumulate(raw)))

    def draw(self, rng: random.Random, taken: Sequence[int] = (), fallback: bool = True) -> int:
        """An index by weight, never one in ``taken`` (ascending), or -1 when none is left.
        With no weight left: the first free index when ``fallback``, else -1."""
        n, raw, totals = self.n, self.raw, self.totals
        if len(taken) >= n:
            return -1
        total = totals[n - 1]
        left = total - sum(raw[t] for t in taken)
        if not left > total * _PRECISE:
            return self._scan(rng, taken, fallback)
        x = rng.random() * left
        for t in taken:  # from the line without the taken weights onto the whole line
            if totals[t] - raw[t] <= x:
                x += raw[t]
            else:
                break
        index = bisect_right(totals, x, 0, n)
        if index >= n or raw[index] <= 0 or index in taken:  # rounding at an edge
            index = next(
                (i for i in range(min(index, n - 1), -1, -1) if raw[i] > 0 and i not in taken),
                -1,
            )
            if index < 0:
                return self._scan(rng, taken, fallback)
        return index

    def _scan(self, rng: random.Random, taken: Sequence[int], fallback: bool) -> int:
        """The exact draw over the free items, O(n): for when little weight is left."""
        chosen = set(taken)
        free = [i for i in range(self.n) if i not in chosen]
        left = math.fsum(self.raw[i] for i in free)
        if left > 0:
            x = rng.random() * left
            for i in free:
                x -= self.raw[i]
                if x < 0 and self.raw[i] > 0:
                    return i
            return max((i for i in free if self.raw[i] > 0), default=-1)
        return free[0] if fallback and free else -1

    def sample(
        self, rng: random.Random, count: int, exclude: int | None, fallback: bool = True
    ) -> list[Candidate]:
        """Up to ``count`` distinct items by weight, never the one at ``exclude``."""
        taken = [] if exclude is None else [exclude]
        out: list[Candidate] = []
        while len(out) < count:
            index = self.draw(rng, taken, fallback)
            if index < 0:
                break
            insort(taken, index)
            out.append(self.items[index])
        return out


class ParentSampler:
    """Draws a parent and its inspirations from an island by the configured rules."""

    def __init__(self, search: SearchConfig, objective: Objective) -> None:
        self.search = search
        self.objective = objective
        self._rank = rank_key_of(objective)
        self._power_raw: list[float] = []
        self._power_totals: list[float] = []
        """Running totals of r^-α for r = 1, 2, ...: they depend on nothing but n."""

    def sample(self, view: View, rng: random.Random) -> tuple[Candidate, list[Candidate]]:
        """A parent and its inspirations (the island must hold a program)."""
        rule = self.search.parent_selection
        if rule == "initial":
            if view.initial is None:
                raise RuntimeError("the initial program is not in the archive")
            return view.initial, []
        if rule == "best":
            assert view.best is not None  # the island holds a program
            return view.best, []
        table: Weights | None = None
        if rule == "mixed":
            parent = self._mixed(view.island, rng)
            index = None
        else:
            table = self.weights(view)
            index = table.draw(rng)
            parent = table.items[index]
        how = self.search.inspiration_selection
        if how == "mixed":
            return parent, self._mixed_inspirations(view.island, parent, rng)
        wanted = self.search.num_inspirations
        if not wanted:
            return parent, []
        if how == "diverse":
            return parent, self._diverse(view, parent, rng)
        if table is None:
            table = self._mixed_weights(view.island)
            index = self._position(view.island, parent)
        return parent, table.sample(rng, wanted, index)

    # the default rule ----------------------------------------------------------------
    def _mixed(self, pool: Island, rng: random.Random) -> Candidate:
        search, grid = self.search, pool.grid
        r = rng.random()
        if r < search.exploration_ratio and len(grid):
            return rng.choice(grid.by_age)
        if r < search.exploration_ratio + search.exploitation_ratio:
            return rng.choice(pool.top(search.elite_pool))
        return pool.ranked[0]

    def _mixed_inspirations(
        self, pool: Island, parent: Candidate, rng: random.Random
    ) -> list[Candidate]:
        """The best elite other than the parent, then a random sample of the other elites."""
        grid = pool.grid
        skip = None
        if grid.holds(parent.code_hash):
            skip = grid.by_rank.bisect_key_left(self._rank(parent))
        others = _Skipping(grid.by_rank, skip)
        inspirations: list[Candidate] = []
        wanted = self.search.num_inspirations
        if len(others) and wanted:
            inspirations.append(others[0])  # the island's best other elite
            rest = _Skipping(grid.by_rank, skip, start=1)
            inspirations.extend(rng.sample(rest, min(wanted - 1, len(rest))))
        return inspirations

    def _mixed_weights(self, pool: Island) -> Weights:
        """``mixed`` as a distribution over the island, best first."""
        s, grid, n = self.search, pool.grid, len(pool)
        explore = s.exploration_ratio if len(grid) else 0.0
        exploit = s.exploration_ratio + s.exploitation_ratio - explore
        top = min(s.elite_pool, n)
        rest = max(0.0, 1.0 - s.exploration_ratio - s.exploitation_ratio)
        weights = (
            (explore / len(grid) if grid.holds(p.code_hash) else 0.0)
            + (exploit / top if r < top else 0.0)
            + (rest if r == 0 else 0.0)
            for r, p in enumerate(pool.ranked)
        )
        return Weights.of(pool.ranked, weights)

    def _position(self, pool: Island, program: Candidate) -> int | None:
        """Where a member stands in the island's ranking (None: not a member)."""
        index = pool.ranked.bisect_key_left(self._rank(program))
        if index < len(pool.ranked) and pool.ranked[index].code_hash == program.code_hash:
            return index
        return None

    # rules by weight -----------------------------------------------------------------
    def weights(self, view: View) -> Weights:
        """The configured rule's weights over the island's members, best first."""
        pool, rule = view.island, self.search.parent_selection
        if rule == "power_law":
            return self._power_law(pool)
        if rule == "boltzmann":
            return self._boltzmann(pool)
        if rule == "weighted":
            return self._weighted(pool, view.children)
        if rule == "clusters":
            return self._clusters(pool)
        if rule == "mixed":
            return self._mixed_weights(pool)
        raise ValueError(f"parent selection {rule!r} draws no weights")

    def _spread(self, pool: Island) -> float:
        """Δ = g(best, worst): the island's spread of scores (≥ 0)."""
        best, worst = pool.ranked[0], pool.ranked[-1]
        return self.objective.gain(best.score, worst.score)  # type: ignore[arg-type]

    def _boltzmann(self, pool: Island) -> Weights:
        gain, ranked = self.objective.gain, pool.ranked
        best = ranked[0].score
        scale = self.search.temperature * self._spread(pool)
        if not 0 < scale < math.inf:
            return Weights.of(ranked, (1.0 for _ in ranked))
        return Weights.of(ranked, (math.exp(gain(p.score, best) / scale) for p in ranked))

    def _power_law(self, pool: Island) -> Weights:
        raw, totals, alpha = self._power_raw, self._power_totals, self.search.power
        for r in range(len(raw) + 1, len(pool) + 1):
            raw.append(r**-alpha)
            totals.append((totals[-1] if totals else 0.0) + raw[-1])
        return Weights(pool.ranked, raw, totals, len(pool))

    def _weighted(self, pool: Island, children: Callable[[Candidate], int]) -> Weights:
        gain, ranked = self.objective.gain, pool.ranked
        median = pool.median().score  # type: ignore[union-attr]
        scale = self.search.temperature * self._spread(pool)
        if not 0 < scale < math.inf:
            scale = math.inf  # every score equal: the novelty alone decides
        return Weights.of(
            ranked,
            (_sigmoid(gain(p.score, median) / scale) / (1 + children(p)) for p in ranked),
        )

    def _clusters(self, pool: Island) -> Weights:
        gain, ranked, search = self.objective.gain, pool.ranked, self.search
        clusters: dict[tuple, list[tuple[int, int]]] = {}  # (index, code length) best first
        signature = self._signature
        for index, program in enumerate(ranked):
            clusters.setdefault(signature(program), []).append((index, len(program.code)))
        best = ranked[0].score
        # a cluster's score is its first (best) member's
        gaps = [gain(ranked[group[0][0]].score, best) for group in clusters.values()]
        spread = -min(gaps)
        period = search.temperature_period
        scale = search.temperature * (1 - (pool.joined % period) / period) * spread
        weights = [0.0] * len(ranked)
        for gap, group in zip(gaps, clusters.values(), strict=True):
            share = math.exp(gap / scale) if 0 < scale < math.inf else 1.0
            shortest = min(length for _, length in group)
            longest = max(length for _, length in group) + 1e-6
            within = [math.exp(-(length - shortest) / longest) for _, length in group]
            share /= math.fsum(within)
            for (index, _), w in zip(group, within, strict=True):
                weights[index] = share * w
        return Weights.of(ranked, weights)

    def _signature(self, program: Candidate) -> tuple:
        if self.search.cluster_by == "score":
            return (_rounded(program.score),)
        return tuple((name, _rounded(v)) for name, v in sorted(program.metrics.items()))

    # inspirations --------------------------------------------------------------------
    def _diverse(self, view: View, parent: Candidate, rng: random.Random) -> list[Candidate]:
        grid = view.island.grid
        home = grid.cell_of(parent.code_hash)
        if home is None:
            home = view.cell_of(parent)
        elites: Sequence[Candidate] = grid.by_rank
        distances = (_distance(grid.cell_of(e.code_hash) or home, home) for e in elites)
        table = Weights.of(elites, distances)
        return table.sample(rng, self.search.num_inspirations, None, fallback=False)


def _distance(a: Cell, b: Cell) -> int:
    """The L1 distance between two cells, in bins."""
    return sum(abs(x - y) for x, y in zip(a, b, strict=True))


def _sigmoid(x: float) -> float:
    """The logistic function, without overflow."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@lru_cache(maxsize=1 << 14)
def _rounded(value: float | None) -> float | str:
    """A signature's value: 10 significant digits, so float noise does not split a cluster
    (kept for the values seen last: a draw rounds every member's)."""
    if value is None or not math.isfinite(value):
        return repr(value)
    return float(f"{value:.{_DIGITS}g}")


class _Skipping(Sequence[Candidate]):
    """A kept-sorted list seen from ``start`` on, without the item at index ``skip``: what
    ``random.sample`` draws from, indexed in O(log n) instead of copied."""

    def __init__(self, base: SortedKeyList, skip: int | None, start: int = 0) -> None:
        self.base, self.skip, self.start = base, skip, start

    def __len__(self) -> int:
        return max(0, len(self.base) - (self.skip is not None) - self.start)

    def __iter__(self) -> Iterator[Candidate]:
        # What ``random.sample`` copies when the sequence is short: one pass, no lookups.
        kept = (p for i, p in enumerate(self.base) if i != self.skip)
        return itertools.islice(kept, self.start, None)

    @overload
    def __getitem__(self, index: int) -> Candidate: ...
    @overload
    def __getitem__(self, index: slice) -> list[Candidate]: ...
    def __getitem__(self, index: int | slice) -> Candidate | list[Candidate]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        position = index + self.start
        if self.skip is not None and position >= self.skip:
            position += 1
        return self.base[position]
