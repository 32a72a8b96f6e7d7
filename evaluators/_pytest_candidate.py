"""A pytest plugin loaded by the ``pytest`` evaluator plugin (not an evaluator itself).

It gives the problem's tests the candidate, and reports every test's outcome to the
evaluator as JSON lines on a pipe that no candidate process inherits:

* fixture ``candidate``: ``candidate.solve(2, 3)`` runs the candidate's ``solve`` in a
  fresh process of its own (``evolve.sdk.call``) and returns its value as plain data;
* fixture ``candidate_path``: the candidate's file (also in ``$EVOLVE_CANDIDATE``).

Tests must reach the candidate through these; a test that imports the candidate's file
itself gives it the test process, and with it the report.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from evolve.sdk import call, context


class Candidate:
    """The candidate's functions, each called in a fresh process: ``candidate.NAME(...)``."""

    def __init__(self, path: str, timeout: float | None) -> None:
        self._path = path
        self._timeout = timeout

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def function(*args: Any, **kwargs: Any) -> Any:
            return call(self._path, name, *args, timeout=self._timeout, **kwargs)

        function.__name__ = name
        return function


@pytest.fixture
def candidate_path() -> str:
    return os.environ["EVOLVE_CANDIDATE"]


@pytest.fixture
def candidate(candidate_path: str) -> Candidate:
    timeout = os.environ.get("EVOLVE_CALL_TIMEOUT")
    return Candidate(candidate_path, float(timeout) if timeout else None)


if os.environ.get("EVOLVE_PYTEST_SECONDS"):
    # What was left of the evaluation when pytest started: every call in the tests fits in
    # it, leaving the evaluator time to report (set by the pytest plugin, read only here).
    context.configure(float(os.environ["EVOLVE_PYTEST_SECONDS"]))

_REPORT = os.fdopen(int(os.environ["EVOLVE_PYTEST_FD"]), "w", encoding="utf-8")
os.set_inheritable(_REPORT.fileno(), False)


def _send(record: dict[str, Any]) -> None:
    _REPORT.write(json.dumps(record) + "\n")
    _REPORT.flush()


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _send({"event": "collect_error", "where": report.nodeid, "text": str(report.longrepr)})


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    text = report.longreprtext if report.failed else ""
    _send(
        {
            "event": "test",
            "id": report.nodeid,
            "when": report.when,
            "outcome": report.outcome,
            "text": text,
        }
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    _send({"event": "collected", "ids": [item.nodeid for item in session.items]})


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _send({"event": "finished", "exitstatus": int(exitstatus)})
