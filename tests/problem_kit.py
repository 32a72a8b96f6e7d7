"""Loading a bundled problem's evaluator (or any of its files) as a module, for the problem
tests, the way the sandbox's harness does: registered in ``sys.modules`` before it runs, so
dataclasses and pickling inside it work."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PROBLEMS = Path(__file__).resolve().parent.parent / "problems"


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_evaluator(problem: str) -> ModuleType:
    """``problems/PROBLEM/evaluator.py`` as a module of its own."""
    return load_module(PROBLEMS / problem / "evaluator.py", f"_test_evaluator_{problem}")
