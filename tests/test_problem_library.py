"""Every bundled problem, as the library promises it: a valid problem file with its
benchmark facts, a README that states them, and an initial program that evaluates in the
real process sandbox to a valid score short of (or at) the best known."""

from __future__ import annotations

import asyncio
import math
import re

import pytest

from evolve.benchmark.catalogue import Entry, catalogue, suites
from evolve.core.status import Verdict
from evolve.evaluation.executor import build_executor
from evolve.problem import load_problem
from evolve.resources import bundled_problems

PROBLEMS = sorted(bundled_problems())


def test_the_library_has_the_suites_a_benchmark_names() -> None:
    named = suites(catalogue())
    assert {"math", "algorithms", "smoke"} <= set(named)
    assert len(PROBLEMS) >= 12


@pytest.mark.parametrize("name", PROBLEMS)
def test_problem_states_its_benchmark_facts(name: str) -> None:
    problem = load_problem(name)
    entry = Entry.of(problem)
    assert entry.suites, f"{name}: [benchmark] suites is empty"
    assert problem.config.prompt.strip() and problem.config.description.strip()
    readme = (problem.file.parent / "README.md").read_text(encoding="utf-8")
    assert "tolerance" in readme.lower(), f"{name}: the README does not state its tolerance"
    if entry.best_known is not None:
        assert entry.source, f"{name}: best_known without a source"
        numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?(?:e-?\d+)?", readme)]
        quoted = any(math.isclose(n, entry.best_known, rel_tol=1e-6) for n in numbers)
        assert quoted, f"{name}: the README does not quote the best known {entry.best_known}"


@pytest.mark.parametrize("name", PROBLEMS)
def test_initial_program_evaluates_in_the_sandbox(name: str) -> None:
    problem = load_problem(name)
    entry = Entry.of(problem)
    executor = build_executor(problem, backend="process")

    async def once():
        try:
            return await executor.evaluate(problem.initial_code)
        finally:
            await executor.close()

    result = asyncio.run(once())
    assert result.status is Verdict.OK, f"{name}: {result.status.value}: {result.reason}"
    assert result.score is not None and math.isfinite(result.score)
    quoted = result.metrics.get(
        entry.metric, result.score if entry.metric == entry.primary else None
    )
    assert quoted is not None and math.isfinite(quoted), f"{name}: no {entry.metric} metric"
    if entry.best_known is not None:  # a simple start: never beyond the best known
        assert entry.objective.gain(quoted, entry.best_known) <= 0
