"""An Anthropic request as the blocks its cache sees (``AnthropicAdapter.flatten``).

Approach: one ``CacheBlock`` per tool definition, system block and message
content block, in prefix order, each keyed by its bytes without the marker
and salted with its role and whether it opens a message. Two shapes need
more: a ``tool_result`` whose nested blocks carry markers becomes one piece
per nested block (each marker caches the prefix up to its own block), and a
top-level ``cache_control`` (automatic caching) becomes a marker on the last
cacheable block, where the API puts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._blocks import CacheBlock, FlatRequest
from .._json import canonical, sha256_hex
from ._anthropic_markers import ttl_of
from ._settings import ANTHROPIC, request_settings

if TYPE_CHECKING:
    from ._anthropic import AnthropicAdapter

__all__ = ["flatten_request"]

MESSAGE_OVERHEAD = 3
_KINDS = ("text", "tool_use", "tool_result", "image", "thinking")


def _blocks(message: Mapping[str, Any]) -> list[Any]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content if isinstance(content, list) else []


def flatten_request(adapter: AnthropicAdapter, request: Mapping[str, Any]) -> FlatRequest:
    """The ordered cacheable blocks of an Anthropic request.

    >>> from stableprefix import AnthropicAdapter
    >>> flat = flatten_request(AnthropicAdapter(), {"cache_control": {"type": "ephemeral"},
    ...     "messages": [{"role": "user", "content": "Hi"}]})
    >>> [(b.kind, b.cache_ttl) for b in flat.blocks]
    [('text', '5m')]
    """
    out = [
        _flat(t, "tools", "tools", "tools", adapter.count_json_tokens(t))
        for t in request.get("tools") or ()
    ]
    system = request.get("system")
    if isinstance(system, str):
        system = [{"type": "text", "text": system}]
    for block in system or ():
        tokens = adapter.count_text_tokens(str(block.get("text", "")))
        out.append(_flat(block, "system", "system", "system", tokens))
    for message in request.get("messages") or ():
        role = str(message.get("role", ""))
        for i, block in enumerate(_blocks(message)):
            kind = block.get("type", "other")
            kind = kind if kind in _KINDS else "other"
            tokens = adapter.block_tokens(block) + (MESSAGE_OVERHEAD if i == 0 else 0)
            salt = f"{role}:{i == 0}"
            if kind == "tool_result" and _nested_marker(block):
                out.extend(_flat_nested(adapter, block, salt, role, tokens))
            else:
                out.append(_flat(block, salt, kind, role, tokens))
    automatic = request.get("cache_control")
    auto_ttl = None
    if isinstance(automatic, Mapping):
        auto_ttl = ttl_of({"cache_control": dict(automatic)}) or "5m"
        _apply_automatic(out, auto_ttl)
    return FlatRequest(
        provider=adapter.name,
        blocks=tuple(out),
        auto_cache_ttl=auto_ttl if auto_ttl in ("5m", "1h") else None,
        settings=request_settings(request, ANTHROPIC),
    )


def _flat(block: Any, salt: str, kind: str, role: str, tokens: int) -> CacheBlock:
    # The role boundary is part of the prefix; the message number is not
    # (it is implied by the chain), so only the role and start flag salt it.
    bare = {k: v for k, v in block.items() if k != "cache_control"}
    return CacheBlock(
        key=sha256_hex(salt + canonical(bare)),
        tokens=tokens,
        kind=kind,
        role=role,
        cache_ttl=ttl_of(block),
    )


def _nested_marker(block: dict[str, Any]) -> bool:
    inner = block.get("content")
    return isinstance(inner, list) and any(ttl_of(b) is not None for b in inner)


def _flat_nested(
    adapter: AnthropicAdapter, block: dict[str, Any], salt: str, role: str, tokens: int
) -> list[CacheBlock]:
    """A ``tool_result`` whose nested blocks carry markers, as one piece per block.

    Each nested marker caches the prefix up to its own block, so the pieces
    keep the markers where they are; a last piece of no tokens carries the
    ``tool_result``'s own marker. The pieces are one run of ``tool_result``
    blocks, so they share one lookback position.
    """
    inner = block["content"]
    head = canonical({k: v for k, v in block.items() if k not in ("content", "cache_control")})
    nested = [adapter.block_tokens(b) if isinstance(b, dict) else 0 for b in inner]
    framing = tokens - sum(nested)  # the block's own framing rides on the first piece
    pieces: list[CacheBlock] = []
    for k, b in enumerate(inner):
        bare = {x: v for x, v in b.items() if x != "cache_control"} if isinstance(b, dict) else b
        pieces.append(
            CacheBlock(
                key=sha256_hex(f"{salt}{head}[{k}]{canonical(bare)}"),
                tokens=nested[k] + (framing if k == 0 else 0),
                kind="tool_result",
                role=role,
                cache_ttl=ttl_of(b),
            )
        )
    pieces.append(
        CacheBlock(
            key=sha256_hex(f"{salt}{head}[end]"),
            tokens=0 if inner else tokens,
            kind="tool_result",
            role=role,
            cache_ttl=ttl_of(block),
        )
    )
    return pieces


def _apply_automatic(blocks: list[CacheBlock], ttl: str) -> None:
    """Put a top-level ``cache_control`` where the API does: the last cacheable block.

    "The system automatically applies the cache breakpoint to the last
    cacheable block"; it "silently walks backwards to find the nearest
    eligible block", and is a no-op when that block already carries a marker
    (prompt caching guide, automatic caching, read 2026-12-01).
    """
    for i in range(len(blocks) - 1, -1, -1):
        b = blocks[i]
        if b.kind == "thinking" or b.tokens == 0:
            continue
        if b.cache_ttl is None:
            blocks[i] = CacheBlock(
                key=b.key,
                tokens=b.tokens,
                kind=b.kind,
                role=b.role,
                cache_ttl=ttl,
                token_ids=b.token_ids,
            )
        return
