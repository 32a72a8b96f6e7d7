"""SQLAlchemy tables of the lineage database: runs, programs, LLM calls, notes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    problem: Mapped[str] = mapped_column(String(200))
    problem_path: Mapped[str] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    """running, completed, interrupted or failed."""
    message: Mapped[str] = mapped_column(Text, default="")
    origin: Mapped[str] = mapped_column(Text, default="")
    """How the run began: empty, ``replay:RUN`` or ``fork:RUN:ITERATION``."""
    selection: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """The model selector's state after the last applied candidate."""
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class ProgramRow(Base):
    __tablename__ = "programs"
    __table_args__ = (
        Index("ix_programs_run_iteration", "run_id", "iteration", unique=True),
        Index("ix_programs_run_hash", "run_id", "code_hash"),
        Index("ix_programs_run_score", "run_id", "score"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    iteration: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(Text)
    code_hash: Mapped[str] = mapped_column(String(64))
    parent_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    mate_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """The second parent of a crossover child."""
    inspiration_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    island: Mapped[int] = mapped_column(Integer)
    generation: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    metrics: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    artifacts: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    cell: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    diff: Mapped[str] = mapped_column(Text, default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    mutation: Mapped[str] = mapped_column(String(20), default="")
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    llm_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    eval_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    engine_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    wait_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    duplicate_of: Mapped[str | None] = mapped_column(String(32), nullable=True)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    """USD spent on this candidate's LLM calls."""
    selected_model: Mapped[str] = mapped_column(String(200), default="")
    """The model the ensemble chose (``model`` is the one that answered, after fallbacks)."""
    stage: Mapped[int] = mapped_column(Integer, default=0)
    """The evaluation-cascade stage the candidate reached (0: never evaluated)."""
    created_at: Mapped[float] = mapped_column(Float)


class LLMCallRow(Base):
    __tablename__ = "llm_calls"
    __table_args__ = (Index("ix_llm_calls_run_iteration", "run_id", "iteration"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    program_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    iteration: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(200))
    prompt: Mapped[str] = mapped_column(Text)
    response: Mapped[str] = mapped_column(Text)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    latency: Mapped[float] = mapped_column(Float, default=0.0)
    seed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    temperature: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    call_index: Mapped[int] = mapped_column(Integer, default=0)
    """The call's number within its iteration (the key of replay)."""
    fault: Mapped[str] = mapped_column(String(20), default="")
    """Why the call failed (rate_limit, server, timeout, ...); empty when answered."""
    outcome: Mapped[str] = mapped_column(Text, default="")
    """Why an answered call gave no child; empty for the answer that did."""
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[float] = mapped_column(Float)


class NoteRow(Base):
    """The run's notes (``evolve.core.records.Note``)."""

    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_run_after", "run_id", "after"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    after: Mapped[int | None] = mapped_column(Integer, nullable=True)
    author: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
