"""The records the engine's parts pass each other and the store keeps: a ``Candidate`` (one
iteration's program with its lineage, outcome and cost) and an ``LLMCall``.

Their fields are listed here and nowhere else: the store's rows, the CLI's JSON, the export
columns, the UI's payloads and the notebook's DataFrames are all made from
``Candidate.to_dict`` / ``Candidate.from_dict`` (and the same pair on ``LLMCall``). Each
quantity has one name, the same in Python, in the database and in every output.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from evolve.core.status import CandidateStatus


def code_hash(code: str) -> str:
    """The identity of a program's text (duplicates share it)."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Candidate:
    """One candidate of a run, as stored: code, lineage, outcome and cost."""

    id: str
    run_id: str
    iteration: int
    code: str
    island: int
    generation: int
    status: CandidateStatus
    score: float | None = None
    """The primary metric (None unless evaluated without error)."""
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    """Why it is not ``ok``, in one line."""
    parent_id: str | None = None
    mate_id: str | None = None
    """The second parent of a crossover child (``search.crossover_rate``)."""
    inspiration_ids: tuple[str, ...] = ()
    cell: tuple[int, ...] | None = None
    """Its MAP-Elites cell on its island, as of its turn in iteration order."""
    diff: str = ""
    """Unified diff against the parent."""
    model: str = ""
    """The model that answered (after any fallbacks)."""
    selected_model: str = ""
    """The model the ensemble chose for the iteration."""
    mutation: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    """USD spent on this candidate's LLM calls."""
    llm_seconds: float = 0.0
    eval_seconds: float = 0.0
    engine_seconds: float = 0.0
    """The controller's own work for this candidate: drawing it, building and committing
    its record, applying it to the archive."""
    wait_seconds: float = 0.0
    """Backoff between retries, waiting for an evaluation slot or an earlier twin."""
    duplicate_of: str | None = None
    stage: int = 0
    """The evaluation-cascade stage reached (0: never evaluated)."""
    created_at: float = 0.0
    code_hash: str = ""
    """sha256 of ``code``; filled in when not given."""

    FIELDS: ClassVar[tuple[str, ...]]
    """Every field's name, in order: the one list of what a candidate record holds."""

    def __post_init__(self) -> None:
        if not self.code_hash:
            object.__setattr__(self, "code_hash", code_hash(self.code))
        if not isinstance(self.status, CandidateStatus):
            object.__setattr__(self, "status", CandidateStatus(self.status))

    @property
    def ok(self) -> bool:
        """Evaluated without error, with a score: it can join the archive."""
        return self.status is CandidateStatus.OK and self.score is not None

    def to_dict(self, *, code: bool = True) -> dict[str, Any]:
        """The record as JSON-able values (lists for tuples, the status's value, non-finite
        metrics as None), ``code`` and ``diff`` left out when ``code`` is False."""
        out = {name: getattr(self, name) for name in self.FIELDS}  # shallow: asdict deep-copies
        out["artifacts"] = dict(self.artifacts)
        out["status"] = self.status.value
        out["inspiration_ids"] = list(self.inspiration_ids)
        out["cell"] = list(self.cell) if self.cell is not None else None
        out["metrics"] = {k: _finite(v) for k, v in self.metrics.items()}
        if not code:
            del out["code"], out["diff"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        """The record from ``to_dict``'s output or a database row's columns (extra keys are
        ignored, missing optional ones take their defaults)."""
        values = {k: data[k] for k in cls.FIELDS if k in data}
        values["status"] = CandidateStatus(values["status"])
        values["inspiration_ids"] = tuple(values.get("inspiration_ids") or ())
        cell = values.get("cell")
        values["cell"] = tuple(cell) if cell is not None else None
        values["metrics"] = {
            k: (math.nan if v is None else v) for k, v in (values.get("metrics") or {}).items()
        }
        values["artifacts"] = dict(values.get("artifacts") or {})
        return cls(**values)


Candidate.FIELDS = tuple(f.name for f in fields(Candidate))


@dataclass(frozen=True)
class LLMCall:
    """One exchange with a model, as stored (successful or not)."""

    run_id: str
    iteration: int
    model: str
    prompt: str
    response: str
    program_id: str | None = None
    """The candidate the call belongs to (None for calls of an iteration that never became one)."""
    tokens_in: int = 0
    tokens_out: int = 0
    latency: float = 0.0
    seed: int | None = None
    temperature: float | None = None
    error: str = ""
    call_index: int = 0
    """The call's number within its iteration (the key of replay)."""
    fault: str = ""
    """Why the call failed (rate_limit, server, timeout, ...); empty when answered."""
    outcome: str = ""
    """Why an answered call gave no child; empty for the answer that did."""
    cost: float = 0.0
    """USD."""
    created_at: float = field(default=0.0, compare=False)
    """When it was stored (set by the store when 0)."""

    FIELDS: ClassVar[tuple[str, ...]]

    @property
    def failed(self) -> bool:
        return bool(self.fault)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LLMCall:
        return cls(**{k: data[k] for k in cls.FIELDS if k in data})


LLMCall.FIELDS = tuple(f.name for f in fields(LLMCall))


@dataclass(frozen=True)
class Note:
    """A note on a run (the meta-scratchpad): written by a model every ``notes.every``
    candidates from the run's recent successes and failures, or by a user with ``evolve
    note``; shown to the prompts of the iterations drawn after it took effect."""

    run_id: str
    text: str
    author: str
    """``model:SPEC`` or ``user``."""
    after: int | None = None
    """It took effect once iteration ``after`` was applied: iterations drawn later (those
    whose view is past it) see it. None: a user's note the run has not picked up yet."""
    created_at: float = 0.0
    id: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "after": self.after,
            "author": self.author,
            "text": self.text,
            "created_at": self.created_at,
        }


def _finite(value: float) -> float | None:
    return value if isinstance(value, int | float) and math.isfinite(value) else None
