"""Message builders for tests, in both provider formats."""

from __future__ import annotations

import json
from typing import Any

from stableprefix import (
    AnthropicAdapter,
    GeminiAdapter,
    OpenAIAdapter,
    OpenAIResponsesAdapter,
    PromptConfig,
)
from stableprefix.adapters import ProviderAdapter

Message = dict[str, Any]


class Fmt:
    """Builds messages in one adapter's wire format."""

    def __init__(self, adapter: ProviderAdapter) -> None:
        self.adapter = adapter
        self.name = adapter.name

    def user(self, text: str) -> Message:
        if self.name == "anthropic":
            return {"role": "user", "content": [{"type": "text", "text": text}]}
        if self.name == "gemini":
            return {"role": "user", "parts": [{"text": text}]}
        return {"role": "user", "content": text}

    def assistant(self, text: str) -> Message:
        if self.name == "gemini":
            return {"role": "model", "parts": [{"text": text}]}
        return {"role": "assistant", "content": text}

    def calls(self, *ids: str) -> list[Message]:
        """The message(s) of one model turn calling ``ids`` (one item per call in Responses)."""
        if self.name == "openai_responses":
            return [{"type": "function_call", "call_id": i, "name": "lookup",
                     "arguments": json.dumps({"q": i})} for i in ids]
        return [self.call(*ids)]

    def call(self, *ids: str, text: str | None = None) -> Message:
        if self.name == "openai_responses":
            assert len(ids) == 1 and text is None, "use calls() for Responses"
            return self.calls(*ids)[0]
        if self.name == "gemini":
            parts: list[Message] = [{"text": text}] if text else []
            parts += [{"function_call": {"id": i, "name": "lookup", "args": {"q": i}}}
                      for i in ids]
            return {"role": "model", "parts": parts}
        if self.name == "anthropic":
            blocks: list[Message] = [{"type": "text", "text": text}] if text else []
            blocks += [{"type": "tool_use", "id": i, "name": "lookup", "input": {"q": i}}
                       for i in ids]
            return {"role": "assistant", "content": blocks}
        calls = [{"id": i, "type": "function",
                  "function": {"name": "lookup", "arguments": json.dumps({"q": i})}}
                 for i in ids]
        return {"role": "assistant", "content": text, "tool_calls": calls}

    def results(self, *ids: str, text: str = "result") -> list[Message]:
        """The message(s) answering ``ids``: one per id (OpenAI), one for all (Anthropic)."""
        if self.name == "anthropic":
            return [{"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": i, "content": f"{text} {i}"}
                for i in ids]}]
        if self.name == "openai_responses":
            return [{"type": "function_call_output", "call_id": i, "output": f"{text} {i}"}
                    for i in ids]
        if self.name == "gemini":
            return [{"role": "user", "parts": [
                {"function_response": {"id": i, "name": "lookup",
                                       "response": {"output": f"{text} {i}"}}}
                for i in ids]}]
        return [{"role": "tool", "tool_call_id": i, "content": f"{text} {i}"} for i in ids]

    def tool(self) -> Message:
        schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
        if self.name == "anthropic":
            return {"name": "lookup", "description": "Look a thing up.", "input_schema": schema}
        if self.name == "openai_responses":
            return {"type": "function", "name": "lookup", "description": "Look a thing up.",
                    "parameters": schema}
        if self.name == "gemini":
            return {"name": "lookup", "description": "Look a thing up.", "parameters": schema}
        return {"type": "function", "function": {
            "name": "lookup", "description": "Look a thing up.", "parameters": schema}}


FORMATS = [Fmt(OpenAIAdapter()), Fmt(AnthropicAdapter())]
FORMAT_IDS = [f.name for f in FORMATS]
#: Every wire format, for the contract and property suites.
ALL_FORMATS = [*FORMATS, Fmt(OpenAIResponsesAdapter()), Fmt(GeminiAdapter())]
ALL_FORMAT_IDS = [f.name for f in ALL_FORMATS]


def config_for(fmt: Fmt, **kw: Any) -> PromptConfig:
    kw.setdefault("static_system_prompt", "You are a careful assistant.")
    return PromptConfig(adapter=fmt.adapter, **kw)


def all_messages(state: Any) -> list[Message]:
    return [*state["committed"], *state["recent"]]
