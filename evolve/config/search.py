"""The search sections: the island search (``[search]``) and novelty rejection
(``[novelty]``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from evolve.config.base import _Strict


class SearchConfig(_Strict):
    islands: Annotated[int, Field(ge=1, le=256)] = 4
    migration_interval: Annotated[int, Field(ge=1)] = 20
    """Migrate elites around the ring of islands every this many candidates."""
    migration_rate: Annotated[float, Field(ge=0, le=1)] = 0.1
    """Share of an island's elites sent to its neighbour at each migration."""
    max_in_flight: Annotated[int, Field(ge=1, le=1024)] = 2
    """Proposals waiting for a model's answer at once (evaluations: ``sandbox.parallel``)."""
    iterations: Annotated[int, Field(ge=0)] = 100
    target_score: float | None = None
    seed: int = 0
    exploration_ratio: Annotated[float, Field(ge=0, le=1)] = 0.2
    """Chance that a parent is drawn uniformly from the island's grid (exploration)."""
    exploitation_ratio: Annotated[float, Field(ge=0, le=1)] = 0.7
    """Chance that a parent is drawn from the island's top programs by score."""
    elite_pool: Annotated[int, Field(ge=1)] = 5
    """How many top programs of an island exploitation draws from."""
    num_inspirations: Annotated[int, Field(ge=0, le=16)] = 2
    parent_selection: Literal[
        "mixed", "boltzmann", "power_law", "weighted", "clusters", "initial", "best"
    ] = "mixed"
    """How a parent is drawn from its island (formulas in ``evolve/archive/parents.py``).
    ``mixed``: ``exploration_ratio`` a random grid elite, ``exploitation_ratio`` one of
    the top ``elite_pool``, else the island's best. ``boltzmann``: by score, p ∝
    exp(z / ``temperature``), z the score's distance below the island's best over the
    island's spread of scores. ``power_law``: by rank, p ∝ rank^-``power``. ``weighted``
    (ShinkaEvolve): p ∝ sigmoid(score above the island's median / (spread x
    ``temperature``)) / (1 + children so far). ``clusters`` (FunSearch): a group of
    programs with the same signature (``cluster_by``) by Boltzmann over the groups'
    scores, its temperature falling as programs join the island
    (``temperature_period``), then shorter code within the group. Baselines, with no
    inspirations: ``initial`` always the initial program (repeated sampling), ``best``
    always the best program of all islands (hill climbing)."""
    crossover_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    """Share of proposals that are crossovers: the prompt shows a second parent (a mate
    chosen for diversity, ``mate_selection``) and asks for a child combining both; its
    lineage keeps both parents (``mate_id``). 0: none."""
    mate_selection: Literal["other_cell", "other_island"] = "other_cell"
    """Crossover's second parent: ``other_cell``, an elite of the parent's island from
    another MAP-Elites cell, p ∝ the distance between the cells; ``other_island``, the best
    program of another island (on a single island: ``other_cell``)."""
    inspiration_selection: Literal["mixed", "same", "diverse"] = "mixed"
    """How the ``num_inspirations`` programs shown beside the parent are drawn. ``mixed``:
    the island's best elite other than the parent, then uniformly random other elites.
    ``same``: by the parent's own rule, without repeats and never the parent. ``diverse``:
    elites of other cells, p ∝ the distance (L1, in bins) between their cell and the
    parent's."""
    temperature: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)] = 0.1
    """``boltzmann``, ``weighted``, ``clusters``: how flat the preference for better scores
    is, on scores normalised by the island's spread (best minus worst); near 0 the best
    is nearly always drawn, large is nearly uniform."""
    power: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] = 1.0
    """``power_law``: the exponent of rank (0: uniform over the island)."""
    temperature_period: Annotated[int, Field(ge=1)] = 30000
    """``clusters``: the cluster temperature falls linearly from ``temperature`` towards 0
    as this many programs join the island, then starts again (FunSearch: 30,000)."""
    cluster_by: Literal["score", "metrics"] = "score"
    """``clusters``: a program's signature, the programs sharing it forming one cluster:
    its score, or every metric it reported, each rounded to 10 significant digits."""
    population_size: Annotated[int, Field(ge=1, le=1_000_000)] = 1000
    """Programs an island holds at most. Past it, the island evicts its worst-ranked program
    that is neither an elite of its MAP-Elites grid nor its best (ties on the score: the
    oldest first), so memory and the cost of a draw stay bounded however long the run. An
    island whose grid has more elites than this keeps its elites (and its best) only."""

    @model_validator(mode="after")
    def _ratios(self) -> SearchConfig:
        if self.exploration_ratio + self.exploitation_ratio > 1:
            raise ValueError("exploration_ratio + exploitation_ratio must be at most 1")
        return self

    @model_validator(mode="after")
    def _population(self) -> SearchConfig:
        if self.population_size < self.elite_pool:
            raise ValueError(
                f"population_size ({self.population_size}) must be at least elite_pool "
                f"({self.elite_pool})"
            )
        return self


class NoveltyConfig(_Strict):
    """Novelty before evaluation: a child too similar to a program already on its island is
    rejected (or asked again) instead of evaluated, and its nearest neighbour is kept
    (``evolve.novelty``). Only the island's current members are compared, and only their
    EVOLVE-BLOCK regions, less comments and blank lines."""

    enabled: bool = False
    """Check every child against the members of its island before it is evaluated."""
    threshold: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.95
    """Similarity (0 to 1) at or above which a child is too similar to its nearest
    neighbour. ``lexical``: the Jaccard similarity of the programs' sets of 4-token
    windows, so one changed token in a program of n tokens gives about 1 - 8 / n (0.98
    for 400 tokens); ``embedding``: the cosine similarity of the two embeddings (those of
    ``local/gemma-3-270m`` are all close: about 0.86 for another problem's program, 0.98
    for a rewritten function, 0.99999 for a changed constant, so 0.999 suits it)."""
    action: Literal["reject", "reask"] = "reject"
    """What a too-similar child becomes: ``reject``: a candidate that is not evaluated,
    with its nearest neighbour recorded; ``reask``: the proposer asks the model again, as
    for an unusable answer (within ``llm.attempts``)."""
    method: Literal["lexical", "embedding"] = "lexical"
    """How similarity is measured: ``lexical`` (token windows; fast, no model) or
    ``embedding`` (``embedding_model``; falls back to ``lexical`` when it fails)."""
    embedding_model: str | None = None
    """The embedding model of ``method = "embedding"``: ``openai/<model>`` (e.g.
    ``openai/text-embedding-3-small``, any OpenAI-compatible server with
    ``embedding_base_url``; key in OPENAI_API_KEY) or ``local/gemma-3-270m`` (the embedded
    model, run by llama.cpp on the CPU in a process of its own; no key, no download), or
    ``local/PATH.gguf``."""
    embedding_base_url: str | None = None
    """An OpenAI-compatible server for ``embedding_model`` (``openai/`` models only)."""
    judge_model: str | None = None
    """A chat model (a model spec, as in ``[[llm.models]]``) asked whether a child whose
    similarity lies in [threshold - judge_band, threshold) is meaningfully different from
    its neighbour; "no" makes it too similar. None: no judge, the threshold alone decides
    (as it does when the judge's call fails)."""
    judge_base_url: str | None = None
    """An OpenAI-compatible server or proxy for ``judge_model``."""
    judge_band: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = 0.05
    """Width of the similarity band below ``threshold`` that is asked of ``judge_model``."""

    @model_validator(mode="after")
    def _models_fit(self) -> NoveltyConfig:
        if self.method == "embedding" and not self.embedding_model:
            raise ValueError('method = "embedding" needs an embedding_model')
        if self.embedding_model is not None:
            provider, _, name = self.embedding_model.partition("/")
            if provider not in ("openai", "local") or not name:
                raise ValueError(
                    f"embedding_model {self.embedding_model!r}: write openai/<model> or "
                    "local/gemma-3-270m (or local/PATH.gguf)"
                )
            if provider == "local" and self.embedding_base_url is not None:
                raise ValueError("embedding_base_url is for openai/ embedding models only")
        elif self.embedding_base_url is not None:
            raise ValueError("embedding_base_url needs an embedding_model")
        if self.judge_base_url is not None and self.judge_model is None:
            raise ValueError("judge_base_url needs a judge_model")
        return self


class NotesConfig(_Strict):
    """Run notes (``[notes]``): every ``every`` candidates a model reads the run's recent
    successes and failures and writes short notes (what helped, what failed, what to try),
    which later prompts show; users add their own with ``evolve note RUN "..."``."""

    every: Annotated[int, Field(ge=0)] = 0
    """Write notes after every this many candidates (0: the run writes none; users' notes
    are still shown)."""
    model: str | None = None
    """The model that writes them (a provider/model name, like ``[[llm.models]]``'s);
    default: the first model of the ensemble. An instruction-following model: a base model
    only continues text."""
    base_url: str | None = None
    """An OpenAI-compatible endpoint for ``model``."""
    recent: Annotated[int, Field(ge=1, le=200)] = 20
    """How many of the latest candidates the writer reads (each change and what it did)."""
    shown: Annotated[int, Field(ge=0, le=20)] = 3
    """How many of the latest notes each prompt shows (0: none)."""
    max_chars: Annotated[int, Field(ge=100, le=20000)] = 1500
    """A note is cut to this many characters."""

    @model_validator(mode="after")
    def _url_needs_model(self) -> NotesConfig:
        if self.base_url is not None and self.model is None:
            raise ValueError("notes.base_url needs notes.model")
        return self
