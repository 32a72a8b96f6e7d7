"""Models: the embedded llama.cpp model (for real), spec checks, and the weighted ensemble."""

from __future__ import annotations

import asyncio
import random

import pytest

from evolve.config import LLMConfig, ModelConfig, MutationStyle
from evolve.errors import UserError
from evolve.llm.base import LLMError, LLMRequest, ModelKind
from evolve.llm.ensemble import EMBEDDED_NOTICE, Ensemble, Member, build_ensemble, check_spec
from evolve.llm.local import EMBEDDED, LocalLlama

PROMPT = 'def add(a, b):\n    """Return the sum of a and b."""\n'


@pytest.mark.llm
def test_embedded_model_is_deterministic_per_seed_and_varies_across_seeds() -> None:
    llm = LocalLlama(EMBEDDED)
    assert llm.kind is ModelKind.BASE

    def ask(seed: int) -> str:
        request = LLMRequest(
            prompt=PROMPT, temperature=1.0, max_tokens=24, seed=seed, stop=("\ndef ",)
        )
        response = asyncio.run(llm.complete(request))
        assert response.tokens_in > 5 and 0 < response.tokens_out <= 24
        assert response.latency > 0
        return response.text

    first = ask(11)
    assert ask(11) == first
    assert len({first, ask(12), ask(13), ask(14)}) > 1


@pytest.mark.llm
def test_embedded_model_rejects_a_prompt_longer_than_its_context() -> None:
    llm = LocalLlama(EMBEDDED, n_ctx=256)
    with pytest.raises(LLMError, match="does not fit"):
        asyncio.run(llm.complete(LLMRequest(prompt="x = 1\n" * 400, max_tokens=8)))


def test_no_model_configured_means_the_embedded_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    ensemble = build_ensemble(LLMConfig())
    [member] = ensemble.members
    assert member.spec == EMBEDDED == "local/gemma-3-270m"
    assert member.mutation is MutationStyle.COMPLETION  # a base model gets completion prompts
    assert "openai/" in EMBEDDED_NOTICE and "anthropic/" in EMBEDDED_NOTICE


def test_chat_models_default_to_diffs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    config = LLMConfig(models=[ModelConfig(name="openai/gpt-4.1-mini", temperature=0.3)])
    [member] = build_ensemble(config).members
    assert member.mutation is MutationStyle.DIFF and member.temperature == 0.3


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gpt-4o", "PROVIDER/MODEL"),
        ("mistral/large", "unknown provider 'mistral'"),
        ("openai/gpt-4o", "OPENAI_API_KEY"),
        ("anthropic/claude-sonnet-4-5", "ANTHROPIC_API_KEY"),
    ],
)
def test_bad_model_specs_are_one_clear_error(
    spec: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(UserError, match=message):
        check_spec(spec)


def test_a_base_url_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    check_spec("openai/local-model", base_url="http://127.0.0.1:8000/v1")


def test_weighted_choice_follows_the_weights() -> None:
    def member(spec: str, weight: float) -> Member:
        return Member(spec, weight, MutationStyle.DIFF, (0.8,), 100, LocalLlama(EMBEDDED))

    ensemble = Ensemble([member("local/a", 3.0), member("local/b", 1.0)])
    rng = random.Random(0)
    picks = [ensemble.choose(rng).spec for _ in range(4000)]
    share = picks.count("local/a") / len(picks)
    assert 0.72 < share < 0.78
    again = [Ensemble(ensemble.members).choose(random.Random(0)).spec for _ in range(3)]
    assert again == [picks[0]] * 3  # the same stream gives the same choice
