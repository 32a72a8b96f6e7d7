"""Run notes over the real CLI with models on loopback: every few candidates a model reads
the latest candidates and writes notes, which later prompts show (from a fixed iteration
on, so the run is still deterministic); a user's note added with ``evolve note`` while the
run goes on reaches the prompts drawn after it is picked up; notes are stored with their
time, listed by ``evolve note RUN``, served to the UI, and a replay shows the same notes to
the same prompts without asking any model."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from cli_kit import evolve as cli
from cli_kit import write_problem
from loopback import Exchange, serve

from evolve.store.reader import Reader
from evolve.store.store import Store, resolve_db_url
from evolve.ui.queries import view_payload

PROGRAM = "# EVOLVE-BLOCK-START\nSTEPS = 3\n# EVOLVE-BLOCK-END\n"
_CURRENT = re.compile(r"# Current program.*?```python\n(.*?)```", re.DOTALL)
_STEPS = re.compile(r"^STEPS = (\d+).*$", re.MULTILINE)
_LESSON = re.compile(r"^## #(\d+):", re.MULTILINE)
LAG = 2 + 2  # max_in_flight + sandbox.parallel: iteration k sees the run up to k - LAG


def answer(ex: Exchange) -> str:
    """The scribe names the last candidate it read; the proposer raises STEPS."""
    if ex.model == "scribe":
        last = max(int(k) for k in _LESSON.findall(ex.prompt))
        return f"- note-after-{last}: raising STEPS in larger steps helped."
    block = _CURRENT.search(ex.prompt)
    found = _STEPS.search(block.group(1) if block else ex.prompt)
    assert found is not None
    seed = int(ex.body.get("seed") or 0)
    return (
        f"<<<<<<< SEARCH\n{found.group(0)}\n=======\n"
        f"STEPS = {int(found.group(1)) + 1 + seed % 9}\n>>>>>>> REPLACE\n"
    )


def problem(tmp_path: Path, url: str, iterations: int, every: int) -> Path:
    return write_problem(
        tmp_path / "problem",
        PROGRAM,
        "[sandbox]\ntimeout = 20.0\nparallel = 2\n"
        f"[search]\niterations = {iterations}\nmax_in_flight = 2\n"
        "[llm]\ntimeout = 10.0\nattempts = 1\n"
        f'[[llm.models]]\nname = "openai/writer"\nbase_url = "{url}/v1"\n'
        f'[notes]\nevery = {every}\nmodel = "openai/scribe"\nbase_url = "{url}/v1"\nshown = 2\n',
        number="STEPS",
    )


def test_model_notes_reach_later_prompts_and_replay_the_same(tmp_path: Path) -> None:
    with serve(answer) as server:
        run = cli(tmp_path, "run", str(problem(tmp_path, server.url, 20, 5)), "--json")
    assert run.returncode == 0, run.stderr
    run_id = json.loads(run.stdout)["run_id"]
    store = Store(resolve_db_url(str(tmp_path / "e.db")))
    notes = store.notes(run_id)
    assert [n.after for n in notes] == [5, 10, 15, 20]
    assert all(n.author == "model:openai/scribe" for n in notes)
    assert notes[0].text == "- note-after-5: raising STEPS in larger steps helped."
    # Iteration k shows the notes that took effect before its view (k - LAG), the latest two.
    for call in store.llm_calls(run_id):
        if call.model != "openai/writer":
            continue
        seen = [n.after for n in notes if n.after is not None and n.after < call.iteration - LAG]
        for after in seen[-2:]:
            assert f"note-after-{after}:" in call.prompt, (call.iteration, after)
        for after in seen[:-2] + [a for a in (5, 10, 15, 20) if a not in seen]:
            assert f"note-after-{after}:" not in call.prompt, (call.iteration, after)
    scribe_calls = [c for c in store.llm_calls(run_id) if c.model == "openai/scribe"]
    assert len(scribe_calls) == 4 and all(c.outcome == "run notes" for c in scribe_calls)
    assert "## #5:" in scribe_calls[0].prompt  # it read the latest candidates
    listed = cli(tmp_path, "note", run_id, "--json")
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 4
    # The UI's view of the run carries them.
    reader = Reader(resolve_db_url(str(tmp_path / "e.db")))
    assert [n["after"] for n in view_payload(reader, run_id)["notes"]] == [5, 10, 15, 20]
    # A replay shows the same notes to the same prompts, asking no model (the server is gone).
    again = cli(tmp_path, "run", "--replay", run_id, "--json")
    assert again.returncode == 0, again.stderr
    replayed = json.loads(again.stdout)["run_id"]
    prompts = {(c.iteration, c.call_index): c.prompt for c in store.llm_calls(run_id)
               if c.program_id}  # fmt: skip
    assert {
        (c.iteration, c.call_index): c.prompt for c in store.llm_calls(replayed) if c.program_id
    } == prompts
    assert [n.text for n in store.notes(replayed)] == [n.text for n in notes]


def test_a_users_note_reaches_the_prompts_drawn_after_it(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    with serve(answer, latency=0.25) as server:
        folder = problem(tmp_path, server.url, 40, 0)
        proc = subprocess.Popen(
            [sys.executable, "-m", "evolve.cli.main", "run", str(folder), "--db", str(db),
             "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
            env={**os.environ, "OPENAI_API_KEY": "sk-loopback"},
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if db.exists():
                with sqlite3.connect(db) as conn:
                    count = conn.execute("select count(*) from programs").fetchone()[0]
                if count >= 8:
                    break
        added = cli(tmp_path, "note", "", "try STEPS far above 100 (user-idea-77)")
        assert added.returncode == 0, added.stderr
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    run_id = json.loads(out)["run_id"]
    store = Store(resolve_db_url(str(db)))
    (note,) = store.notes(run_id)
    assert note.author == "user" and note.after is not None and 8 <= note.after < 40
    calls = [c for c in store.llm_calls(run_id)]
    with_note = [c.iteration for c in calls if "user-idea-77" in c.prompt]
    assert with_note and min(with_note) == note.after + LAG + 1
    assert all("user-idea-77" in c.prompt for c in calls if c.iteration > note.after + LAG)


def test_a_boundary_waits_for_the_notes_before_it() -> None:
    """Notes every 2 candidates with 4 in flight: boundary 4 is reached before boundary 2's
    note is written; its writer is asked only once that note is in, and reads it."""
    import uuid

    from evolve.config import NotesConfig
    from evolve.core.records import Candidate, Note
    from evolve.core.status import CandidateStatus
    from evolve.search.notes import NoteBook

    book = NoteBook(NotesConfig(every=2, shown=3))
    root = Candidate("r", "x", 0, "", 0, 0, CandidateStatus.OK, 1.0)
    for k in range(5):
        book.applied(Candidate(uuid.uuid4().hex, "x", k, "", 0, 1, CandidateStatus.OK, 1.0), root)
    first = book.take_due()
    assert [b for b, _, _ in first] == [2] and [x.iteration for x in first[0][1]] == [0, 1, 2]
    assert book.take_due() == [] and book.blocks(3) and not book.blocks(2)
    book.written(Note("x", "two", "model:m", 2))
    (second,) = book.take_due()
    assert second[0] == 4 and [x.iteration for x in second[1]] == [0, 1, 2, 3, 4]
    assert [n.text for n in second[2]] == ["two"]
