"""Neutral workload messages in each provider's wire format.

The benchmark speaks three formats: OpenAI Chat Completions (also what
vLLM, SGLang and llama.cpp servers take), Anthropic Messages and Gemini
``generate_content``. A ``Wire`` pairs a format with the adapter that
flattens its requests for the cache models (and that the stableprefix
strategies build with). Conversions are plain and deterministic: equal
neutral messages give equal dicts, so byte stability is decided by the
strategies alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..adapters import OpenAIAdapter, ProviderAdapter, get_provider
from ._workloads import Message, ToolSpec

__all__ = ["FORMATS", "Wire", "make_wire", "to_wire", "tools_wire"]

#: Wire formats the benchmark can write.
FORMATS = ("openai", "anthropic", "gemini")

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Wire:
    """A wire format and the adapter that builds and flattens its requests.

    >>> make_wire("anthropic", "claude-sonnet-5-5").adapter.name
    'anthropic'
    """

    name: str
    adapter: ProviderAdapter
    model: str | None = None


def make_wire(name: str, model: str | None = None, *, engine: str = "openai") -> Wire:
    """The ``Wire`` of format ``name``; ``model`` sets the adapter's cache rules.

    The adapter comes from the provider registry (``get_provider(name)``),
    set up for ``model`` by its ``for_model`` and, where the cache rules
    follow the model per request (OpenAI's GPT-5.6+ breakpoints), its
    ``with_model``. ``engine`` is the server behind the OpenAI format
    (``OpenAIAdapter(engine=...)``): a local engine gets the layout a
    local-engine user gets, and no hosted model's rules.

    Raises:
        ValueError: ``name`` is not one of ``FORMATS``.

    >>> make_wire("openai").adapter.name
    'openai'
    >>> make_wire("openai", "gpt-5.6-terra").adapter.model
    'gpt-5.6-terra'
    >>> make_wire("openai", engine="llama.cpp").adapter.caches_generated_tokens
    True
    """
    if name not in FORMATS:
        raise ValueError(f"unknown wire format {name!r}; choose one of {', '.join(FORMATS)}")
    if engine != "openai":  # engines exist only behind the OpenAI format
        return Wire(name, OpenAIAdapter(engine=engine), model)
    adapter = get_provider(name).adapter.for_model(model)
    follow = getattr(adapter, "with_model", None)
    if model is not None and callable(follow):
        adapter = follow(model)
    return Wire(name, adapter, model)


def tools_wire(fmt: str, tools: Sequence[ToolSpec]) -> list[Json]:
    """Tool definitions in the format's shape.

    >>> from stableprefix.benchmark._workloads import ToolSpec
    >>> t = ToolSpec(name="f", description="d", parameters={"type": "object"})
    >>> tools_wire("anthropic", [t])[0]["input_schema"]
    {'type': 'object'}
    """
    convert = _TOOL_CONVERTERS.get(fmt)
    if convert is None:
        raise ValueError(f"unknown wire format {fmt!r}; choose one of {', '.join(FORMATS)}")
    # json round trip: each request gets a private deep copy of the schema
    return [convert(t, json.loads(json.dumps(dict(t.parameters)))) for t in tools]


def _openai_tool(t: ToolSpec, params: Json) -> Json:
    function = {"name": t.name, "description": t.description, "parameters": params}
    return {"type": "function", "function": function}


def _anthropic_tool(t: ToolSpec, params: Json) -> Json:
    return {"name": t.name, "description": t.description, "input_schema": params}


def _gemini_tool(t: ToolSpec, params: Json) -> Json:
    return {"name": t.name, "description": t.description, "parameters": params}


_TOOL_CONVERTERS = {"openai": _openai_tool, "anthropic": _anthropic_tool, "gemini": _gemini_tool}


def _openai(msg: Message) -> list[Json]:
    if msg.role == "tool":
        return [
            {"role": "tool", "tool_call_id": r.call_id, "content": r.content} for r in msg.results
        ]
    if msg.role == "assistant" and msg.calls:
        calls = [
            {
                "id": c.id,
                "type": "function",
                "function": {
                    "name": c.name,
                    "arguments": json.dumps(dict(c.arguments), sort_keys=True),
                },
            }
            for c in msg.calls
        ]
        return [{"role": "assistant", "content": msg.text or None, "tool_calls": calls}]
    return [{"role": msg.role, "content": msg.text}]


def _anthropic(msg: Message) -> list[Json]:
    if msg.role == "tool":
        return [
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": r.call_id, "content": r.content}
                    for r in msg.results
                ],
            }
        ]
    if msg.role == "assistant" and msg.calls:
        blocks: list[Json] = [{"type": "text", "text": msg.text}] if msg.text else []
        blocks += [
            {"type": "tool_use", "id": c.id, "name": c.name, "input": dict(c.arguments)}
            for c in msg.calls
        ]
        return [{"role": "assistant", "content": blocks}]
    return [{"role": msg.role, "content": msg.text}]


def _gemini(msg: Message) -> list[Json]:
    if msg.role == "tool":
        return [
            {
                "role": "user",
                "parts": [
                    {
                        "function_response": {
                            "id": r.call_id,
                            "name": r.name,
                            "response": {"output": r.content},
                        }
                    }
                    for r in msg.results
                ],
            }
        ]
    role = "model" if msg.role == "assistant" else "user"
    parts: list[Json] = [{"text": msg.text}] if msg.text else []
    parts += [
        {"function_call": {"id": c.id, "name": c.name, "args": dict(c.arguments)}}
        for c in msg.calls
    ]
    return [{"role": role, "parts": parts}]


_CONVERTERS = {"openai": _openai, "anthropic": _anthropic, "gemini": _gemini}


def to_wire(fmt: str, msg: Message) -> list[Json]:
    """``msg`` as the format's message dicts (tool results: one per result
    for OpenAI, one message holding all of them elsewhere).

    Raises:
        ValueError: ``fmt`` is not one of ``FORMATS``.

    >>> from stableprefix.benchmark._workloads import Message
    >>> to_wire("gemini", Message(role="assistant", text="Hi"))
    [{'role': 'model', 'parts': [{'text': 'Hi'}]}]
    """
    conv = _CONVERTERS.get(fmt)
    if conv is None:
        raise ValueError(f"unknown wire format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return conv(msg)
