"""Answers to streams: the events a stored plain answer replays as.

Approach: ``stream`` is not part of a key, so a streamed call can meet an
entry a plain call stored (the answer, without events). Instead of calling
upstream again, the answer is unfolded into the event sequence the API
would have streamed for it, in each API's documented order, with each text
part as one delta; ``_assemble`` adds those events back up to the same
answer. Event shapes per the providers' streaming references (Dec 2026):

- OpenAI Chat: a chunk with the role, one per content / refusal / tool
  call, one with ``finish_reason``, then (``stream_options.include_usage``)
  one with no choices and the usage
  (https://platform.openai.com/docs/api-reference/chat-streaming);
- OpenAI Responses: ``response.created``, ``response.in_progress``, per
  output item ``output_item.added``, per text part ``content_part.added``,
  ``output_text.delta``, ``output_text.done``, ``content_part.done``, then
  ``output_item.done``, and ``response.completed`` carrying the response
  (https://developers.openai.com/api/reference/resources/responses/streaming-events);
- Anthropic: ``message_start`` (empty content), per block
  ``content_block_start`` / ``_delta`` / ``_stop``, ``message_delta`` (stop
  reason, output tokens), ``message_stop``
  (https://docs.anthropic.com/en/docs/build-with-claude/streaming);
- Gemini: the answer as a single chunk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["unfold"]

Json = dict[str, Any]


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _chat(answer: Json, request: Mapping[str, Any]) -> list[Json]:
    head = {k: answer.get(k) for k in ("id", "created", "model")}
    head["object"] = "chat.completion.chunk"

    def chunk(index: int, delta: Json, finish: str | None = None) -> Json:
        return {**head, "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}

    out: list[Json] = []
    for choice in answer.get("choices") or []:
        index, message = choice.get("index", 0), choice.get("message") or {}
        out.append(chunk(index, {"role": message.get("role", "assistant"), "content": ""}))
        for field in ("content", "refusal"):
            if message.get(field):
                out.append(chunk(index, {field: message[field]}))
        for n, call in enumerate(message.get("tool_calls") or []):
            out.append(chunk(index, {"tool_calls": [{"index": n, **_copy(call)}]}))
        out.append(chunk(index, {}, choice.get("finish_reason") or "stop"))
    options = request.get("stream_options")
    if isinstance(options, Mapping) and options.get("include_usage") and answer.get("usage"):
        out.append({**head, "choices": [], "usage": _copy(answer["usage"])})
    return out


def _responses(answer: Json, request: Mapping[str, Any]) -> list[Json]:
    out: list[Json] = []

    def emit(kind: str, **fields: Any) -> None:
        out.append({"type": kind, "sequence_number": len(out), **fields})

    started = {**_copy(answer), "status": "in_progress", "output": []}
    started.pop("usage", None)
    emit("response.created", response=started)
    emit("response.in_progress", response=started)
    for n, item in enumerate(answer.get("output") or []):
        if item.get("type") != "message":
            emit("response.output_item.added", output_index=n, item=_copy(item))
            emit("response.output_item.done", output_index=n, item=_copy(item))
            continue
        emit(
            "response.output_item.added",
            output_index=n,
            item={**_copy(item), "status": "in_progress", "content": []},
        )
        for c, part in enumerate(item.get("content") or []):
            where = {"item_id": item.get("id", ""), "output_index": n, "content_index": c}
            if part.get("type") != "output_text":
                emit("response.content_part.added", **where, part=_copy(part))
                emit("response.content_part.done", **where, part=_copy(part))
                continue
            emit(
                "response.content_part.added",
                **where,
                part={**_copy(part), "text": "", "annotations": []},
            )
            emit("response.output_text.delta", **where, delta=part.get("text", ""), logprobs=[])
            emit("response.output_text.done", **where, text=part.get("text", ""), logprobs=[])
            emit("response.content_part.done", **where, part=_copy(part))
        emit("response.output_item.done", output_index=n, item=_copy(item))
    emit("response.completed", response=_copy(answer))
    return out


def _anthropic(answer: Json, request: Mapping[str, Any]) -> list[Json]:
    usage = _copy(answer.get("usage") or {})
    start = {**_copy(answer), "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**usage, "output_tokens": min(1, usage.get("output_tokens", 0))}
    out: list[Json] = [{"type": "message_start", "message": start}]
    for n, block in enumerate(answer.get("content") or []):
        kind = block.get("type")
        if kind == "text":
            opening, delta = {**block, "text": ""}, {"type": "text_delta", "text": block["text"]}
        elif kind in ("tool_use", "server_tool_use"):
            text = json.dumps(block.get("input") or {}, separators=(",", ":"))
            opening, delta = (
                {**block, "input": {}},
                {"type": "input_json_delta", "partial_json": text},
            )
        elif kind == "thinking":
            opening = {**block, "thinking": "", "signature": ""}
            delta = {"type": "thinking_delta", "thinking": block.get("thinking", "")}
        else:
            opening, delta = dict(block), None
        citations = opening.pop("citations", None) if kind == "text" else None
        out.append({"type": "content_block_start", "index": n, "content_block": _copy(opening)})
        if delta is not None:
            out.append({"type": "content_block_delta", "index": n, "delta": delta})
        if kind == "thinking" and block.get("signature"):
            sig = {"type": "signature_delta", "signature": block["signature"]}
            out.append({"type": "content_block_delta", "index": n, "delta": sig})
        for citation in citations or []:  # a text block's citations arrive as deltas
            cite = {"type": "citations_delta", "citation": _copy(citation)}
            out.append({"type": "content_block_delta", "index": n, "delta": cite})
        out.append({"type": "content_block_stop", "index": n})
    stop = {"stop_reason": answer.get("stop_reason"), "stop_sequence": answer.get("stop_sequence")}
    out.append(
        {
            "type": "message_delta",
            "delta": stop,
            "usage": {"output_tokens": usage.get("output_tokens", 0)},
        }
    )
    out.append({"type": "message_stop"})
    return out


def _gemini(answer: Json, request: Mapping[str, Any]) -> list[Json]:
    return [_copy(answer)]


_UNFOLDERS = {
    "openai.chat": _chat,
    "openai.responses": _responses,
    "anthropic.messages": _anthropic,
    "gemini.generate_content": _gemini,
}


def unfold(endpoint: str, answer: Any, request: Mapping[str, Any]) -> list[Json] | None:
    """The events ``answer`` streams as on ``endpoint`` (``None``: no stream form known).

    >>> events = unfold("anthropic.messages", {"type": "message", "role": "assistant",
    ...     "content": [{"type": "text", "text": "4"}], "stop_reason": "end_turn",
    ...     "usage": {"input_tokens": 5, "output_tokens": 1}}, {})
    >>> [e["type"] for e in events]  # doctest: +NORMALIZE_WHITESPACE
    ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop',
     'message_delta', 'message_stop']
    """
    make = _UNFOLDERS.get(endpoint)
    if make is None or not isinstance(answer, dict):
        return None
    return make(answer, request)
