"""The inspection commands (`evolve runs`, `show`, `lineage`, `diff`, `best`, `stats`,
`export`) and the notebook API (`evolve.open_db`), on the database of a real run.

Expected values are recomputed here from the Store's own rows, independently of the
queries under test.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas
import pytest
from test_inspect_rundb import build_run_db

import evolve
from evolve.core.records import Candidate
from evolve.errors import UserError
from evolve.store.reader import Reader
from evolve.store.store import Store, resolve_db_url


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[Candidate]]:
    db, summary = build_run_db(tmp_path_factory.mktemp("inspect"))
    programs = Store(resolve_db_url(str(db))).programs(summary["run_id"])
    return db, summary["run_id"], programs


def cli(*args: str, db: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--db", str(db)] if db is not None else []
    return subprocess.run(
        [sys.executable, "-m", "evolve.cli.main", *args, *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "COLUMNS"},  # as in a plain pipe
    )


def ok(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 0, out.stderr
    return out.stdout


def one_line_error(out: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert "Traceback" not in out.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def better(a: float, b: float) -> bool:
    return a < b  # function_minimization minimizes


def best_of(programs: list[Candidate]) -> Candidate:
    return min((p for p in programs if p.ok), key=lambda p: (p.score, p.iteration))


def test_runs_lists_every_column(run) -> None:
    db, run_id, programs = run
    rows = json.loads(ok(cli("runs", "--json", db=db)))
    assert len(rows) == 1
    r = rows[0]
    assert r["id"] == run_id and r["problem"] == "function_minimization"
    assert r["status"] == "completed"
    assert r["best_score"] == best_of(programs).score
    assert r["candidates"] == len(programs) - 1
    assert r["spent_usd"] == pytest.approx(sum(p.cost for p in programs))
    assert r["created_at"] > 0 and r["duration_s"] >= 0
    table = ok(cli("runs", db=db))
    assert run_id[:6] in table and "completed" in table


def test_show_by_prefix(run) -> None:
    db, _, programs = run
    p = best_of(programs)
    parent = next(q for q in programs if q.id == p.parent_id)
    data = json.loads(ok(cli("show", p.id[:8], "--json", db=db)))
    assert data["id"] == p.id and data["code"] == p.code
    assert data["status"] == "ok" and data["score"] == p.score
    assert data["metrics"] == pytest.approx(p.metrics)
    assert data["artifacts"] == p.artifacts and p.artifacts
    assert data["parent_id"] == parent.id and data["parent_score"] == parent.score
    assert data["model"] == "openai/good"
    assert (
        data["diff"].splitlines()[2:]
        == list(difflib.unified_diff(parent.code.splitlines(), p.code.splitlines(), lineterm=""))[
            2:
        ]
    )
    final = [c for c in data["calls"] if not c["fault"] and not c["outcome"]]
    assert final and "# Current program" in final[-1]["prompt"]
    assert "REPLACE" in final[-1]["response"]
    text = ok(cli("show", p.id[:8], db=db))
    for needle in (p.id, "status", "ok", parent.id, "openai/good", "--- prompt ---"):
        assert needle in text
    assert "--- response ---" in text and "for _ in range(" in text
    for name in p.artifacts:
        assert name in text


def test_show_a_failed_candidate_gives_the_reason(run) -> None:
    db, _, programs = run
    bad = next(p for p in programs if p.model == "openai/bad")
    data = json.loads(ok(cli("show", bad.id[:10], "--json", db=db)))
    assert data["status"] == bad.status.value != "ok"
    assert data["reason"] == bad.reason and "SEARCH" in bad.reason
    assert "status" in ok(cli("show", bad.id[:10], db=db))


def test_lineage_in_every_format(run) -> None:
    db, _, programs = run
    by_id = {p.id: p for p in programs}
    p = best_of(programs)
    chain = [p]
    while chain[-1].parent_id:
        chain.append(by_id[chain[-1].parent_id])
    chain.reverse()
    steps = json.loads(ok(cli("lineage", p.id[:7], "--format", "json", db=db)))
    assert [s["id"] for s in steps] == [q.id for q in chain]
    assert steps[0]["iteration"] == 0 and steps[0]["parent_id"] is None
    assert [s["score"] for s in steps] == [q.score for q in chain]
    for prev, step in itertools.pairwise(steps):
        assert step["parent_id"] == prev["id"]
        assert step["change"] == pytest.approx(step["score"] - prev["score"])
        assert step["improved"] == better(step["score"], prev["score"])
    tree = ok(cli("lineage", p.id[:7], db=db)).splitlines()
    assert len(tree) == len(chain) + 1
    for line, q in zip(tree[1:], chain, strict=True):
        assert f"#{q.iteration} {q.id[:12]}" in line and f"value={q.score:.10g}" in line
    dot = ok(cli("lineage", p.id[:7], "--format", "dot", db=db))
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    assert dot.count("->") == len(chain) - 1
    assert f'"{chain[-2].id}" -> "{p.id}"' in dot


def test_diff_against_the_parent_and_between_two(run) -> None:
    db, _, programs = run
    p = best_of(programs)
    parent = next(q for q in programs if q.id == p.parent_id)
    against_parent = ok(cli("diff", p.id[:9], db=db))
    assert against_parent.splitlines()[0] == f"--- {parent.id[:12]} (iteration {parent.iteration})"
    body = against_parent.splitlines()[2:]
    expected = list(
        difflib.unified_diff(parent.code.splitlines(), p.code.splitlines(), lineterm="")
    )[2:]
    assert body == expected
    initial = programs[0]
    both = ok(cli("diff", initial.id[:9], p.id[:9], db=db))
    assert both.splitlines()[1] == f"+++ {p.id[:12]} (iteration {p.iteration})"
    assert any(line.startswith("-") and "range(100)" in line for line in both.splitlines())
    one_line_error(cli("diff", initial.id, db=db), "initial program", "second id")


def test_best_top_and_out(run, tmp_path: Path) -> None:
    db, run_id, programs = run
    ranked = sorted((p for p in programs if p.ok), key=lambda p: (p.score, p.iteration))
    top = json.loads(ok(cli("best", run_id[:5], "--top", "3", "--json", db=db)))
    assert [t["id"] for t in top] == [p.id for p in ranked[:3]]
    out = tmp_path / "best.py"
    ok(cli("best", "--out", str(out), db=db))
    assert out.read_text() == ranked[0].code


def test_stats_per_model_and_island(run) -> None:
    db, run_id, programs = run
    data = json.loads(ok(cli("stats", run_id[:4], "--json", db=db)))
    children = programs[1:]
    by_id = {p.id: p for p in programs}

    def improved(p: Candidate) -> bool:
        parent = by_id.get(p.parent_id or "")
        return p.ok and parent is not None and parent.ok and better(p.score, parent.score)

    models = {m["model"]: m for m in data["models"]}
    assert set(models) == {"openai/good", "openai/bad"}
    for name, m in models.items():
        mine = [p for p in children if p.model == name]
        assert m["proposals"] == len(mine)
        assert m["valid"] == sum(p.ok for p in mine)
        assert m["valid_rate"] == pytest.approx(sum(p.ok for p in mine) / len(mine))
        assert m["improvements"] == sum(improved(p) for p in mine)
        assert m["calls"] >= len(mine) and m["cost"] > 0 and m["mean_latency"] > 0
    assert models["openai/bad"]["valid"] == 0 and models["openai/good"]["improvements"] > 0
    islands = {i["island"]: i for i in data["islands"]}
    assert set(islands) == {p.island for p in children}
    for island, i in islands.items():
        mine = [p for p in children if p.island == island]
        assert i["proposals"] == len(mine)
        assert i["improvements"] == sum(improved(p) for p in mine)
        assert i["cost"] == pytest.approx(sum(p.cost for p in mine))
    cells = {(p.island, tuple(p.cell)) for p in programs if p.ok and p.cell is not None}
    coverage = data["coverage"]
    assert coverage["grid_cells"] == 36  # code_length (6 bins) x distance (6 bins)
    assert coverage["cells"] == len({c for _, c in cells})
    assert coverage["coverage"] == pytest.approx(coverage["cells"] / 36)
    for row in coverage["islands"]:
        assert row["cells"] == len([1 for i, _ in cells if i == row["island"]])
    arms = {a["model"]: a for a in data["bandit"]}
    assert set(arms) == {"openai/good", "openai/bad"} and arms["openai/good"]["mode"] == "ucb"
    table = ok(cli("stats", db=db))
    assert "MAP-Elites coverage" in table and "island" in table


def test_export_jsonl_and_csv(run, tmp_path: Path) -> None:
    db, run_id, programs = run
    lines = ok(cli("export", run_id[:6], "--format", "jsonl", db=db)).splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["id"] for r in rows] == [p.id for p in programs]
    assert [r["code"] for r in rows] == [p.code for p in programs]
    assert rows[3]["metrics"] == pytest.approx(programs[3].metrics)
    assert rows[3]["parent_id"] == programs[3].parent_id
    out = tmp_path / "run.csv"
    ok(cli("export", "--format", "csv", "--out", str(out), db=db))
    table = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["id"] for r in table] == [p.id for p in programs]
    assert "metric.value" in table[0]
    for r, p in zip(table, programs, strict=True):
        assert r["status"] == p.status.value
        assert (float(r["metric.value"]) if r["metric.value"] else None) == (
            p.metrics.get("value") if p.metrics else None
        )
    one_line_error(cli("export", "--format", "xml", db=db), "--format")


def test_inspection_never_writes_the_database(run) -> None:
    db, run_id, programs = run
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    p = programs[5].id[:8]
    for args in (["show", p], ["lineage", p], ["diff", p], ["stats"], ["export"]):
        ok(cli(*args, db=db))
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    reader = Reader(resolve_db_url(str(db)))
    with pytest.raises(Exception, match="readonly"), reader.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM programs")
    assert len(list(reader.programs(run_id))) == len(programs)


def test_errors_are_one_line(run, tmp_path: Path) -> None:
    db, _, programs = run
    # Some one-character prefix is shared by two ids (25 ids, 16 hex digits).
    firsts = [p.id[0] for p in programs]
    shared = next(c for c in firsts if firsts.count(c) > 1)
    for command in ("show", "lineage", "diff"):
        one_line_error(cli(command, "zzzz", db=db), "no program 'zzzz'")
        one_line_error(cli(command, shared, db=db), f"prefix '{shared}' is ambiguous")
        one_line_error(cli(command, "abc", db=tmp_path / "none.db"), "no database", "--db")
    for command in ("stats", "export", "best"):
        one_line_error(cli(command, "zzzz", db=db), "no run 'zzzz'", "evolve runs")
        one_line_error(cli(command, db=tmp_path / "none.db"), "no database")
    not_ours = tmp_path / "other.db"
    import sqlite3

    sqlite3.connect(not_ours).execute("CREATE TABLE t (x)").connection.commit()
    one_line_error(cli("stats", db=not_ours), "not an evolve database")
    one_line_error(cli("lineage", programs[1].id, "--format", "svg", db=db), "--format")


def test_notebook_api(run) -> None:
    db, run_id, programs = run
    with evolve.open_db(db) as lineage_db:
        runs = lineage_db.runs()
        assert [r.info.id for r in runs] == [run_id]
        assert runs[0].candidates == len(programs) - 1
        assert [p.id for p in lineage_db.programs()] == [p.id for p in programs]
        best = lineage_db.best(run_id[:3])[0]
        assert best.id == best_of(programs).id
        assert lineage_db.program(best.id[:8]) == best
        chain = lineage_db.lineage(best.id[:8])
        assert chain[0].iteration == 0 and chain[-1] == best
        assert all(b.parent_id == a.id for a, b in itertools.pairwise(chain))
        assert any(c.response for c in lineage_db.calls(best.id))
        assert lineage_db.stats()["coverage"]["grid_cells"] == 36
        df = lineage_db.programs_df(run_id)
        assert isinstance(df, pandas.DataFrame) and len(df) == len(programs)
        assert list(df["id"]) == [p.id for p in programs]
        assert df["metric.value"].min() == pytest.approx(best.score)
        assert len(lineage_db.runs_df()) == 1
        calls = lineage_db.calls_df()
        assert set(calls["model"]) == {"openai/good", "openai/bad"}
        with pytest.raises(UserError, match="ambiguous"):
            firsts = [p.id[0] for p in programs]
            lineage_db.program(next(c for c in firsts if firsts.count(c) > 1))
