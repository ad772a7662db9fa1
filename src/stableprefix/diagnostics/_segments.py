"""A request cut into the segments a provider's cache compares, in cache order.

Approach: the diagnostics read requests as they went over the wire, in any
of the four supported formats, and cut each into ordered *segments*: the
model, the cache-relevant settings, each tool definition, each system
block, each message content block. A segment keeps the exact text the
provider sees (key order preserved, so key-order drift shows) with cache
markers removed (a marker is placement, not content) and a plain string
normalised to the one text block it stands for. Two requests share a
cacheable prefix exactly as far as their segments' texts agree.

Unlike ``adapter.flatten`` (which hashes canonical JSON for the simulator),
segments keep the text, so the first differing character can be located
and the changed span read for volatile values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import DiagnosticsError
from .._json import canonical
from ..adapters._base import ProviderAdapter

__all__ = ["Segment", "Segmented", "segment_request"]

# Request fields that change what a provider may reuse without being part of
# the prompt text (per provider, in the documented invalidation tables).
_SETTINGS = {
    "anthropic": ("tool_choice", "thinking", "output_format", "output_config"),
    "openai": ("tool_choice", "response_format", "reasoning_effort", "service_tier"),
    "openai_responses": ("tool_choice", "text", "reasoning", "service_tier"),
    "gemini": ("tool_config", "response_schema", "response_mime_type", "thinking_config"),
}
_MARKERS = ("cache_control", "prompt_cache_breakpoint")


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    """One unit the provider's cache compares.

    Attributes:
        path: where it sits in the request, e.g. ``"$.messages[3].content[0]"``.
        area: ``"model"``, ``"settings"``, ``"tools"``, ``"system"`` or ``"messages"``.
        message: index of the message (item, content) it belongs to, else ``None``.
        role: the role of that message (the area name outside messages).
        text: the exact text the provider sees, markers removed.
        canonical: the same with object keys sorted.
        tokens: prompt tokens of the segment (0 for model and settings).
        marker: whether it carries a cache marker or breakpoint.
        ttl: the marker's TTL (``"5m"`` or ``"1h"``) when it sets one.
        name: a tool's name (tools only).
        body: the plain text of a text block (``None`` for anything else).

    >>> Segment(path="$.model", area="model", message=None, role="model",
    ...         text="m", canonical="m", tokens=0).marker
    False
    """

    path: str
    area: str
    message: int | None
    role: str
    text: str
    canonical: str
    tokens: int
    marker: bool = False
    ttl: str | None = None
    name: str | None = None
    body: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Segmented:
    """A whole request as segments, plus what the comparison needs besides.

    Attributes:
        provider: the adapter's provider name.
        model: the ``model`` field ("" when absent).
        segments: all segments in cache order.
        auto_marker: Anthropic top-level ``cache_control`` (automatic caching).
        message_count: how many messages (items, contents) the request has.

    >>> from stableprefix.adapters import OpenAIAdapter
    >>> s = segment_request({"model": "gpt-5", "messages": [
    ...     {"role": "user", "content": "Hi"}]}, OpenAIAdapter())
    >>> [seg.area for seg in s.segments]
    ['model', 'settings', 'messages']
    """

    provider: str
    model: str
    segments: tuple[Segment, ...]
    auto_marker: bool = False
    message_count: int = 0

    @property
    def total_tokens(self) -> int:
        """All prompt tokens of the request."""
        return sum(s.tokens for s in self.segments)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _bare(value: Any) -> tuple[Any, bool, str | None]:
    """``value`` without cache markers, whether it had one, and its TTL."""
    if not isinstance(value, Mapping):
        return value, False, None
    marked = any(k in value for k in _MARKERS)
    return {k: v for k, v in value.items() if k not in _MARKERS}, marked, _ttl(value)


def _ttl(value: Mapping[str, Any]) -> str | None:
    for key in _MARKERS:
        marker = value.get(key)
        if isinstance(marker, Mapping) and marker.get("ttl") in ("5m", "1h"):
            return str(marker["ttl"])
    return None


class _Builder:
    """Collects segments of one request; counts tokens with the adapter."""

    def __init__(self, adapter: ProviderAdapter) -> None:
        self.adapter = adapter
        self.out: list[Segment] = []

    def add(
        self,
        path: str,
        area: str,
        value: Any,
        *,
        message: int | None = None,
        role: str = "",
        tokens: int | None = None,
        name: str | None = None,
    ) -> None:
        bare, marked, ttl = _bare(value)
        text = bare if isinstance(bare, str) else _dump(bare)
        body = bare.get("text") if isinstance(bare, Mapping) and len(bare) <= 2 else None
        if not isinstance(body, str):
            body = None
        if tokens is None:
            tokens = (
                self.adapter.count_text_tokens(body)
                if body is not None
                else self.adapter.count_json_tokens(bare)
            )
        key = role + ":" if message is not None else ""
        self.out.append(
            Segment(
                path=path,
                area=area,
                message=message,
                role=role or area,
                text=key + text,
                canonical=key + (bare if isinstance(bare, str) else canonical(bare)),
                tokens=tokens,
                marker=marked,
                ttl=ttl,
                name=name,
                body=body,
            )
        )

    def settings(self, request: Mapping[str, Any], names: Sequence[str], base: str) -> None:
        picked = {n: request[n] for n in names if n in request}
        self.add(base + "settings", "settings", _dump(picked), tokens=0)


def _require_list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise DiagnosticsError(
            f"{path} must be a list, got {type(value).__name__}; pass the request as sent",
            path=path,
        )
    return list(value)


def _text_blocks(content: Any, path: str, kind: str = "text") -> list[Any]:
    """A string is one text block; a list stays as it is."""
    if isinstance(content, str):
        return [{"type": kind, "text": content}]
    return _require_list(content, path)


def _anthropic(request: Mapping[str, Any], b: _Builder) -> int:
    for i, tool in enumerate(_require_list(request.get("tools"), "$.tools")):
        b.add(f"$.tools[{i}]", "tools", tool, name=_tool_name(tool))
    for i, block in enumerate(_text_blocks(request.get("system"), "$.system")):
        b.add(f"$.system[{i}]", "system", block, role="system")
    b.settings(request, _SETTINGS["anthropic"], "$.")
    messages = _require_list(request.get("messages"), "$.messages")
    for n, message in enumerate(messages):
        _message(b, message, f"$.messages[{n}]", n, "content", "text")
    return len(messages)


def _message(b: _Builder, message: Any, path: str, n: int, field: str, kind: str) -> None:
    if not isinstance(message, Mapping):
        raise DiagnosticsError(f"{path} must be an object, got {type(message).__name__}", path=path)
    role = str(message.get("role", message.get("type", "")))
    blocks = _text_blocks(message.get(field), f"{path}.{field}", kind)
    head = {k: v for k, v in message.items() if k not in (field, *_MARKERS)}
    if len(head) > 1 or not blocks:
        b.add(path, "messages", head, message=n, role=role)
    for i, block in enumerate(blocks):
        b.add(f"{path}.{field}[{i}]", "messages", block, message=n, role=role)
    if any(k in message for k in _MARKERS):
        last = b.out[-1]
        b.out[-1] = Segment(**{**_fields(last), "marker": True, "ttl": _ttl(message)})


def _fields(seg: Segment) -> dict[str, Any]:
    return {name: getattr(seg, name) for name in Segment.__slots__}


def _openai(request: Mapping[str, Any], b: _Builder) -> int:
    b.settings(request, _SETTINGS["openai"], "$.")
    for i, tool in enumerate(_require_list(request.get("tools"), "$.tools")):
        b.add(f"$.tools[{i}]", "tools", tool, name=_tool_name(tool))
    messages = _require_list(request.get("messages"), "$.messages")
    system = True
    for n, message in enumerate(messages):
        start = len(b.out)
        _message(b, message, f"$.messages[{n}]", n, "content", "text")
        system = system and isinstance(message, Mapping) and message.get("role") in _SYS
        if system:
            _to_system(b, start)
    return len(messages)


_SYS = ("system", "developer")


def _to_system(b: _Builder, start: int) -> None:
    for i in range(start, len(b.out)):
        b.out[i] = Segment(**{**_fields(b.out[i]), "area": "system"})


def _responses(request: Mapping[str, Any], b: _Builder) -> int:
    b.settings(request, _SETTINGS["openai_responses"], "$.")
    for i, tool in enumerate(_require_list(request.get("tools"), "$.tools")):
        b.add(f"$.tools[{i}]", "tools", tool, name=_tool_name(tool))
    instructions = request.get("instructions")
    if isinstance(instructions, str) and instructions:
        b.add("$.instructions", "system", {"type": "input_text", "text": instructions})
    raw = request.get("input")
    items = [{"role": "user", "content": raw}] if isinstance(raw, str) else raw
    items = _require_list(items, "$.input")
    system = True
    for n, item in enumerate(items):
        start = len(b.out)
        role = item.get("role") if isinstance(item, Mapping) else None
        kind = "output_text" if role == "assistant" else "input_text"
        if isinstance(item, Mapping) and "content" in item:
            _message(b, item, f"$.input[{n}]", n, "content", kind)
        else:
            b.add(f"$.input[{n}]", "messages", item, message=n, role=str(role or "item"))
        system = system and role in _SYS
        if system:
            _to_system(b, start)
    return len(items)


def _gemini(request: Mapping[str, Any], b: _Builder) -> int:
    config = request.get("config") or {}
    if not isinstance(config, Mapping):
        raise DiagnosticsError("$.config must be an object", path="$.config")
    b.settings(config, _SETTINGS["gemini"], "$.config.")
    for i, tool in enumerate(_require_list(config.get("tools"), "$.config.tools")):
        decls = tool.get("function_declarations") if isinstance(tool, Mapping) else None
        if isinstance(decls, list) and len(tool) == 1:
            for j, decl in enumerate(decls):
                path = f"$.config.tools[{i}].function_declarations[{j}]"
                b.add(path, "tools", decl, name=_tool_name(decl))
        else:
            b.add(f"$.config.tools[{i}]", "tools", tool, name=_tool_name(tool))
    system = config.get("system_instruction")
    if isinstance(system, str):
        system = {"parts": [{"text": system}]}
    if isinstance(system, Mapping):
        for i, part in enumerate(_require_list(system.get("parts"), "$.config.system_instruction")):
            b.add(f"$.config.system_instruction.parts[{i}]", "system", part, role="system")
    contents = request.get("contents")
    if isinstance(contents, str):
        contents = [{"role": "user", "parts": [{"text": contents}]}]
    contents = _require_list(contents, "$.contents")
    for n, content in enumerate(contents):
        if isinstance(content, Mapping):
            parts = content.get("parts")
            fixed = {**content, "parts": [{"text": parts}] if isinstance(parts, str) else parts}
            _message(b, fixed, f"$.contents[{n}]", n, "parts", "text")
        else:
            b.add(f"$.contents[{n}]", "messages", content, message=n, role="user")
    return len(contents)


def _tool_name(tool: Any) -> str | None:
    if not isinstance(tool, Mapping):
        return None
    fn = tool.get("function")
    name = fn.get("name") if isinstance(fn, Mapping) else tool.get("name")
    return name if isinstance(name, str) else None


_FORMATS: dict[str, Callable[[Mapping[str, Any], _Builder], int]] = {
    "anthropic": _anthropic,
    "openai": _openai,
    "openai_responses": _responses,
    "gemini": _gemini,
}


def segment_request(request: Any, adapter: ProviderAdapter) -> Segmented:
    """Cut ``request`` (as sent, in ``adapter``'s wire format) into segments.

    Args:
        request: the SDK keyword arguments of one request (a dict).
        adapter: the adapter of the wire format (counts the tokens).

    Returns:
        The request's ``Segmented`` form.

    Raises:
        TypeError: ``request`` is not a mapping.
        DiagnosticsError: the request is malformed for the format, or the
            adapter's format is not one the diagnostics read.

    >>> from stableprefix.adapters import AnthropicAdapter
    >>> s = segment_request({"model": "m", "system": "Be brief.", "messages": []},
    ...                     AnthropicAdapter())
    >>> [seg.path for seg in s.segments]
    ['$.model', '$.system[0]', '$.settings']
    """
    if not isinstance(request, Mapping):
        raise TypeError(f"a request must be a dict, got {type(request).__name__}")
    cut = _FORMATS.get(adapter.name)
    if cut is None:
        raise DiagnosticsError(
            f"the diagnostics read the anthropic, openai, openai_responses and gemini formats, "
            f"not {adapter.name!r}; pass one of those adapters",
            path="adapter",
        )
    b = _Builder(adapter)
    model = request.get("model", "")
    b.add("$.model", "model", _dump(model), tokens=0)
    count = cut(request, b)
    auto = adapter.name == "anthropic" and isinstance(request.get("cache_control"), Mapping)
    return Segmented(
        provider=adapter.name,
        model=model if isinstance(model, str) else "",
        segments=tuple(b.out),
        auto_marker=auto,
        message_count=count,
    )
