"""Streams to answers: which events finish a stream, and the answer they add up to.

Approach: a streamed call is stored only when its stream finished the way
the API says a complete stream does (OpenAI Chat: a ``finish_reason`` on
every choice; Responses: a ``response.completed`` event; Anthropic:
``message_stop``; Gemini: a ``finish_reason`` on the last chunk). The events
are kept (a streamed hit replays them) together with the answer they add up
to, built here from plain JSON, so a plain call can hit an entry a streamed
call stored. Event shapes per the providers' streaming references (Dec 2026).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["ASSEMBLERS", "assemble"]

Json = dict[str, Any]


def _chat(events: list[Json]) -> Json | None:
    if not events:
        return None
    choices: dict[int, Json] = {}
    usage = None
    for event in events:
        usage = event.get("usage") or usage
        for delta_choice in event.get("choices") or []:
            index = delta_choice.get("index", 0)
            choice = choices.setdefault(
                index, {"index": index, "message": {"role": "assistant"}, "finish_reason": None}
            )
            _chat_delta(choice["message"], delta_choice.get("delta") or {})
            if delta_choice.get("finish_reason"):
                choice["finish_reason"] = delta_choice["finish_reason"]
    if not choices or any(c["finish_reason"] is None for c in choices.values()):
        return None  # the stream stopped before every choice finished
    first = events[0]
    out: Json = {
        "id": first.get("id"),
        "object": "chat.completion",
        "created": first.get("created"),
        "model": first.get("model"),
        "choices": [choices[i] for i in sorted(choices)],
    }
    if usage is not None:
        out["usage"] = usage
    return out


def _chat_delta(message: Json, delta: Json) -> None:
    for field in ("content", "refusal"):
        if delta.get(field) is not None:
            message[field] = (message.get(field) or "") + delta[field]
    for call in delta.get("tool_calls") or []:
        calls = message.setdefault("tool_calls", [])
        index = call.get("index", 0)
        while len(calls) <= index:
            calls.append(
                {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
            )
        slot = calls[index]
        slot["id"] = call.get("id") or slot["id"]
        function = call.get("function") or {}
        slot["function"]["name"] += function.get("name") or ""
        slot["function"]["arguments"] += function.get("arguments") or ""


def _responses(events: list[Json]) -> Json | None:
    for event in reversed(events):
        if event.get("type") == "response.completed":
            response = event.get("response")
            return response if isinstance(response, dict) else None
    return None


def _anthropic(events: list[Json]) -> Json | None:
    if not events or events[-1].get("type") != "message_stop":
        return None
    message: Json | None = None
    partial: dict[int, str] = {}
    for event in events:
        kind = event.get("type")
        if kind == "message_start":
            message = json.loads(json.dumps(event["message"]))
            message["content"] = []
        elif message is None:
            return None
        elif kind == "content_block_start":
            message["content"].append(dict(event["content_block"]))
        elif kind == "content_block_delta":
            _anthropic_delta(
                message["content"][event["index"]], event["delta"], partial, event["index"]
            )
        elif kind == "content_block_stop" and event["index"] in partial:
            text = partial.pop(event["index"])
            message["content"][event["index"]]["input"] = json.loads(text) if text else {}
        elif kind == "message_delta":
            message.update({k: v for k, v in (event.get("delta") or {}).items()})
            message["usage"] = {**(message.get("usage") or {}), **(event.get("usage") or {})}
    return message


def _anthropic_delta(block: Json, delta: Json, partial: dict[int, str], index: int) -> None:
    kind = delta.get("type")
    if kind == "text_delta":
        block["text"] = block.get("text", "") + delta["text"]
    elif kind == "input_json_delta":
        partial[index] = partial.get(index, "") + delta["partial_json"]
    elif kind == "thinking_delta":
        block["thinking"] = block.get("thinking", "") + delta["thinking"]
    elif kind == "signature_delta":
        block["signature"] = delta["signature"]
    elif kind == "citations_delta":
        block.setdefault("citations", []).append(delta["citation"])


def _gemini(events: list[Json]) -> Json | None:
    if not events:
        return None
    last = events[-1]
    candidates = last.get("candidates") or []
    if not candidates or not candidates[0].get("finish_reason"):
        return None
    parts: list[Json] = []
    for event in events:
        for candidate in (event.get("candidates") or [])[:1]:
            for part in (candidate.get("content") or {}).get("parts") or []:
                if (
                    "text" in part
                    and parts
                    and set(parts[-1]) == {"text"}
                    and set(part) == {"text"}
                ):
                    parts[-1] = {"text": parts[-1]["text"] + part["text"]}
                else:
                    parts.append(dict(part))
    out = json.loads(json.dumps(last))
    out["candidates"][0]["content"] = {"role": "model", "parts": parts}
    return out  # type: ignore[no-any-return]


ASSEMBLERS = {
    "openai.chat": _chat,
    "openai.responses": _responses,
    "anthropic.messages": _anthropic,
    "gemini.generate_content": _gemini,
}


def assemble(endpoint: str, events: list[Json]) -> Json | None:
    """The answer a finished stream adds up to, or ``None`` when it did not finish.

    >>> assemble("openai.chat", [
    ...     {"id": "c", "created": 1, "model": "m",
    ...      "choices": [{"index": 0, "delta": {"content": "Hel"}}]},
    ...     {"id": "c", "created": 1, "model": "m",
    ...      "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
    ... ])["choices"][0]["message"]
    {'role': 'assistant', 'content': 'Hello'}
    >>> assemble("anthropic.messages", [{"type": "message_start", "message": {}}]) is None
    True
    """
    return ASSEMBLERS[endpoint](events)
