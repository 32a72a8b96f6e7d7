"""Scripted chat-model answers for function_minimization, for tests that exercise the
engine's handling of models (faults, fallbacks, bandits, budgets, replay) over real HTTP
without minutes of real-model time per run.

A "good" model answers a SEARCH/REPLACE diff that raises the number of random samples of
the current program (more samples never do worse there, and usually better); a "bad" one
answers a diff whose SEARCH part matches nothing. Answers depend only on the request, as a
real model's do on prompt and seed.
"""

from __future__ import annotations

import re

from loopback import Exchange

_CURRENT = re.compile(r"# Current program.*?```python\n(.*?)```", re.DOTALL)
_SAMPLES = re.compile(r"for _ in range\((\d+)\):")


def current_samples(prompt: str) -> int:
    match = _CURRENT.search(prompt)
    code = match.group(1) if match else prompt
    found = _SAMPLES.search(code)
    return int(found.group(1)) if found else 100


def good_answer(req: Exchange) -> str:
    n = current_samples(req.prompt)
    seed = int(req.body.get("seed") or 0)
    more = n + 20 + seed % 499
    return (
        "More samples find a lower point.\n"
        f"<<<<<<< SEARCH\n    for _ in range({n}):\n=======\n"
        f"    for _ in range({more}):\n>>>>>>> REPLACE\n"
    )


def bad_answer(req: Exchange) -> str:
    seed = int(req.body.get("seed") or 0)
    return (
        "Let me rewrite the loop.\n"
        f"<<<<<<< SEARCH\n    while not_in_the_program_{seed}:\n=======\n"
        "    pass\n>>>>>>> REPLACE\n"
    )
