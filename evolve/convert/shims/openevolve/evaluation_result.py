"""``EvaluationResult`` as OpenEvolve evaluators build it: metrics and artifacts.

Written by ``evolve convert openevolve``. ``evolve_evaluator.py`` turns it into evolve's own
result: numbers stay metrics, text (and bytes) become artifacts that evolve stores with the
candidate and shows the model next time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class EvaluationResult:
    """An evaluation's metrics (name -> number) and artifacts (name -> text or bytes)."""

    metrics: dict[str, Any]
    artifacts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, metrics: dict[str, Any]) -> EvaluationResult:
        """A result of metrics only (what a plain dict return means)."""
        return cls(metrics=metrics)

    def to_dict(self) -> dict[str, Any]:
        """The metrics alone."""
        return self.metrics

    def has_artifacts(self) -> bool:
        return bool(self.artifacts)

    def get_artifact_keys(self) -> list[str]:
        return list(self.artifacts)

    def get_artifact_size(self, key: str) -> int:
        """Bytes of one artifact (its UTF-8 text when it is not bytes); 0 when absent."""
        if key not in self.artifacts:
            return 0
        value = self.artifacts[key]
        return len(value) if isinstance(value, bytes) else len(str(value).encode("utf-8"))

    def get_total_artifact_size(self) -> int:
        return sum(self.get_artifact_size(key) for key in self.artifacts)
