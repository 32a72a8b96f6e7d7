"""Chat-model clients for remote providers: OpenAI (and any OpenAI-compatible server),
Anthropic, and everything else through litellm.

Keys come from the usual environment variables (or the one a model names). Calls are async
and time-limited; the SDKs' own retries are off, because retrying, backing off and falling
back to another model is the engine's job (``evolve.llm.retry``). Every failure becomes an
``LLMError`` carrying a ``Fault`` (and the server's Retry-After, when it gave one).
"""

from __future__ import annotations

import inspect
import json
import os
import re
import time
from email.utils import parsedate_to_datetime
from typing import Any

from evolve.llm.base import Fault, LLMError, LLMRequest, LLMResponse, ModelKind
from evolve.llm.pricing import import_litellm

KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}

_REASONING_NAME = re.compile(r"^(o\d|gpt-5)")


def _chat_messages(request: LLMRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    messages.append({"role": "user", "content": request.prompt})
    return messages


def _check_text(text: str | None, spec: str) -> str:
    if not text or not text.strip():
        raise LLMError(f"{spec} returned an empty answer", Fault.EMPTY)
    return text


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds from a Retry-After (or retry-after-ms) header: a number or an HTTP date."""
    if headers is None:
        return None
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(0.0, float(millis) / 1000)
        value = headers.get("retry-after")
    except AttributeError:
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def classify(exc: BaseException) -> tuple[Fault, float | None]:
    """The fault behind an exception raised by the openai, anthropic or litellm SDK."""
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return Fault.MALFORMED, None
    names = {cls.__name__ for cls in type(exc).__mro__}
    status = getattr(exc, "status_code", None)
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if "ContentPolicyViolationError" in names:
        return Fault.REFUSAL, None
    if names & {"APITimeoutError", "Timeout", "TimeoutError", "ReadTimeout"}:
        return Fault.TIMEOUT, None
    if "APIResponseValidationError" in names:
        return Fault.MALFORMED, None
    if isinstance(status, int):
        if status == 429:
            return Fault.RATE_LIMIT, retry_after_seconds(headers)
        if status >= 500 or status in (408, 409):
            return Fault.SERVER, retry_after_seconds(headers)
        if status in (401, 403):
            return Fault.AUTH, None
        if 400 <= status < 500:
            return Fault.BAD_REQUEST, None
    if names & {"RateLimitError"}:
        return Fault.RATE_LIMIT, None
    if names & {"APIConnectionError", "ServiceUnavailableError", "ConnectionError"}:
        return Fault.CONNECTION, None
    if names & {"InternalServerError"}:
        return Fault.SERVER, None
    if names & {"AuthenticationError", "PermissionDeniedError"}:
        return Fault.AUTH, None
    if names & {"JSONDecodeError", "ValidationError"}:
        return Fault.MALFORMED, None
    return Fault.OTHER, None


def _error(spec: str, exc: BaseException) -> LLMError:
    fault, after = classify(exc)
    text = " ".join(str(exc).split())[:500]
    return LLMError(f"{spec}: {fault.value}: {type(exc).__name__}: {text}", fault, after)


def _from_chat_completion(out: Any, spec: str, started: float) -> LLMResponse:
    """An OpenAI-format chat completion (from the openai SDK or litellm) as a response."""
    if not getattr(out, "choices", None):
        raise LLMError(f"{spec}: malformed answer (no choices)", Fault.MALFORMED)
    choice = out.choices[0]
    refusal = getattr(choice.message, "refusal", None)
    if refusal or choice.finish_reason == "content_filter":
        raise LLMError(f"{spec}: refused: {refusal or 'content filter'}", Fault.REFUSAL)
    usage = getattr(out, "usage", None)
    return LLMResponse(
        text=_check_text(choice.message.content, spec),
        tokens_in=getattr(usage, "prompt_tokens", 0) or 0,
        tokens_out=getattr(usage, "completion_tokens", 0) or 0,
        latency=time.monotonic() - started,
        finish_reason=str(choice.finish_reason or ""),
    )


def _key(provider: str, api_key_env: str | None) -> str | None:
    variable = api_key_env or KEY_VARIABLES.get(provider)
    return os.environ.get(variable) if variable else None


class OpenAIChat:
    """``openai/<model>``; with ``base_url``, any OpenAI-compatible server. Reasoning models
    (o-series, gpt-5, or any model given a ``reasoning_effort``) get ``max_completion_tokens``
    and the effort instead of a temperature."""

    kind = ModelKind.CHAT

    def __init__(
        self,
        spec: str,
        base_url: str | None = None,
        timeout: float = 300.0,
        api_key_env: str | None = None,
        reasoning_effort: str | None = None,
    ) -> None:
        from openai import AsyncOpenAI

        self.spec = spec
        self.model = spec.split("/", 1)[1]
        self.reasoning_effort = reasoning_effort
        self.reasoning = reasoning_effort is not None or bool(_REASONING_NAME.match(self.model))
        key = _key("openai", api_key_env) or ("not-needed" if base_url else None)
        self._client = AsyncOpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=0)

    def _parameters(self, request: LLMRequest) -> dict[str, Any]:
        if self.reasoning:
            extra: dict[str, Any] = {"max_completion_tokens": request.max_tokens}
            if self.reasoning_effort:
                extra["reasoning_effort"] = self.reasoning_effort
            return extra
        return {
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "stop": list(request.stop) or None,
        }

    async def complete(self, request: LLMRequest) -> LLMResponse:
        started = time.monotonic()
        try:
            out = await self._client.chat.completions.create(
                model=self.model,
                messages=_chat_messages(request),  # type: ignore[arg-type]
                seed=request.seed,
                **self._parameters(request),
            )
        except Exception as exc:  # noqa: BLE001 - every SDK failure is classified and re-raised
            raise _error(self.spec, exc) from None
        return _from_chat_completion(out, self.spec, started)


class AnthropicChat:
    """``anthropic/<model>`` through the Messages API, with extended thinking when a
    ``thinking_budget`` is given (the answer is the text blocks; thinking is not kept)."""

    kind = ModelKind.CHAT

    def __init__(
        self,
        spec: str,
        base_url: str | None = None,
        timeout: float = 300.0,
        api_key_env: str | None = None,
        thinking_budget: int | None = None,
    ) -> None:
        from anthropic import AsyncAnthropic
        from anthropic.resources.messages import AsyncMessages

        self.spec = spec
        self.model = spec.split("/", 1)[1]
        self.thinking_budget = thinking_budget
        # Recent SDKs (2.x) dropped sampling parameters from the Messages API.
        parameters = inspect.signature(AsyncMessages.create).parameters
        self._takes_temperature = "temperature" in parameters
        self._client = AsyncAnthropic(
            api_key=_key("anthropic", api_key_env) or ("not-needed" if base_url else None),
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
        )

    async def complete(self, request: LLMRequest) -> LLMResponse:
        started = time.monotonic()
        kwargs: dict[str, Any] = {"max_tokens": request.max_tokens}
        if request.system:
            kwargs["system"] = request.system
        if request.stop:
            kwargs["stop_sequences"] = list(request.stop)
        if self.thinking_budget:
            # Thinking needs room beyond its budget, and the default temperature.
            kwargs["thinking"] = {"type": "enabled", "budget_tokens": self.thinking_budget}
            kwargs["max_tokens"] = request.max_tokens + self.thinking_budget
        elif self._takes_temperature:
            kwargs["temperature"] = request.temperature
        try:
            out = await self._client.messages.create(
                model=self.model,
                messages=[{"role": "user", "content": request.prompt}],
                **kwargs,
            )
        except Exception as exc:  # noqa: BLE001 - every SDK failure is classified and re-raised
            raise _error(self.spec, exc) from None
        if getattr(out, "stop_reason", None) == "refusal":
            raise LLMError(f"{self.spec}: refused", Fault.REFUSAL)
        content = getattr(out, "content", None) or []
        text = "".join(
            getattr(block, "text", "") for block in content if getattr(block, "type", "") == "text"
        )
        return LLMResponse(
            text=_check_text(text, self.spec),
            tokens_in=out.usage.input_tokens,
            tokens_out=out.usage.output_tokens,
            latency=time.monotonic() - started,
            finish_reason=str(out.stop_reason or ""),
        )


class LiteLLMChat:
    """``litellm/<provider>/<model>``: Gemini, Bedrock, Vertex, Mistral and the rest.
    Parameters a provider does not take are dropped by litellm."""

    kind = ModelKind.CHAT

    def __init__(
        self,
        spec: str,
        base_url: str | None = None,
        timeout: float = 300.0,
        api_key_env: str | None = None,
        reasoning_effort: str | None = None,
    ) -> None:
        self.spec = spec
        self.model = spec.split("/", 1)[1]
        self.base_url = base_url
        self.timeout = timeout
        self.api_key = os.environ.get(api_key_env) if api_key_env else None
        self.reasoning_effort = reasoning_effort

    def _keys_in_environment(self, litellm: Any) -> bool:
        try:
            return bool(litellm.validate_environment(self.model).get("keys_in_environment"))
        except Exception:  # noqa: BLE001 - unknown provider: let the call tell
            return True

    async def complete(self, request: LLMRequest) -> LLMResponse:
        litellm = import_litellm()
        extra: dict[str, Any] = {}
        if self.reasoning_effort:
            extra["reasoning_effort"] = self.reasoning_effort
        if self.api_key:
            extra["api_key"] = self.api_key
        elif self.base_url and not self._keys_in_environment(litellm):
            extra["api_key"] = "not-needed"  # a local server: the SDK still wants a key
        started = time.monotonic()
        try:
            out = await litellm.acompletion(
                model=self.model,
                messages=_chat_messages(request),
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                seed=request.seed,
                api_base=self.base_url,
                timeout=self.timeout,
                stop=list(request.stop) or None,
                num_retries=0,
                drop_params=True,
                **extra,
            )
        except Exception as exc:  # noqa: BLE001 - litellm raises many unrelated types
            raise _error(self.spec, exc) from None
        return _from_chat_completion(out, self.spec, started)
