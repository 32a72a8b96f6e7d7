"""The evaluator side of evolve: what runs inside the sandbox, standard library only.

For evaluator authors::

    from evolve.sdk import CallError, EvaluationResult, call, remaining_time

* ``call(program_path, "fn", *args)`` / ``run(...)``: run a function of the program being
  scored in a process of its own and get its value back as data (``runner``);
* ``EvaluationResult``: metrics and artifacts (``result``);
* ``mismatch``: compare an answer with the expected one (``compare``).

The modules the engine shares with the sandbox live here too, so both sides import one
definition: the harness each backend runs (``harness``), the protocol between them
(``protocol``: the spec, the typed ``HarnessMessage``, the caps and the environment
allow-lists), the evaluation's clock (``context``), the data format of the function runner
(``wire``) and the /proc helpers (``procs``). Nothing here imports anything outside the
standard library (numpy only where arrays are exchanged), so the package imports under
``python -I -S`` and in a bare container image. The runner's names are loaded on first use:
the harness starts without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evolve.sdk.result import EvaluationResult

if TYPE_CHECKING:
    from evolve.sdk.compare import mismatch
    from evolve.sdk.runner import CallError, CallOutcome, call, remaining_time, run

__all__ = [
    "CallError",
    "CallOutcome",
    "EvaluationResult",
    "call",
    "mismatch",
    "remaining_time",
    "run",
]

_LAZY = {
    "CallError": "runner",
    "CallOutcome": "runner",
    "call": "runner",
    "remaining_time": "runner",
    "run": "runner",
    "mismatch": "compare",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"evolve.sdk.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'evolve.sdk' has no attribute {name!r}")
