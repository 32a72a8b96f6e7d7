"""Every search strategy is a setting in problem.toml, kept with the run's configuration,
and a recorded run under it replays exactly (same programs, scores, lineage and prompts)
without calling a model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from loopback import Exchange, serve
from scripted import good_answer
from test_ensemble import evolve_cli, model, run_search, trace

from evolve.core.status import CandidateStatus


def sometimes_broken(req: Exchange) -> str:
    """A model whose answers fail when run about one time in two (a fix once it is shown the
    error), and otherwise raise the number of samples."""
    seed = int(req.body.get("seed") or 0)
    if "boom-" not in req.prompt and seed % 2 == 1:
        return (
            "<<<<<<< SEARCH\n    return best_x, best_y\n=======\n"
            f"    raise RuntimeError('boom-{seed}')\n>>>>>>> REPLACE\n"
        )
    return good_answer(req)


STRATEGIES = {
    "mixed": {},
    "boltzmann": {"search.parent_selection": "boltzmann", "search.temperature": 0.5},
    "power_law": {"search.parent_selection": "power_law", "search.power": 2.0},
    "weighted": {"search.parent_selection": "weighted", "search.inspiration_selection": "same"},
    "clusters": {"search.parent_selection": "clusters", "search.cluster_by": "metrics"},
    "initial": {"search.parent_selection": "initial"},
    "best": {"search.parent_selection": "best"},
    "diverse+repair": {
        "search.inspiration_selection": "diverse",
        "llm.repair": True,
        "llm.failures": 2,
    },
}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_each_strategy_is_stored_and_replays_exactly(tmp_path: Path, name: str) -> None:
    settings = STRATEGIES[name]
    with serve(sometimes_broken) as server:
        store, run_id, finished = run_search(
            tmp_path,
            [model("m", server.url)],
            **{"search.iterations": 10, "search.max_in_flight": 2, "llm.attempts": 1},
            **settings,
        )
    assert finished.status == "completed"
    stored = store.run(run_id).config
    for key, value in settings.items():
        section, field = key.split(".")
        assert stored[section][field] == value
    programs = store.programs(run_id)
    if name == "initial":
        assert {p.parent_id for p in programs[1:]} == {programs[0].id}
    if name == "diverse+repair":
        assert any("repair:first_reason" in p.artifacts for p in programs)
    assert any(p.status is CandidateStatus.ERROR for p in programs) or name == "diverse+repair"
    # The server is gone: a replay that called a model would fail.
    result = evolve_cli(
        "run", "--replay", run_id, "--db", str(tmp_path / "evolve.db"), "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    replayed = json.loads(result.stdout)["run_id"]
    assert trace(store, replayed) == trace(store, run_id)
    calls = {(c.iteration, c.call_index, c.prompt, c.outcome) for c in store.llm_calls(run_id)}
    again = {(c.iteration, c.call_index, c.prompt, c.outcome) for c in store.llm_calls(replayed)}
    assert again == calls
