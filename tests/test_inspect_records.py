"""One record, one set of names: every output of a candidate (``evolve best --json``, ``show
--json``, ``lineage --format json``, ``export`` as JSON Lines and CSV, the UI's payloads,
the notebook's DataFrames) carries exactly ``Candidate.FIELDS`` under their own names, plus
only the derived keys that view adds; and each is built from ``Candidate.to_dict``, so a
field added to the record appears in every one of them without touching the views.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pytest

import evolve
from evolve.core.objective import Objective
from evolve.core.records import Candidate, LLMCall
from evolve.core.status import CandidateStatus, RunStatus
from evolve.store.reader import Reader
from evolve.store.rows import RunInfo
from evolve.store.store import Store, resolve_db_url
from evolve.store.views import (
    TABLE_LEFT_OUT,
    candidate_json,
    csv_row,
    lineage_steps,
    program_view,
    table_row,
)
from evolve.ui import queries

FIELDS = set(Candidate.FIELDS)
WITHOUT_CODE = FIELDS - {"code", "diff"}
TABLE = FIELDS - {"code", "diff", *TABLE_LEFT_OUT}
METRICS = {"metric.value", "metric.length"}
RUN_FIELDS = {f.name for f in fields(RunInfo)} - {"config", "selection"}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[Candidate]]:
    """A run (minimizing ``value``) of three candidates with every field set, and calls."""
    path = tmp_path_factory.mktemp("records") / "r.db"
    store = Store(resolve_db_url(str(path)))
    config = {
        "evaluator": {"direction": "minimize", "primary_metric": "value"},
        "features": [{"name": "length", "bins": 4}],
        "search": {"iterations": 2},
    }
    run_id = store.create_run("demo", "/nowhere/problem.toml", config, seed=1)
    programs = []
    for k, score in enumerate([3.0, 2.0, 1.5]):
        p = Candidate(
            id=f"{k:02d}" + "b" * 30,
            run_id=run_id,
            iteration=k,
            code=f"x = {score}\n",
            island=0,
            generation=k,
            status=CandidateStatus.OK,
            score=score,
            metrics={"value": score, "length": float(k)},
            artifacts={"stdout": f"ran {k}\n"},
            parent_id=programs[-1].id if programs else None,
            inspiration_ids=(programs[0].id,) if programs else (),
            cell=(k,),
            diff=f"-x = {programs[-1].score}\n+x = {score}\n" if programs else "",
            model="openai/m" if k else "",
            selected_model="openai/m" if k else "",
            mutation="diff" if k else "",
            tokens_in=10 * k,
            tokens_out=k,
            cost=0.01 * k,
            llm_seconds=0.5 * k,
            eval_seconds=0.25,
            engine_seconds=0.001,
            wait_seconds=0.1 * k,
            stage=1,
            created_at=1000.0 + k,
        )
        calls = [LLMCall(run_id, k, "openai/m", "prompt", "answer", p.id, 10 * k, k, 0.5, k, 0.7)]
        store.add_program(p, calls if k else [])
        programs.append(p)
    store.set_run_status(run_id, RunStatus.COMPLETED, "done")
    store.close()
    return path, run_id, programs


def cli(*args: str, db: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "evolve", *args, "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_cli_json_carries_the_record(db) -> None:
    path, _, programs = db
    best = json.loads(cli("best", "--json", db=path))
    assert set(best) == FIELDS
    assert best == json.loads(json.dumps(programs[-1].to_dict()))
    shown = json.loads(cli("show", programs[1].id[:8], "--json", db=path))
    assert set(shown) == FIELDS | {"parent_score", "calls"}
    assert shown["parent_score"] == programs[0].score
    assert [set(c) for c in shown["calls"]] == [set(LLMCall.FIELDS)]
    steps = json.loads(cli("lineage", programs[-1].id, "--format", "json", db=path))
    assert [set(s) for s in steps] == [WITHOUT_CODE | {"change", "improved"}] * 3
    assert [s["improved"] for s in steps] == [False, True, True]


def test_export_columns_are_the_records(db) -> None:
    path, run_id, programs = db
    lines = [json.loads(line) for line in cli("export", run_id, db=path).splitlines()]
    assert [set(row) for row in lines] == [FIELDS] * 3
    assert lines[1]["eval_seconds"] == 0.25 and lines[1]["cost"] == pytest.approx(0.01)
    table = list(csv.DictReader(io.StringIO(cli("export", "--format", "csv", db=path))))
    assert set(table[0]) == TABLE | METRICS
    assert table[2]["inspiration_ids"] == programs[0].id and table[2]["cell"] == "2"
    assert float(table[2]["wait_seconds"]) == pytest.approx(0.2)


def test_ui_payloads_carry_the_records_names(db) -> None:
    path, run_id, programs = db
    reader = Reader(resolve_db_url(str(path)))
    try:
        program = queries.program_payload(reader, programs[2].id)
        assert set(program) == FIELDS | {"parent_score", "calls"}
        assert [set(c) for c in program["calls"]] == [set(LLMCall.FIELDS)]
        view = queries.view_payload(reader, run_id)
        small = FIELDS - {"code", "diff", "metrics", "artifacts"}
        assert [set(r) for r in view["recent"]] == [small] * 3
        assert [set(n) for n in view["tree"]["nodes"]] == [small | {"x", "y", "children"}] * 3
        runs = queries.runs_payload(reader)
        assert set(runs[0]) - RUN_FIELDS == {
            "candidates",
            "valid",
            "best_score",
            "spent_usd",
            "duration_s",
            "maximize",
            "metric",
            "iterations",
        }
    finally:
        reader.close()
    assert json.loads(cli("runs", "--json", db=path)) == json.loads(json.dumps(runs))


def test_dataframes_carry_the_records_names(db) -> None:
    path, run_id, programs = db
    with evolve.open_db(path) as lineage_db:
        assert set(lineage_db.programs_df(run_id).columns) == TABLE | METRICS
        with_code = lineage_db.programs_df(run_id, code=True)
        assert set(with_code.columns) == TABLE | METRICS | {"code", "diff"}
        assert list(with_code["eval_seconds"]) == [p.eval_seconds for p in programs]
        assert set(lineage_db.calls_df(run_id).columns) == set(LLMCall.FIELDS)
        runs = lineage_db.runs_df()
        assert list(runs.columns) == list(queries.runs_payload(lineage_db.reader)[0])


@dataclass(frozen=True)
class Noted(Candidate):
    """The record with one more field, as a later version might add."""

    notes: str = "a field the views have never heard of"


Noted.FIELDS = tuple(f.name for f in fields(Noted))


def test_a_new_field_reaches_every_view_untouched(db) -> None:
    """A view that listed the fields itself would drop ``notes``."""
    _, _, programs = db
    parent, p = (Noted(**asdict(q)) for q in programs[1:])
    call = LLMCall(p.run_id, p.iteration, "openai/m", "prompt", "answer", p.id)
    views = {
        "best --json, export jsonl, evolve run --json": candidate_json(p),
        "show --json, the UI's program": program_view(p, parent, [call]),
        "lineage --format json": lineage_steps([parent, p], Objective(maximize=False))[-1],
        "programs_df": table_row(p),
        "export csv": csv_row(p),
    }
    for name, view in views.items():
        assert view["notes"] == p.notes, name
        assert set(view) >= set(Noted.FIELDS) - {"code", "diff", "metrics", "artifacts"}, name
