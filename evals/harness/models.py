"""Chat models for the optional real-model runner, behind one small interface.

- `AnthropicModel`: the `anthropic` SDK (optional dependency; imported only when used).
- `OpenAICompatibleModel`: any server speaking OpenAI's chat completions with tools (hosted, or local such as
  vLLM, llama.cpp, Ollama), over plain httpx. The transport is injectable, so tests script a fake server.

Configuration (environment): QDI_EVAL_OPENAI_BASE_URL + QDI_EVAL_OPENAI_MODEL (+ QDI_EVAL_OPENAI_API_KEY)
selects the OpenAI-compatible server; otherwise ANTHROPIC_API_KEY (+ QDI_EVAL_ANTHROPIC_MODEL) selects Claude.
API keys never appear in reprs, errors or reports.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-5"
MAX_OUTPUT_TOKENS = 4096
NO_MODEL_MESSAGE = (
    "model runs skipped: no model configured (set ANTHROPIC_API_KEY, or QDI_EVAL_OPENAI_BASE_URL and "
    "QDI_EVAL_OPENAI_MODEL; see the README, section Evaluate)"
)


class ModelConfigError(ValueError):
    """The model configuration is incomplete or its client library is missing."""


class ModelError(RuntimeError):
    """The model server failed or answered something unusable (the message carries no credentials)."""


@dataclass
class ToolDefinition:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any] | None  # None: the model sent arguments that are not a JSON object
    raw_arguments: str = ""


@dataclass
class ModelTurn:
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0


# Conversation items, provider-neutral:
#   {"role": "user", "content": str}
#   {"role": "assistant", "content": str, "tool_calls": [ToolCall, ...]}
#   {"role": "tool", "tool_call_id": str, "name": str, "content": str, "is_error": bool}
Message = dict[str, Any]


class ChatModel(Protocol):
    label: str

    async def respond(self, system: str, messages: list[Message], tools: list[ToolDefinition]) -> ModelTurn: ...

    async def aclose(self) -> None: ...


def _parse_arguments(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


# --- OpenAI-compatible ------------------------------------------------------------------------------------


class OpenAICompatibleModel:
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 120.0,
    ) -> None:
        self.label = f"openai-compatible:{model}"
        self._model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/", headers=headers, transport=transport, timeout=timeout
        )

    def __repr__(self) -> str:
        return f"OpenAICompatibleModel({self.label!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def respond(self, system: str, messages: list[Message], tools: list[ToolDefinition]) -> ModelTurn:
        body = {
            "model": self._model,
            "messages": [{"role": "system", "content": system}, *map(_to_openai, messages)],
            "tools": [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.input_schema},
                }
                for t in tools
            ],
            "tool_choice": "auto",
            "temperature": 0,
        }
        try:
            response = await self._http.post("chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise ModelError(f"model server unreachable: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise ModelError(f"model server answered HTTP {response.status_code}: {response.text[:300]}")
        try:
            data = response.json()
            message = data["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ModelError("model server answered without choices[0].message") from None
        usage = data.get("usage") or {}
        calls = [
            ToolCall(
                id=str(call.get("id") or f"call_{index}"),
                name=str((call.get("function") or {}).get("name", "")),
                arguments=_parse_arguments((call.get("function") or {}).get("arguments")),
                raw_arguments=str((call.get("function") or {}).get("arguments", "")),
            )
            for index, call in enumerate(message.get("tool_calls") or [])
        ]
        return ModelTurn(
            text=message.get("content") or "",
            tool_calls=calls,
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
        )


def _to_openai(message: Message) -> dict[str, Any]:
    if message["role"] == "assistant":
        converted: dict[str, Any] = {"role": "assistant", "content": message.get("content") or None}
        if message.get("tool_calls"):
            converted["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.raw_arguments or json.dumps(call.arguments)},
                }
                for call in message["tool_calls"]
            ]
        return converted
    if message["role"] == "tool":
        return {"role": "tool", "tool_call_id": message["tool_call_id"], "content": message["content"]}
    return {"role": "user", "content": message["content"]}


# --- Anthropic --------------------------------------------------------------------------------------------


class AnthropicModel:
    """Claude through the `anthropic` SDK; `client` (anything with `messages.create`) is injectable for tests."""

    def __init__(self, model: str, *, api_key: str | None = None, client: Any = None) -> None:
        self.label = f"anthropic:{model}"
        self._model = model
        if client is None:
            try:
                import anthropic
            except ImportError:
                raise ModelConfigError(
                    "ANTHROPIC_API_KEY is set but the anthropic SDK is not installed: pip install anthropic"
                ) from None
            client = anthropic.AsyncAnthropic(api_key=api_key)
        self._client = client

    def __repr__(self) -> str:
        return f"AnthropicModel({self.label!r})"

    async def aclose(self) -> None:
        close = getattr(self._client, "close", None)
        if close is not None:
            await close()

    async def respond(self, system: str, messages: list[Message], tools: list[ToolDefinition]) -> ModelTurn:
        try:
            response = await self._client.messages.create(
                model=self._model,
                max_tokens=MAX_OUTPUT_TOKENS,
                system=system,
                messages=to_anthropic(messages),
                tools=[{"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in tools],
            )
        except Exception as exc:  # noqa: BLE001 - any SDK failure ends the trial with a clear reason
            raise ModelError(f"Anthropic API call failed: {type(exc).__name__}") from None
        texts, calls = [], []
        for block in response.content:
            if block.type == "text":
                texts.append(block.text)
            elif block.type == "tool_use":
                calls.append(ToolCall(id=block.id, name=block.name, arguments=_parse_arguments(block.input)))
        usage = getattr(response, "usage", None)
        return ModelTurn(
            text="\n".join(texts),
            tool_calls=calls,
            input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
        )


def to_anthropic(messages: list[Message]) -> list[dict[str, Any]]:
    """Anthropic's alternating turns: tool results travel in the next user turn, merged with any user text."""
    converted: list[dict[str, Any]] = []

    def user_blocks() -> list[dict[str, Any]]:
        if not converted or converted[-1]["role"] != "user":
            converted.append({"role": "user", "content": []})
        return converted[-1]["content"]

    for message in messages:
        if message["role"] == "assistant":
            blocks: list[dict[str, Any]] = []
            if message.get("content"):
                blocks.append({"type": "text", "text": message["content"]})
            blocks += [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments or {}}
                for c in message.get("tool_calls") or []
            ]
            converted.append({"role": "assistant", "content": blocks or [{"type": "text", "text": "(no reply)"}]})
        elif message["role"] == "tool":
            user_blocks().append(
                {
                    "type": "tool_result",
                    "tool_use_id": message["tool_call_id"],
                    "content": message["content"],
                    "is_error": bool(message.get("is_error")),
                }
            )
        else:
            user_blocks().append({"type": "text", "text": message["content"]})
    return converted


# --- configuration ----------------------------------------------------------------------------------------


def model_from_env(env: Mapping[str, str] | None = None) -> ChatModel | None:
    """The configured model, or None when none is configured."""
    env = os.environ if env is None else env
    base_url = (env.get("QDI_EVAL_OPENAI_BASE_URL") or "").strip()
    if base_url:
        model = (env.get("QDI_EVAL_OPENAI_MODEL") or "").strip()
        if not model:
            raise ModelConfigError("QDI_EVAL_OPENAI_BASE_URL is set: also set QDI_EVAL_OPENAI_MODEL (the model name)")
        return OpenAICompatibleModel(base_url, model, api_key=env.get("QDI_EVAL_OPENAI_API_KEY") or None)
    api_key = (env.get("ANTHROPIC_API_KEY") or "").strip()
    if api_key:
        model = (env.get("QDI_EVAL_ANTHROPIC_MODEL") or DEFAULT_ANTHROPIC_MODEL).strip()
        return AnthropicModel(model, api_key=api_key)
    return None
