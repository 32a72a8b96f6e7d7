"""The messages between the engine's parts: frozen records of candidates and LLM calls."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from evolve.evaluation.result import Status


def code_hash(code: str) -> str:
    """The identity of a program's text (duplicates share it)."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Timings:
    """Seconds spent on one candidate: in the LLM, in evaluation, in the engine itself, and
    waiting (backoff between retries, an evaluation slot, earlier twins to be decided)."""

    llm: float = 0.0
    evaluation: float = 0.0
    engine: float = 0.0
    waiting: float = 0.0


@dataclass(frozen=True)
class Program:
    """One candidate of a run, as stored: code, lineage, outcome and cost."""

    id: str
    run_id: str
    iteration: int
    code: str
    island: int
    generation: int
    status: Status
    score: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    parent_id: str | None = None
    inspiration_ids: tuple[str, ...] = ()
    cell: tuple[int, ...] | None = None
    diff: str = ""
    model: str = ""
    mutation: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    timings: Timings = field(default_factory=Timings)
    duplicate_of: str | None = None
    created_at: float = 0.0
    cost: float = 0.0
    selected_model: str = ""
    stage: int = 0
    """The evaluation-cascade stage reached (0: never evaluated)."""

    @property
    def code_hash(self) -> str:
        return code_hash(self.code)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK and self.score is not None


@dataclass(frozen=True)
class LLMCall:
    """One exchange with a model, as stored (successful or not)."""

    run_id: str
    iteration: int
    model: str
    prompt: str
    response: str
    program_id: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    latency: float = 0.0
    seed: int | None = None
    temperature: float | None = None
    error: str = ""
    call_index: int = 0
    fault: str = ""
    outcome: str = ""
    cost: float = 0.0

    @property
    def failed(self) -> bool:
        return bool(self.fault)
