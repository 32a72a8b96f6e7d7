"""The run's LLM spending: what has been spent, what proposals in flight will likely cost,
and whether another proposal still fits in ``--budget-usd``."""

from __future__ import annotations

from dataclasses import dataclass, field

from evolve.llm.ensemble import Member

# Before a model has answered once, a proposal is assumed to send this many prompt tokens
# and to receive its full ``max_tokens``.
_FIRST_PROMPT_TOKENS = 4000


@dataclass
class Budget:
    limit: float | None
    spent: float = 0.0
    _committed: dict[int, float] = field(default_factory=dict)
    _per_model: dict[str, tuple[float, int]] = field(default_factory=dict)

    def estimate(self, member: Member) -> float:
        """A proposal's likely cost on ``member``: the dearest so far, or a first guess."""
        seen = self._per_model.get(member.spec)
        guess = member.price.cost(_FIRST_PROMPT_TOKENS, member.max_tokens)
        return max(seen[0], guess / 2) if seen else guess

    def commit(self, iteration: int, member: Member) -> None:
        """A proposal starts: hold its estimate until it reports."""
        self._committed[iteration] = self.estimate(member)

    def settle(self, iteration: int, spec: str, cost: float) -> None:
        """A proposal reported (or was dropped): its real cost replaces the estimate."""
        self._committed.pop(iteration, None)
        self.spent += cost
        top, count = self._per_model.get(spec, (0.0, 0))
        self._per_model[spec] = (max(top, cost), count + 1)

    def release(self, iteration: int) -> None:
        self._committed.pop(iteration, None)

    @property
    def committed(self) -> float:
        return sum(self._committed.values())

    def exhausted(self) -> bool:
        return self.limit is not None and self.spent + self.committed >= self.limit
