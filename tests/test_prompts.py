"""Chat prompts: what they show (metrics at full precision, inspirations, ancestry, redacted
artifacts) and templates a problem can override."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolve.config import MutationStyle
from evolve.core.records import Candidate
from evolve.core.status import CandidateStatus
from evolve.errors import UserError
from evolve.prompts import Templates, chat_prompt


def program(i: int, score: float | None, code: str, parent: str | None = None, diff: str = ""):
    return Candidate(
        id=f"p{i}",
        run_id="r",
        iteration=i,
        code=code,
        island=0,
        generation=i,
        status=CandidateStatus.OK if score is not None else CandidateStatus.ERROR,
        score=score,
        metrics={"value": score} if score is not None else {},
        reason="" if score is not None else "ValueError: out of bounds",
        parent_id=parent,
        diff=diff,
    )


ROOT = program(0, 3.2471473006528653, "x = 1\n")
MID = program(1, 1.0000000000000002, "x = 2\n", "p0", "-x = 1\n+x = 2\n")
PARENT = program(2, 0.5, "x = 3\n", "p1", "-x = 2\n+x = 3\n")
PARENT = Candidate(
    **{**PARENT.__dict__, "artifacts": {"stderr": "OPENAI_API_KEY=sk-abcdefghijklmnopqrstuv"}}
)


def test_prompt_shows_lineage_metrics_and_redacted_output() -> None:
    inspiration = program(7, 0.25, "x = 7\n")
    system, user = chat_prompt(
        "Make x small.",
        PARENT,
        [inspiration],
        MutationStyle.DIFF,
        "python",
        "value",
        "minimize",
        ancestors=[MID, ROOT],
    )
    assert "EVOLVE-BLOCK-START" in system
    assert "Make x small." in user and "'value'; minimize it" in user
    assert "1.0000000000000002" in user  # full precision
    assert "x = 7" in user and "0.25" in user
    # Ancestry, nearest first: what each change did to the score.
    first = user.index("value 1.0000000000000002 -> 0.5")
    second = user.index("value 3.2471473006528653 -> 1.0000000000000002")
    assert first < second
    assert "+x = 3" in user and "+x = 2" in user
    assert "sk-abcdefghij" not in user and "[redacted]" in user
    assert "<<<<<<< SEARCH" in user


def test_templates_from_a_problem_folder(tmp_path: Path) -> None:
    (tmp_path / "system.txt").write_text("You golf code.")
    (tmp_path / "diff.txt").write_text("Answer in SEARCH/REPLACE blocks. Costs $$5.")
    templates = Templates.load(tmp_path)
    system, user = chat_prompt(
        "t", PARENT, [], MutationStyle.DIFF, "python", "value", "minimize", templates=templates
    )
    assert system == "You golf code."
    assert "Costs $5." in user and "# Current program" in user  # user.txt still built in


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("sytem.txt", "x", "not a prompt template name"),
        ("user.txt", "$task $parent_code", "unknown placeholder $parent_code"),
        ("diff.txt", "costs $5", "'$' that is no placeholder"),
    ],
)
def test_bad_templates_are_one_clear_error(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(UserError, match=message.replace("$", r"\$")) as info:
        Templates.load(tmp_path)
    assert name in str(info.value)
