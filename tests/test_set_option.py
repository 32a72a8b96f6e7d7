"""``--set KEY=VALUE`` on ``evolve run`` and ``evolve bench``: any problem.toml key, its value
read as TOML (else as text), validated like the file; bad input is one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_kit import evolve as cli

from evolve.store.store import Store, resolve_db_url


def test_set_reaches_the_stored_configuration(tmp_path: Path) -> None:
    out = cli(
        tmp_path, "run", "function_minimization", "-n", "0", "--json",
        "--set", "search.parent_selection=best", "--set", "llm.failures=1",
        "--set", 'search.inspiration_selection="diverse"', "--set", "novelty.enabled=true",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    config = (
        Store(resolve_db_url(str(tmp_path / "e.db"))).run(json.loads(out.stdout)["run_id"]).config
    )
    assert config["search"]["parent_selection"] == "best"
    assert config["search"]["inspiration_selection"] == "diverse"
    assert config["llm"]["failures"] == 1 and config["novelty"]["enabled"] is True


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("llm.failures=abc", "llm.failures: Input should be a valid integer"),
        ("llm.nope=1", "unknown key 'llm.nope'"),
        ("no-equals", "--set no-equals: write SECTION.KEY=VALUE"),
        ("search.parent_selection=sideways", "search.parent_selection"),
    ],
)
def test_bad_settings_are_one_line(tmp_path: Path, setting: str, said: str) -> None:
    for verb in (
        ["run", "function_minimization", "-n", "0"],
        ["bench", "function_minimization", "-n", "0"],
    ):
        out = cli(tmp_path, *verb, "--set", setting)
        assert out.returncode == 2, out.stderr
        assert said in out.stderr and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
