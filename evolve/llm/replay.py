"""Replaying a recorded run without calling any model.

Every exchange of a run is stored with its place, (iteration, call number), which a run
makes the same way every time for the same seed and answers. A ``ReplayClient`` stands in
for each model of the recorded run: asked for call (k, n), it checks that the request is
the one recorded there and gives back the recorded answer, or raises the recorded fault
(so retries and fallbacks happen again, without waiting). The replayed run therefore
computes the same programs, scores and lineage.
"""

from __future__ import annotations

from collections.abc import Iterable

from evolve.core.records import LLMCall
from evolve.core.status import RunStatus
from evolve.llm.base import Fault, LLMError, LLMRequest, LLMResponse, ModelKind, shown_prompt
from evolve.llm.retry import StopSearch


class ReplayEnded(StopSearch):
    """The run asked for a call the recording does not have: the replay is over."""

    status = RunStatus.COMPLETED


class ReplayDiverged(StopSearch):
    """The run asked for something other than what was recorded (the problem, its files or
    the engine changed since the recording)."""

    status = RunStatus.FAILED


class Recording:
    """The calls of a recorded run that belong to a stored candidate, by (iteration, call)."""

    def __init__(self, run_id: str, calls: Iterable[LLMCall]) -> None:
        self.run_id = run_id
        self.calls: dict[tuple[int, int], LLMCall] = {}
        for call in calls:
            if call.program_id is not None:
                self.calls[(call.iteration, call.call_index)] = call

    def __len__(self) -> int:
        return len(self.calls)

    def models(self) -> set[str]:
        return {c.model for c in self.calls.values()}


class ReplayClient:
    """Answers as model ``spec`` answered in the recording."""

    def __init__(self, spec: str, kind: ModelKind, recording: Recording) -> None:
        self.spec = spec
        self.kind = kind
        self.recording = recording

    async def complete(self, request: LLMRequest) -> LLMResponse:
        key = request.key
        call = self.recording.calls.get(key) if key is not None else None
        if call is None:
            where = f"iteration {key[0]}, call {key[1]}" if key else "an unnumbered call"
            raise ReplayEnded(
                f"replay of run {self.recording.run_id} complete: the recording ends before {where}"
            )
        if call.model != self.spec:
            raise ReplayDiverged(
                f"replay diverged at iteration {key[0]}, call {key[1]}: asked {self.spec}, "
                f"recorded {call.model}"
            )
        if call.prompt != shown_prompt(request):
            raise ReplayDiverged(
                f"replay diverged at iteration {key[0]}, call {key[1]}: the prompt differs from "
                "the recorded one (the problem, its files or evolve changed since the recording)"
            )
        if call.fault:
            raise LLMError(call.error, Fault(call.fault))
        return LLMResponse(
            text=call.response,
            tokens_in=call.tokens_in,
            tokens_out=call.tokens_out,
            latency=call.latency,
            finish_reason="replayed",
        )
