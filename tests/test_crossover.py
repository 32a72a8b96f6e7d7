"""Crossover over the real CLI with a model on loopback: a share of the prompts shows a
second parent chosen for diversity (another MAP-Elites cell, or another island's best) and
asks for a child of both; the child's lineage keeps both parents (the record's ``mate_id``,
``evolve show``, ``evolve lineage`` as a tree and as Graphviz), and ``--replay`` draws the
same mates. Base models get the mate as the version before the parent."""

from __future__ import annotations

import json
import random
import re
import subprocess
from pathlib import Path

from cli_kit import evolve as run_cli
from cli_kit import write_problem
from loopback import Exchange, serve

from evolve.asking import Asker
from evolve.config import MutationStyle
from evolve.core.records import Candidate
from evolve.core.status import CandidateStatus
from evolve.llm.ensemble import Member
from evolve.problem import load_problem
from evolve.store.store import Store, resolve_db_url

PROGRAM = "# EVOLVE-BLOCK-START\nSTEPS = 3\n# EVOLVE-BLOCK-END\n"
_CURRENT = re.compile(r"# Current program.*?```python\n(.*?)```", re.DOTALL)
_MATE = re.compile(r"## Second parent.*?```python\n(.*?)```", re.DOTALL)
_STEPS = re.compile(r"^STEPS = (\d+).*$", re.MULTILINE)


def steps_in(pattern: re.Pattern, prompt: str) -> tuple[str, int] | None:
    block = pattern.search(prompt)
    found = _STEPS.search(block.group(1)) if block else None
    return (found.group(0), int(found.group(1))) if found else None


def answer(ex: Exchange) -> str:
    """A child of both parents when shown two (the sum of their STEPS), else a small step."""
    line, steps = steps_in(_CURRENT, ex.prompt)  # type: ignore[misc]
    mate = steps_in(_MATE, ex.prompt)
    seed = int(ex.body.get("seed") or 0)
    new = f"STEPS = {steps + mate[1]}  # crossed" if mate else f"STEPS = {steps + 1 + seed % 5}"
    return f"<<<<<<< SEARCH\n{line}\n=======\n{new}\n>>>>>>> REPLACE\n"


def problem(tmp_path: Path, url: str, search: str) -> Path:
    return write_problem(
        tmp_path / "problem",
        PROGRAM,
        '[[features]]\nname = "score"\nbins = 40\nmin = 0.0\nmax = 80.0\n'
        "[sandbox]\ntimeout = 20.0\nparallel = 2\n"
        f"[search]\niterations = 24\nmax_in_flight = 2\n{search}\n"
        "[llm]\ntimeout = 10.0\nattempts = 1\n"
        f'[[llm.models]]\nname = "openai/writer"\nbase_url = "{url}/v1"\n',
        number="STEPS",
    )


def evolve(tmp_path: Path, *args: str, json_out: bool = True) -> subprocess.CompletedProcess:
    result = run_cli(tmp_path, *args, *(["--json"] if json_out else []))
    assert result.returncode == 0, result.stderr
    return result


def test_crossover_children_keep_both_parents(tmp_path: Path) -> None:
    search = "islands = 1\ncrossover_rate = 0.5"
    with serve(answer) as server:
        out = json.loads(evolve(tmp_path, "run", str(problem(tmp_path, server.url, search))).stdout)
    store = Store(resolve_db_url(str(tmp_path / "e.db")))
    run_id = out["run_id"]
    programs = store.programs(run_id)
    by_id = {p.id: p for p in programs}
    crossed = [p for p in programs if p.mate_id is not None]
    plain = [p for p in programs[1:] if p.mate_id is None]
    assert crossed and plain  # about half of each
    calls = {c.iteration: c for c in store.llm_calls(run_id)}
    for child in crossed:
        mate, parent = by_id[child.mate_id], by_id[child.parent_id]  # type: ignore[index]
        assert mate.id != parent.id and mate.iteration < child.iteration
        assert mate.cell != parent.cell  # chosen from another cell of the island
        prompt = calls[child.iteration].prompt
        assert "# A second parent to combine" in prompt and mate.code in prompt
        if child.status is CandidateStatus.OK:
            assert child.score == parent.score + mate.score and "# crossed" in child.code
    for child in plain:
        assert "# A second parent" not in calls[child.iteration].prompt
    # Both parents in the views of a child's lineage.
    child = next(p for p in crossed if p.ok)
    tree = evolve(tmp_path, "lineage", child.id, json_out=False).stdout
    assert f"+ mate {child.mate_id[:12]}" in tree  # type: ignore[index]
    dot = evolve(tmp_path, "lineage", child.id, "--format", "dot", json_out=False).stdout
    assert f'"{child.mate_id}" -> "{child.id}" [style=dashed, label="mate"];' in dot
    shown = evolve(tmp_path, "show", child.id, json_out=False).stdout
    assert "second parent (crossover)" in shown and child.mate_id in shown  # type: ignore[operator]
    # The mates are drawn from the run's random streams: a replay draws the same.
    again = json.loads(evolve(tmp_path, "run", "--replay", run_id).stdout)
    replayed = store.programs(again["run_id"])
    mates = {p.iteration: by_id[p.mate_id].iteration for p in crossed}  # type: ignore[index]
    again_by_id = {p.id: p for p in replayed}
    assert {p.iteration: again_by_id[p.mate_id].iteration for p in replayed if p.mate_id} == mates
    assert [p.score for p in replayed] == [p.score for p in programs]


def test_mates_from_other_islands(tmp_path: Path) -> None:
    search = 'islands = 3\nmigration_interval = 100\ncrossover_rate = 1.0\nmate_selection = "other_island"'
    with serve(answer) as server:
        out = json.loads(evolve(tmp_path, "run", str(problem(tmp_path, server.url, search))).stdout)
    store = Store(resolve_db_url(str(tmp_path / "e.db")))
    programs = store.programs(out["run_id"])
    by_id = {p.id: p for p in programs}
    crossed = [p for p in programs if p.mate_id is not None]
    # Once every island has grown a program of its own, the mate is another island's.
    late = [p for p in crossed if p.iteration > 12]
    assert late
    assert all(by_id[p.mate_id].island != p.island or by_id[p.mate_id].iteration == 0 for p in late)  # type: ignore[index]
    assert any(by_id[p.mate_id].island != p.island for p in late)  # type: ignore[index]


class _Never:
    spec = "local/none"

    async def complete(self, request: object) -> object:
        raise AssertionError


def test_base_models_see_the_mate_as_the_version_before_the_parent() -> None:
    problem = load_problem("function_minimization")
    parent_code = problem.initial_code
    mate_code = parent_code.replace("range(100)", "range(400)")
    parent = Candidate("p", "r", 1, parent_code, 0, 1, CandidateStatus.OK, 1.0)
    mate = Candidate("m", "r", 2, mate_code, 0, 1, CandidateStatus.OK, 2.0)
    member = Member("local/none", 1.0, MutationStyle.COMPLETION, (1.0,), 100, _Never())  # type: ignore[arg-type]
    asked = Asker(problem).ask(parent, [], member, random.Random(0), mate=mate)
    text = asked.prompt
    assert "def search_v0(" in text and "range(400)" in text.split("def search_v1(")[0]
    assert "combines it with the ideas of the version before it" in text
