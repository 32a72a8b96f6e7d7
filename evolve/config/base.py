"""What every section of the problem file shares: strict models, the objective's direction,
the mutation styles and the temperature type."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Direction(StrEnum):
    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


class MutationStyle(StrEnum):
    """How a model is asked for a change.

    ``diff``: SEARCH/REPLACE blocks (instruction-tuned chat models).
    ``rewrite``: the whole evolvable region, rewritten (chat models).
    ``completion``: FunSearch-style versioned functions for base models to continue.
    ``auto``: ``completion`` for base models (the embedded one), ``diff`` otherwise.
    """

    AUTO = "auto"
    DIFF = "diff"
    REWRITE = "rewrite"
    COMPLETION = "completion"


Temperature = Annotated[float, Field(ge=0, le=2)]


def _non_empty_list(v: object) -> object:
    if isinstance(v, list) and not v:
        raise ValueError("give at least one temperature")
    return v
