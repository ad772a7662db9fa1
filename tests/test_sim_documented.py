"""The cache models against the examples and rules the providers document.

Expected numbers come from the documentation (quoted next to each test), not
from the simulator's constants. Sources: Anthropic "Prompt caching"
(platform.claude.com/docs/en/build-with-claude/prompt-caching, copies of
2026-10), OpenAI "Prompt caching" (developers.openai.com/api/docs/guides/
prompt-caching, copies of 2026-09-26 and 2026-11-04), Google "Context caching"
(ai.google.dev/gemini-api/docs/caching, 2026-10-13).
"""

from __future__ import annotations

import pytest

from stableprefix import CacheBlock, CacheUsage, FlatRequest
from stableprefix._blocks import settings_fingerprint
from stableprefix.pricing import estimate_cost, estimate_uncached_cost, get_prices
from stableprefix.sim import (
    AnthropicCache,
    CacheRuleError,
    GeminiCache,
    OpenAIBreakpointCache,
    OpenAICache,
    cache_for_model,
    simulate,
)


def blk(
    key: str,
    tokens: int,
    role: str = "user",
    *,
    ttl: str | None = None,
    kind: str = "text",
    end: bool = True,
) -> CacheBlock:
    return CacheBlock(key=key, tokens=tokens, kind=kind, role=role, cache_ttl=ttl, message_end=end)


def areq(*blocks: CacheBlock, auto: str | None = None, **kw: object) -> FlatRequest:
    return FlatRequest(provider="anthropic", blocks=blocks, auto_cache_ttl=auto, **kw)  # type: ignore[arg-type]


def oreq(*blocks: CacheBlock, mode: str | None = None, **kw: object) -> FlatRequest:
    return FlatRequest(provider="openai", blocks=blocks, cache_mode=mode, **kw)  # type: ignore[arg-type]


def rw(u: CacheUsage) -> tuple[int, int]:
    return u.cache_read_tokens, u.cache_write_tokens


# ------------------------------------------------------------------ Anthropic


def _numbered(n: int, marks: dict[int, str]) -> FlatRequest:
    """Blocks 1..n of 100 tokens each, markers on the given block numbers."""
    return areq(*(blk(f"b{i}", 100, ttl=marks.get(i)) for i in range(1, n + 1)))


def test_anthropic_lookback_example() -> None:
    # Docs: a marker checks "at most 20 positions ..., counting the breakpoint
    # itself as the first"; turn 3 with 35 blocks "checks 20 positions (blocks
    # 35 through 16) ... The turn-2 entry at block 15 is one position outside
    # the window"; a breakpoint on block 34 reaches it.
    cache = AnthropicCache(min_tokens=0)
    cache.process(_numbered(10, {10: "5m"}), now=0)
    assert rw(cache.process(_numbered(15, {15: "5m"}), now=1)) == (1000, 500)
    assert cache.process(_numbered(35, {35: "5m"}), now=2).cache_read_tokens == 0
    cache = AnthropicCache(min_tokens=0)
    cache.process(_numbered(15, {15: "5m"}), now=0)
    assert cache.process(_numbered(35, {34: "5m", 35: "5m"}), now=1).cache_read_tokens == 1500


def test_anthropic_mixed_ttl_billing_example() -> None:
    # Docs: with a hit at A, a 1h marker at B and a 5m marker at C you pay
    # "Cache read tokens for A; 1-hour cache write tokens for (B - A);
    # 5-minute cache write tokens for (C - B)".
    a, b, c = 2000, 3000, 3500
    cache = AnthropicCache(model="claude-sonnet-5-5")
    cache.process(areq(blk("s", a, "system", ttl="1h"), blk("q0", 10)), now=0)
    u = cache.process(
        areq(
            blk("s", a, "system", ttl="1h"), blk("doc", b - a, ttl="1h"), blk("h", c - b, ttl="5m")
        ),
        now=60,
    )
    assert (
        u.cache_read_tokens,
        u.cache_write_1h_tokens,
        u.cache_write_tokens - u.cache_write_1h_tokens,
    ) == (
        a,
        b - a,
        c - b,
    )
    # Priced with Sonnet 5.5's published rates: read $0.10, 1h $4, 5m $2.50.
    assert estimate_cost(u, get_prices("claude-sonnet-5-5")) == pytest.approx(
        (a * 0.10 + (b - a) * 4.0 + (c - b) * 2.50) / 1e6
    )


def test_sonnet_5_5_caches_from_512_tokens() -> None:
    # "512 tokens for ... Claude Sonnet 5.5"; shorter prompts are "processed
    # without caching, and no error is returned".
    for tokens, written in ((512, 512), (511, 0)):
        cache = AnthropicCache(model="claude-sonnet-5-5")
        assert (
            cache.process(areq(blk("s", tokens, "system", ttl="5m")), now=0).cache_write_tokens
            == written
        )


def test_parallel_requests_on_a_cold_prefix_all_write() -> None:
    # "a cache entry only becomes available after the first response begins.
    # If you need cache hits for parallel requests, wait for the first response"
    r = areq(blk("s", 5000, "system", ttl="5m"), blk("q", 20))
    usages = simulate(AnthropicCache(), [(r, 0.0, 0, 2.0), (r, 0.0, 0, 2.0), (r, 1.0, 0, 2.0)])
    assert [rw(u) for u in usages] == [(0, 5000)] * 3
    assert rw(simulate(AnthropicCache(), [(r, 0.0, 0, 2.0), (r, 2.0)])[1]) == (5000, 0)


def test_automatic_caching_moves_forward_with_the_conversation() -> None:
    # "Add a single cache_control field at the top level of your request. The
    # system automatically applies the cache breakpoint to the last cacheable
    # block and moves it forward as conversations grow."
    cache = AnthropicCache(min_tokens=0)
    history = [blk("s", 1000, "system")]
    got = []
    for turn in range(3):
        history += [blk(f"u{turn}", 100), blk(f"a{turn}", 50, "assistant")]
        got.append(rw(cache.process(areq(*history[:-1], auto="5m"), now=turn)))
        # the assistant reply joins the history of the next turn
    assert got == [(0, 1100), (1100, 150), (1250, 150)]


def test_automatic_caching_walks_back_past_thinking_blocks() -> None:
    # "it silently walks backwards to find the nearest eligible block"
    cache = AnthropicCache(min_tokens=0)
    r = areq(blk("s", 1000, "system"), blk("t", 40, "assistant", kind="thinking"), auto="5m")
    assert rw(cache.process(r, now=0)) == (0, 1000)


def test_automatic_caching_edge_cases() -> None:
    # Automatic caching "uses one of the 4 available breakpoint slots": with
    # four explicit breakpoints "the API returns a 400 error"; a different
    # TTL on the last block is a 400; the same TTL is a no-op.
    four = [blk(f"m{i}", 300, ttl="5m") for i in range(4)]
    with pytest.raises(CacheRuleError) as info:
        AnthropicCache().process(areq(*four, blk("q", 10), auto="5m"), now=0)
    assert info.value.rule == "max_markers"
    with pytest.raises(CacheRuleError) as info:
        AnthropicCache().process(areq(blk("s", 2000, ttl="5m"), auto="1h"), now=0)
    assert info.value.rule == "auto_ttl_conflict"
    same = AnthropicCache().process(areq(*four, auto="5m"), now=0)
    assert same.cache_write_tokens == 1200


def test_tool_choice_keeps_tools_and_system_but_not_messages() -> None:
    # Invalidation table: "Tool choice ✓ ✓ ✘" (tools and system cached
    # content stays valid, message blocks do not); "Speed setting ✓ ✘ ✘".
    def request(**settings: str) -> FlatRequest:
        pairs = tuple((scope, settings_fingerprint({scope: v})) for scope, v in settings.items())
        return areq(
            blk("tool", 1500, "tools", kind="tools", ttl="5m"),
            blk("s", 1500, "system", ttl="5m"),
            blk("u", 500, ttl="5m"),
            settings=pairs,
        )

    cache = AnthropicCache(min_tokens=0)
    cache.process(request(messages="auto"), now=0)
    assert rw(cache.process(request(messages="any"), now=1)) == (3000, 500)
    assert rw(cache.process(request(messages="any", system="fast"), now=2)) == (1500, 2000)
    assert rw(cache.process(request(messages="any", system="fast"), now=3)) == (3500, 0)


# --------------------------------------------------------------- OpenAI 5.6+


def test_gpt_5_6_write_and_read_multipliers_example() -> None:
    # "Writing a prefix once and reusing it once in full costs 1.35x its
    # ordinary input cost, compared with 2x for processing it twice without
    # caching ... one write plus nine full reads costs 2.15x".
    prefix = blk("dev", 2000, "developer", ttl="30m")
    r = oreq(prefix, mode="explicit")
    prices = get_prices("gpt-5.6-terra")
    for n, ratio in ((2, 1.35), (10, 2.15)):
        usages = simulate(OpenAIBreakpointCache("gpt-5.6-terra"), [(r, float(i)) for i in range(n)])
        cost = sum(estimate_cost(u, prices) for u in usages)
        assert cost / estimate_uncached_cost(usages[0], prices) == pytest.approx(ratio)


def test_implicit_mode_misses_a_stable_prefix_with_a_changing_suffix() -> None:
    # "GPT-5.6 implicit caching places a managed breakpoint near the latest user
    # or tool message ... A prompt with a large stable prefix followed by a
    # changing suffix can therefore lose cache hits even when the stable
    # prefix itself has not changed"; the remedy is an explicit breakpoint at
    # the end of the stable part.
    def turn(i: int, mark: bool) -> FlatRequest:
        return oreq(blk("dev", 3000, "developer", ttl="30m" if mark else None), blk(f"q{i}", 200))

    plain = simulate(OpenAIBreakpointCache(), [(turn(i, False), i * 10.0) for i in range(3)])
    assert [rw(u) for u in plain] == [(0, 3200)] * 3
    marked = simulate(OpenAIBreakpointCache(), [(turn(i, True), i * 10.0) for i in range(3)])
    assert [rw(u) for u in marked] == [(0, 3200), (3000, 200), (3000, 200)]


def test_a_growing_conversation_reads_the_previous_implicit_breakpoint() -> None:
    # Lookups consider "up to 20 earlier eligible message endings": last
    # turn's implicit breakpoint (its latest user message) is one of them.
    cache = OpenAIBreakpointCache()
    history = [blk("dev", 1500, "developer")]
    got = []
    for i in range(3):
        history.append(blk(f"u{i}", 100))
        got.append(rw(cache.process(oreq(*history), now=i)))
        history.append(blk(f"a{i}", 60, "assistant"))
    assert got == [(0, 1600), (1600, 160), (1760, 160)]


@pytest.mark.parametrize(("later", "hit"), [(18, True), (19, True), (20, False)])
def test_twenty_earlier_message_endings(later: int, hit: bool) -> None:
    # Lookups: "up to 20 earlier eligible message endings" before the implicit
    # breakpoint; an entry further back is not found. The entry sits at the
    # end of u0; with ``later`` more user messages and a last one (the implicit
    # breakpoint), u0 is the (later + 1)-th ending before it.
    cache = OpenAIBreakpointCache()
    base = [blk("dev", 2000, "developer"), blk("u0", 10)]
    cache.process(oreq(*base), now=0)
    tail = [blk(f"u{i}", 10) for i in range(1, later + 1)]
    u = cache.process(oreq(*base, *tail, blk("last", 10)), now=1)
    assert u.cache_read_tokens == (2010 if hit else 0)


@pytest.mark.parametrize(
    ("position", "hit"), [(1, True), (2, True), (3, False), (20, False), (21, True), (70, True)]
)
def test_first_two_and_latest_fifty_explicit_breakpoints(position: int, hit: bool) -> None:
    # Lookups: "The first 2 and latest 50 explicit breakpoints". One user
    # message in 70 parts, each part with a breakpoint: parts 3..20 are
    # neither among the first 2 nor the latest 50. A first request writes
    # only the entry that ends at part ``position``.
    parts = [blk(f"p{i}", 100, ttl="30m", end=False) for i in range(1, 71)]
    head = [blk("dev", 1000, "developer"), *(blk(f"p{i}", 100) for i in range(1, position))]
    warm = OpenAIBreakpointCache()
    warm.process(oreq(*head, blk(f"p{position}", 100, ttl="30m"), mode="explicit"), now=0)
    full = oreq(blk("dev", 1000, "developer"), *parts, mode="explicit")
    assert warm.process(full, now=1).cache_read_tokens == (1000 + 100 * position if hit else 0)


def test_at_most_four_writes_per_request() -> None:
    # "Each request can create up to four new cache writes."
    marks = [blk(f"p{i}", 1000, ttl="30m", end=False) for i in range(6)]
    cache = OpenAIBreakpointCache()
    cache.process(oreq(*marks, mode="explicit"), now=0)
    found = [
        cache.process(oreq(*marks[:k], blk(f"x{k}", 10), mode="explicit"), now=k).cache_read_tokens
        for k in range(1, 7)
    ]
    assert sum(1 for f in found if f) == 4


def test_thirty_minutes_after_last_write_or_reuse() -> None:
    # "A cached prefix remains eligible for reuse for 30 minutes after its most
    # recent write or reuse."
    r = oreq(blk("dev", 2000, "developer", ttl="30m"), mode="explicit")
    times = [0.0, 1800.0, 3600.0, 5401.0]
    assert [
        u.cache_read_tokens for u in simulate(OpenAIBreakpointCache(), [(r, t) for t in times])
    ] == [
        0,
        2000,
        2000,
        0,
    ]


def test_minimum_and_rules() -> None:
    # "1,024 tokens is a strict minimum"; breakpoints go on "user, system/
    # developer or tool content", not assistant content.
    short = oreq(blk("dev", 1023, "developer", ttl="30m"), mode="explicit")
    assert simulate(OpenAIBreakpointCache(), [(short, 0.0), (short, 1.0)])[1].cache_read_tokens == 0
    with pytest.raises(CacheRuleError) as info:
        OpenAIBreakpointCache().process(oreq(blk("a", 2000, "assistant", ttl="30m")), now=0)
    assert info.value.rule == "assistant_breakpoint"
    with pytest.raises(CacheRuleError, match="30m"):
        OpenAIBreakpointCache().process(oreq(blk("d", 2000, "developer", ttl="5m")), now=0)


def test_changed_settings_miss_the_whole_prefix() -> None:
    # Settings that affect the cached prefix include tools, parallel_tool_calls,
    # text.format, reasoning.effort and text.verbosity: they are rendered into
    # the prompt ahead of the conversation.
    def r(effort: str) -> FlatRequest:
        fp = settings_fingerprint({"reasoning.effort": effort})
        return oreq(
            blk("dev", 2000, "developer", ttl="30m"), blk("u", 50), settings=(("tools", fp),)
        )

    got = simulate(OpenAIBreakpointCache(), [(r("low"), 0.0), (r("high"), 1.0), (r("high"), 2.0)])
    assert [u.cache_read_tokens for u in got] == [0, 0, 2050]


def test_parallel_requests_write_on_openai_and_gemini_too() -> None:
    doc = blk("doc", 6000, "developer", ttl="30m")
    for cache in (OpenAIBreakpointCache(), OpenAICache(), GeminiCache(model="gemini-3.8-flash")):
        r = oreq(doc, blk("q", 20))
        usages = simulate(cache, [(r, 0.0, 0, 3.0), (r, 1.0, 0, 3.0), (r, 3.0)])
        assert [u.cache_read_tokens > 0 for u in usages] == [False, False, True], cache


def test_the_factory_picks_the_breakpoint_model_by_family() -> None:
    assert isinstance(cache_for_model("gpt-5.6-sol"), OpenAIBreakpointCache)
    assert isinstance(cache_for_model("gpt-6.1-sol"), OpenAIBreakpointCache)
    assert isinstance(cache_for_model("gpt-5"), OpenAICache)


# ------------------------------------------------------------------- Gemini


def test_gemini_3_minimum_is_4096() -> None:
    # Context caching page: "Gemini 3.8 Flash 4,096 ... Gemini 2.5 Flash 2,048".
    r = FlatRequest(provider="gemini", blocks=(blk("doc", 3000),))
    assert GeminiCache(model="gemini-3.8-flash").min_tokens == 4096
    assert GeminiCache(model="gemini-3.9-flash").min_tokens == 4096  # unknown 3.x id
    assert (
        simulate(GeminiCache(model="gemini-3.8-flash"), [(r, 0.0), (r, 1.0)])[1].cache_read_tokens
        == 0
    )
    assert (
        simulate(GeminiCache(model="gemini-2.5-flash"), [(r, 0.0), (r, 1.0)])[1].cache_read_tokens
        == 3000
    )
