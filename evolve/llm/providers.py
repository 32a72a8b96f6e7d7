"""Chat-model clients for remote providers: OpenAI (and any OpenAI-compatible server),
Anthropic, and everything else through litellm. Keys come from the usual environment
variables; calls are async and time-limited."""

from __future__ import annotations

import inspect
import os
import time
from typing import Any

from evolve.llm.base import LLMError, LLMRequest, LLMResponse, ModelKind

KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


def _chat_messages(request: LLMRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    messages.append({"role": "user", "content": request.prompt})
    return messages


def _check_text(text: str | None, spec: str) -> str:
    if not text or not text.strip():
        raise LLMError(f"{spec} returned an empty answer")
    return text


class OpenAIChat:
    """``openai/<model>``; with ``base_url``, any OpenAI-compatible server."""

    kind = ModelKind.CHAT

    def __init__(self, spec: str, base_url: str | None = None, timeout: float = 300.0) -> None:
        from openai import AsyncOpenAI

        self.spec = spec
        self.model = spec.split("/", 1)[1]
        key = os.environ.get("OPENAI_API_KEY") or ("not-needed" if base_url else None)
        self._client = AsyncOpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=0)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        import openai

        messages = _chat_messages(request)
        started = time.monotonic()
        try:
            out = await self._client.chat.completions.create(
                model=self.model,
                messages=messages,
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                seed=request.seed,
                stop=list(request.stop) or None,
            )
        except openai.OpenAIError as exc:
            raise LLMError(f"{self.spec}: {type(exc).__name__}: {exc}") from None
        choice = out.choices[0]
        usage = out.usage
        return LLMResponse(
            text=_check_text(choice.message.content, self.spec),
            tokens_in=usage.prompt_tokens if usage else 0,
            tokens_out=usage.completion_tokens if usage else 0,
            latency=time.monotonic() - started,
            finish_reason=str(choice.finish_reason or ""),
        )


class AnthropicChat:
    """``anthropic/<model>`` through the Messages API."""

    kind = ModelKind.CHAT

    def __init__(self, spec: str, base_url: str | None = None, timeout: float = 300.0) -> None:
        from anthropic import AsyncAnthropic

        self.spec = spec
        self.model = spec.split("/", 1)[1]
        from anthropic.resources.messages import AsyncMessages

        # Recent SDKs (2.x) dropped sampling parameters from the Messages API.
        self._takes_temperature = (
            "temperature" in inspect.signature(AsyncMessages.create).parameters
        )
        self._client = AsyncAnthropic(
            api_key=os.environ.get("ANTHROPIC_API_KEY"),
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
        )

    async def complete(self, request: LLMRequest) -> LLMResponse:
        import anthropic

        started = time.monotonic()
        kwargs: dict[str, Any] = {}
        if request.system:
            kwargs["system"] = request.system
        if request.stop:
            kwargs["stop_sequences"] = list(request.stop)
        if self._takes_temperature:
            kwargs["temperature"] = request.temperature
        try:
            out = await self._client.messages.create(
                model=self.model,
                max_tokens=request.max_tokens,
                messages=[{"role": "user", "content": request.prompt}],
                **kwargs,
            )
        except anthropic.AnthropicError as exc:
            raise LLMError(f"{self.spec}: {type(exc).__name__}: {exc}") from None
        text = "".join(getattr(block, "text", "") for block in out.content)
        return LLMResponse(
            text=_check_text(text, self.spec),
            tokens_in=out.usage.input_tokens,
            tokens_out=out.usage.output_tokens,
            latency=time.monotonic() - started,
            finish_reason=str(out.stop_reason or ""),
        )


class LiteLLMChat:
    """``litellm/<provider>/<model>``: Gemini, Bedrock, Vertex, Mistral and the rest."""

    kind = ModelKind.CHAT

    def __init__(self, spec: str, base_url: str | None = None, timeout: float = 300.0) -> None:
        self.spec = spec
        self.model = spec.split("/", 1)[1]
        self.base_url = base_url
        self.timeout = timeout

    async def complete(self, request: LLMRequest) -> LLMResponse:
        import litellm

        messages = _chat_messages(request)
        started = time.monotonic()
        try:
            out = await litellm.acompletion(
                model=self.model,
                messages=messages,
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                seed=request.seed,
                api_base=self.base_url,
                timeout=self.timeout,
                stop=list(request.stop) or None,
                num_retries=0,
            )
        except Exception as exc:  # noqa: BLE001 - litellm raises many unrelated types
            raise LLMError(f"{self.spec}: {type(exc).__name__}: {exc}") from None
        choice = out.choices[0]
        usage = getattr(out, "usage", None)
        return LLMResponse(
            text=_check_text(choice.message.content, self.spec),
            tokens_in=getattr(usage, "prompt_tokens", 0) or 0,
            tokens_out=getattr(usage, "completion_tokens", 0) or 0,
            latency=time.monotonic() - started,
            finish_reason=str(choice.finish_reason or ""),
        )
