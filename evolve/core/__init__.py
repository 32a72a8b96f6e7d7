"""The engine's vocabulary, in one place: what a candidate is, the statuses of candidates,
evaluations and runs, and which of two scores is better.

Every other part speaks these words: the search, the store, the CLI, the UI, the notebook
API. The evaluator side (``evolve.sdk``) has its own, standard-library-only, wire types;
``Verdict`` is the engine's reading of them.
"""

from evolve.core.objective import Objective
from evolve.core.records import Candidate, LLMCall, code_hash
from evolve.core.status import CandidateStatus, RunStatus, Verdict

__all__ = [
    "Candidate",
    "CandidateStatus",
    "LLMCall",
    "Objective",
    "RunStatus",
    "Verdict",
    "code_hash",
]
