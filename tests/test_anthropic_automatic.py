"""Anthropic automatic caching (a top-level ``cache_control``) and mid-conversation
system messages, checked with the Anthropic cache model.

Automatic caching puts one marker on the last cacheable block and moves it
forward as the conversation grows; it takes one of the four marker slots
(prompt caching guide, https://platform.claude.com/docs/en/build-with-claude/
prompt-caching, read 2026-12-01).
"""

from __future__ import annotations

from typing import Any

import pytest

from stableprefix import AnthropicAdapter, CacheMarkerError, PromptConfig, PromptManager
from stableprefix.sim import AnthropicCache

STATIC = "You are an operations agent for a parcel network. " * 60  # ~600 tokens
MODEL = "claude-sonnet-5-5"


def _run(adapter: AnthropicAdapter, contexts: list[str | None]) -> list[tuple[int, int]]:
    """(read, written) per turn of a chat whose context changes as given."""
    pm = PromptManager(PromptConfig(adapter=adapter, static_system_prompt=STATIC,
                                    dynamic_position="tail", transition_mode="agent_cycle"))
    cache = AnthropicCache(model=MODEL)
    out = []
    for turn, ctx in enumerate(contexts):
        pm.append({"role": "user", "content": f"Question {turn}: " + "where is it? " * 40})
        usage = cache.process(adapter.flatten(pm.build_request(ctx)), now=turn * 30.0)
        out.append((usage.cache_read_tokens, usage.cache_write_tokens))
        pm.append({"role": "assistant", "content": f"Answer {turn}: " + "at the hub. " * 20})
    return out


def test_the_top_level_marker_is_sent_and_moves_forward() -> None:
    adapter = AnthropicAdapter(model=MODEL, cache_strategy="automatic")
    turns = _run(adapter, [None] * 4)
    for (read, _), (prev_read, prev_written) in zip(turns[1:], turns, strict=False):
        assert read == prev_read + prev_written  # each turn reads all the last one cached
    pm = PromptManager(PromptConfig(adapter=adapter, static_system_prompt=STATIC))
    pm.append({"role": "user", "content": "Hi"})
    request = pm.build_request()
    assert request["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in request["system"][0]  # nothing of ours


def test_a_changing_tail_context_defeats_automatic_caching_but_not_our_markers() -> None:
    contexts = [f"Clock: 09:{m:02d}" for m in range(4)]
    automatic = _run(AnthropicAdapter(model=MODEL, cache_strategy="automatic"), contexts)
    explicit = _run(AnthropicAdapter(model=MODEL), contexts)
    # the automatic marker lands on the context, which the next turn no longer has
    assert [read for read, _ in automatic] == [0, 0, 0, 0]
    assert all(read > 0 for read, _ in explicit[1:])
    hybrid = _run(AnthropicAdapter(model=MODEL, cache_strategy="hybrid"), contexts)
    assert all(read > 0 for read, _ in hybrid[1:])  # the static part at least


def _own(n: int) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": f"Document {n} " + "x " * 50,
                                         "cache_control": {"type": "ephemeral"}}]}


def test_a_callers_top_level_marker_takes_a_slot() -> None:
    adapter = AnthropicAdapter(cache_control={"type": "ephemeral"})
    pm = PromptManager(PromptConfig(adapter=adapter, static_system_prompt=STATIC))
    for n in range(3):
        pm.append(_own(n))
        pm.append({"role": "assistant", "content": "Noted."})
    pm.append({"role": "user", "content": "Compare them."})
    request = pm.build_request("Clock: 09:30")
    flat = adapter.flatten(request)
    assert request["cache_control"] == {"type": "ephemeral"}
    assert flat.marker_count == 4  # three of the caller's and the automatic one, none of ours
    assert flat.blocks[-1].cache_ttl == "5m"
    AnthropicCache(model=MODEL).process(flat, now=0.0)
    pm.append({"role": "assistant", "content": "Done."})
    pm.append(_own(3))
    with pytest.raises(CacheMarkerError, match="at most 4") as info:
        pm.build_request()
    assert info.value.rule == "max_markers"


def test_a_one_hour_automatic_marker_after_a_callers_five_minute_one_is_refused() -> None:
    adapter = AnthropicAdapter(cache_control={"type": "ephemeral", "ttl": "1h"})
    pm = PromptManager(PromptConfig(adapter=adapter, static_system_prompt=STATIC))
    pm.append(_own(0))
    with pytest.raises(CacheMarkerError) as info:
        pm.build_request()
    assert (info.value.rule, info.value.path) == ("ttl_order", "$.cache_control")


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"cache_strategy": "auto"}, ValueError, "cache_strategy must be"),
    ({"cache_control": {"type": "persistent"}}, ValueError, "cache_control must be"),
    ({"cache_control": "ephemeral"}, TypeError, "must be a dict"),
    ({"context_role": "system", "model": MODEL}, ValueError, "mid-conversation system"),
    ({"context_role": "assistant"}, ValueError, "context_role must be"),
])
def test_bad_options_are_refused(kwargs: dict[str, Any], error: type[Exception],
                                 words: str) -> None:
    with pytest.raises(error, match=words):
        AnthropicAdapter(**kwargs)


def test_the_context_as_a_mid_conversation_system_message() -> None:
    adapter = AnthropicAdapter(model="claude-opus-4-8", context_role="system")
    pm = PromptManager(PromptConfig(adapter=adapter, static_system_prompt=STATIC,
                                    transition_mode="agent_cycle"))
    pm.append({"role": "user", "content": "Where is parcel 7?"})
    request = pm.build_request("Clock: 09:30")
    assert request["messages"] == [{"role": "user", "content": "Where is parcel 7?"},
                                   {"role": "system", "content": "Clock: 09:30"}]
    user = AnthropicAdapter(model="claude-opus-4-8")
    plain = PromptManager(PromptConfig(adapter=user, static_system_prompt=STATIC,
                                       transition_mode="agent_cycle"))
    plain.append({"role": "user", "content": "Where is parcel 7?"})
    # the same cacheable prefix and the same tokens: only the context's role differs
    ours, theirs = adapter.flatten(request), user.flatten(plain.build_request("Clock: 09:30"))
    assert [b.key for b in ours.blocks[:-1]] == [b.key for b in theirs.blocks[:-1]]
    assert ours.total_tokens == theirs.total_tokens
    # before the turn it would break the placement rules: it stays a user message
    pm2 = PromptManager(PromptConfig(adapter=adapter, static_system_prompt=STATIC,
                                     dynamic_position="before_recent",
                                     transition_mode="agent_cycle"))
    pm2.append({"role": "user", "content": "Hi"})
    assert pm2.build_request("Clock: 09:30")["messages"][0]["role"] == "user"
