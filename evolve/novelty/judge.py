"""The novelty judge: a language model asked whether a child whose similarity to its nearest
neighbour is borderline is meaningfully different from it (as ShinkaEvolve does).

One call, temperature 0, one word expected: "yes" (different: the child is novel) or "no"
(the same idea: too similar). An answer that says neither, or a call that fails, decides
nothing: the caller falls back to the threshold. The call is returned with its tokens,
cost and fault, for the caller to record like any other.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from evolve.llm.base import LLMClient, LLMError, LLMRequest, shown_prompt
from evolve.llm.pricing import FREE, Price

SYSTEM = (
    "You review programs produced by an evolutionary code search. You decide whether a new "
    "program is meaningfully different from an existing one: a different algorithm, data "
    "structure, or approach, or a change of behaviour that matters. Renamed variables, "
    "reformatting, comments, reordering and small changes of constants are not "
    "meaningful differences. Answer with one word: yes or no."
)

PROMPT = """Existing program:
```{language}
{neighbour}
```

New program:
```{language}
{child}
```

Is the new program meaningfully different from the existing one? Answer yes or no."""

MAX_CHARS = 12_000
"""Each program shown is cut to this many characters."""

_WORD = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


@dataclass(frozen=True)
class JudgeCall:
    """One call to the judge, as the caller records it."""

    model: str
    prompt: str
    """The request as one text (``shown_prompt``)."""
    response: str = ""
    novel: bool | None = None
    """True: "yes, meaningfully different"; False: "no"; None: no usable answer."""
    tokens_in: int = 0
    tokens_out: int = 0
    latency: float = 0.0
    temperature: float = 0.0
    seed: int | None = None
    error: str = ""
    fault: str = ""
    """The failed call's ``Fault`` value; empty when it was answered."""
    cost: float = 0.0
    """USD."""


def parse(text: str) -> bool | None:
    """True for an answer whose first yes/no word is "yes", False for "no", else None."""
    found = _WORD.search(text)
    if found is None:
        return None
    return found.group(1).lower() == "yes"


class Judge:
    """Asks ``client`` whether a child is meaningfully different from its neighbour."""

    def __init__(
        self, client: LLMClient, price: Price = FREE, language: str = "", max_tokens: int = 512
    ) -> None:
        self.client = client
        self.price = price
        self.language = language
        self.max_tokens = max_tokens

    def request(self, child: str, neighbour: str, key: tuple[int, int] | None = None) -> LLMRequest:
        prompt = PROMPT.format(
            language=self.language if self.language != "text" else "",
            neighbour=neighbour[:MAX_CHARS],
            child=child[:MAX_CHARS],
        )
        return LLMRequest(
            prompt=prompt,
            system=SYSTEM,
            temperature=0.0,
            max_tokens=self.max_tokens,
            seed=0,
            key=key,
        )

    async def ask(
        self, child: str, neighbour: str, key: tuple[int, int] | None = None
    ) -> JudgeCall:
        """The judge's call; it never raises for a failed call (see ``JudgeCall.fault``)."""
        request = self.request(child, neighbour, key)
        shown = shown_prompt(request)
        started = time.monotonic()
        try:
            response = await self.client.complete(request)
        except LLMError as exc:
            return JudgeCall(
                model=self.client.spec,
                prompt=shown,
                latency=time.monotonic() - started,
                seed=request.seed,
                error=str(exc),
                fault=exc.fault.value,
            )
        return JudgeCall(
            model=self.client.spec,
            prompt=shown,
            response=response.text,
            novel=parse(response.text),
            tokens_in=response.tokens_in,
            tokens_out=response.tokens_out,
            latency=response.latency,
            seed=request.seed,
            cost=self.price.cost(response.tokens_in, response.tokens_out),
        )
