"""What the model selector learns from each candidate, in iteration order.

Every LLM call of a candidate is one update of the model that made it (a model asked again
after an unusable answer, ``llm.attempts``, is updated once per call). The call whose
answer became the child, when the child was evaluated ``ok`` (valid, and novel: a repeat is
a duplicate, never evaluated), earns ``improvement_reward``: 0.5 to 1 when the child beats
its parent (its gain normalised by the spread of scores seen so far in the run), else the
small ``VALID_REWARD`` (0.05). Every other call (failed, unusable, a repeat, an invalid
child, one whose evaluation failed) earns 0. How the selector weighs these rewards against
exploration is in ``evolve.llm.selection``. Applied in iteration order, from stored rows
alone, so a resumed or replayed run's selector ends where the original's did.
"""

from __future__ import annotations

from collections.abc import Sequence

from evolve.core.objective import Objective
from evolve.core.records import Candidate, LLMCall
from evolve.core.status import CandidateStatus
from evolve.llm.ensemble import Ensemble
from evolve.llm.selection import improvement_reward


class Feedback:
    def __init__(self, ensemble: Ensemble, objective: Objective) -> None:
        self.ensemble = ensemble
        self.objective = objective
        self.low: float | None = None
        self.high: float | None = None

    def observe(
        self, program: Candidate, parent: Candidate | None, calls: Sequence[LLMCall]
    ) -> None:
        """Learn from ``program`` (the initial one included: it sets the score scale)."""
        if program.ok and program.score is not None:
            s = program.score
            self.low = s if self.low is None else min(self.low, s)
            self.high = s if self.high is None else max(self.high, s)
        ordered = sorted(calls, key=lambda c: c.call_index)
        answered = [c for c in ordered if not c.fault and not c.outcome]
        producer = (
            answered[-1] if answered and program.status is not CandidateStatus.INVALID else None
        )
        spread = (self.high - self.low) if self.low is not None and self.high is not None else 0
        for call in ordered:
            arm = self.ensemble.index_of(call.model)
            if arm is None:  # a model no longer in the ensemble (changed on resume)
                continue
            reward = 0.0
            if call is producer and program.ok and parent is not None:
                reward = improvement_reward(program.score, parent.score, self.objective, spread)
            self.ensemble.selector.update(arm, reward, call.cost)
