"""Novelty before evaluation: a child too similar to a program already on its island is
rejected or asked again, its nearest neighbour kept.

``check.py``: the seam (``NoveltyCheck.nearest``, built by ``from_config``); ``lexical.py``:
token-window similarity with MinHash estimates; ``embedding.py``: embedders (OpenAI's
protocol, or the embedded model through llama.cpp in ``embed_worker.py``); ``judge.py``: the
optional LLM judge for borderline cases.
"""

from evolve.novelty.check import NoveltyCheck, NoveltyVerdict, from_config

__all__ = ["NoveltyCheck", "NoveltyVerdict", "from_config"]
