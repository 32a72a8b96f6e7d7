"""Feature descriptors: where a program sits in the MAP-Elites grid.

A dimension is a built-in descriptor of the code (``code_length``, ``line_count``) or any
metric the evaluator returns. Its range is fixed by ``min``/``max`` in the problem file, or
else grows with the values seen (the grid is re-binned when it does).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from evolve.config import FeatureConfig
from evolve.core.records import Candidate

BUILTIN: dict[str, Callable[[Candidate], float]] = {
    "code_length": lambda p: float(len(p.code)),
    "line_count": lambda p: float(p.code.count("\n") + 1),
}


@dataclass
class Dimension:
    name: str
    bins: int
    low: float | None
    high: float | None
    fixed: bool

    @classmethod
    def from_config(cls, config: FeatureConfig) -> Dimension:
        fixed = config.min is not None and config.max is not None
        return cls(config.name, config.bins, config.min, config.max, fixed)

    def value(self, program: Candidate) -> float:
        """The descriptor's value for a program (0 when the evaluator did not report it)."""
        if self.name in BUILTIN:
            return BUILTIN[self.name](program)
        v = program.metrics.get(self.name)
        return v if v is not None and math.isfinite(v) else 0.0

    def observe(self, value: float) -> bool:
        """Widen an adaptive range to include ``value``; True when the range changed."""
        if self.fixed:
            return False
        changed = False
        if self.low is None or value < self.low:
            self.low, changed = value, True
        if self.high is None or value > self.high:
            self.high, changed = value, True
        return changed

    def bin(self, value: float) -> int:
        low = self.low if self.low is not None else value
        high = self.high if self.high is not None else value
        if high <= low:
            return 0
        index = int((value - low) / (high - low) * self.bins)
        return min(max(index, 0), self.bins - 1)
