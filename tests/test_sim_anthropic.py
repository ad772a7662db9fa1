"""AnthropicCache: markers, minimums, the 20-position lookback, TTLs, accounting."""

from __future__ import annotations

import pytest

from stableprefix import CacheBlock, CacheUsage, FlatRequest, StablePrefixError
from stableprefix.sim import AnthropicCache, CacheRuleError


def blk(key: str, tokens: int = 10, *, kind: str = "text", ttl: str | None = None) -> CacheBlock:
    role = "system" if kind == "system" else "user"
    return CacheBlock(key=key, tokens=tokens, kind=kind, role=role, cache_ttl=ttl)


def req(*blocks: CacheBlock) -> FlatRequest:
    return FlatRequest(provider="anthropic", blocks=blocks)


def usage(read: int = 0, write: int = 0, w1h: int = 0, rest: int = 0) -> CacheUsage:
    return CacheUsage(
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=w1h,
        uncached_input_tokens=rest,
    )


SYS = blk("sys", 2000, kind="system", ttl="5m")


def test_write_then_read_then_uncached_tail() -> None:
    cache = AnthropicCache(model="claude-sonnet-4-5")
    r = req(SYS, blk("q", 30))
    assert cache.process(r, now=0) == usage(write=2000, rest=30)
    assert cache.process(r, now=10) == usage(read=2000, rest=30)


def test_no_marker_caches_nothing() -> None:
    cache = AnthropicCache()
    r = req(blk("sys", 5000, kind="system"), blk("q"))
    assert cache.process(r, now=0) == usage(rest=5010)
    assert cache.process(r, now=1) == usage(rest=5010)


def test_growing_conversation_reads_the_last_prefix_and_writes_the_new_part() -> None:
    cache = AnthropicCache()
    h1, h2, h3 = blk("u1", 100), blk("a1", 100), blk("u2", 100, ttl="5m")
    cache.process(req(SYS, blk("u1", 100, ttl="5m")), now=0)
    out = cache.process(req(SYS, h1, h2, h3, blk("tail", 7)), now=5)
    # read: sys+u1 (written by the first request); write: a1+u2; uncached: tail
    assert out == usage(read=2100, write=200, rest=7)


def test_longest_match_wins() -> None:
    cache = AnthropicCache()
    a = blk("a", 500, ttl="5m")
    cache.process(req(SYS, a), now=0)
    out = cache.process(req(SYS, a, blk("b", 50, ttl="5m")), now=1)
    assert out.cache_read_tokens == 2500
    assert out.cache_write_tokens == 50


@pytest.mark.parametrize(
    ("model", "prefix", "cached"),
    [
        ("claude-sonnet-4-5", 1023, False),
        ("claude-sonnet-4-5", 1024, True),
        ("claude-haiku-4-5", 4095, False),
        ("claude-haiku-4-5", 4096, True),
        ("claude-opus-4-5", 2000, False),
        ("claude-3-5-haiku", 2048, True),
    ],
)
def test_minimum_cacheable_prefix(model: str, prefix: int, cached: bool) -> None:
    cache = AnthropicCache(model=model)
    r = req(blk("sys", prefix, kind="system", ttl="5m"), blk("q", 5))
    first = cache.process(r, now=0)
    second = cache.process(r, now=1)
    if cached:
        assert first == usage(write=prefix, rest=5)
        assert second == usage(read=prefix, rest=5)
    else:  # silently not cached: no error, everything billed as input
        assert first == second == usage(rest=prefix + 5)


def test_marker_below_minimum_is_skipped_but_later_markers_count() -> None:
    cache = AnthropicCache(model="claude-sonnet-4-5")
    tools = CacheBlock(key="tools", tokens=500, kind="tools", role="tools", cache_ttl="5m")
    first = cache.process(req(tools, blk("m1", 1000, ttl="5m")), now=0)
    assert first == usage(write=1500)
    # a request that shares only the tools finds no entry for them
    other = cache.process(req(tools, blk("m2", 1000, ttl="5m")), now=1)
    assert other == usage(write=1500)


def test_min_tokens_override() -> None:
    cache = AnthropicCache(model=None, min_tokens=0)
    r = req(blk("tiny", 3, ttl="5m"))
    cache.process(r, now=0)
    assert cache.process(r, now=1) == usage(read=3)


def test_five_markers_are_a_400() -> None:
    cache = AnthropicCache()
    marks = [blk(f"b{i}", 400, ttl="5m") for i in range(5)]
    with pytest.raises(CacheRuleError) as info:
        cache.process(req(*marks), now=0)
    assert info.value.rule == "max_markers"
    assert isinstance(info.value, StablePrefixError)
    assert "at most 4" in str(info.value)
    # four are fine, and the failed request left no entry behind
    out = cache.process(req(*marks[:4], blk("b4", 400)), now=1)
    assert out == usage(write=1600, rest=400)


def test_1h_marker_after_5m_marker_is_a_400() -> None:
    with pytest.raises(CacheRuleError, match="ttl_order"):
        AnthropicCache().process(req(blk("a", 2000, ttl="5m"), blk("b", 100, ttl="1h")), now=0)


def test_1h_writes_are_split_out() -> None:
    cache = AnthropicCache()
    r = req(blk("sys", 2000, kind="system", ttl="1h"), blk("m", 300, ttl="5m"), blk("q", 9))
    assert cache.process(r, now=0) == usage(write=2300, w1h=2000, rest=9)
    assert cache.process(r, now=1) == usage(read=2300, rest=9)


# ---------------------------------------------------------------- lookback


def _lookback_pair(gap: int) -> tuple[FlatRequest, FlatRequest]:
    """An entry at block 1, then a request whose marker sits ``gap`` blocks later."""
    base = [SYS, blk("h0", 10)]
    first = req(SYS, blk("h0", 10, ttl="5m"))
    more = [blk(f"h{i}", 10) for i in range(1, gap)]
    second = req(*base, *more, blk(f"h{gap}", 10, ttl="5m"))
    return first, second


@pytest.mark.parametrize(("gap", "hit"), [(1, True), (19, True), (20, False), (25, False)])
def test_lookback_spans_twenty_positions(gap: int, hit: bool) -> None:
    cache = AnthropicCache(min_tokens=1024)
    first, second = _lookback_pair(gap)
    cache.process(first, now=0)
    out = cache.process(second, now=1)
    # on a miss only the system marker's own entry (2000 tokens) is read
    assert out.cache_read_tokens == (2010 if hit else 2000)
    assert out.input_tokens == 2010 + 10 * gap


def test_lookback_is_configurable() -> None:
    cache = AnthropicCache(lookback=30)
    first, second = _lookback_pair(25)
    cache.process(first, now=0)
    assert cache.process(second, now=1).cache_read_tokens == 2010


def _tool_heavy(collapse: bool) -> CacheUsage:
    cache = AnthropicCache(collapse_tool_runs=collapse)
    cache.process(req(SYS, blk("u", 10, ttl="5m")), now=0)
    calls = [blk(f"call{i}", 10, kind="tool_use") for i in range(12)]
    results = [blk(f"res{i}", 10, kind="tool_result") for i in range(12)]
    second = req(SYS, blk("u", 10), blk("say", 5), *calls, *results, blk("next", 10, ttl="5m"))
    return cache.process(second, now=1)


def test_a_run_of_tool_blocks_counts_as_one_position() -> None:
    # 26 blocks after the entry, but only 4 positions: text, tool_use run,
    # tool_result run, text
    assert _tool_heavy(collapse=True).cache_read_tokens == 2010


def test_without_collapsing_the_same_request_misses() -> None:
    # only the system marker's own entry is found
    assert _tool_heavy(collapse=False).cache_read_tokens == 2000


def test_a_second_marker_keeps_an_old_entry_within_reach() -> None:
    cache = AnthropicCache()
    first, second = _lookback_pair(25)
    cache.process(first, now=0)
    # same blocks as `second` but with an extra marker 10 blocks in
    blocks = list(second.blocks)
    blocks[11] = blk(blocks[11].key, 10, ttl="5m")
    out = cache.process(req(*blocks), now=1)
    assert out.cache_read_tokens == 2010


# --------------------------------------------------------------------- TTLs


def test_5m_entry_expires() -> None:
    r = req(SYS, blk("q", 1))
    cache = AnthropicCache()
    cache.process(r, now=0)
    assert cache.process(r, now=300).cache_read_tokens == 2000
    cache.reset()
    cache.process(r, now=0)
    out = cache.process(r, now=301)
    assert out == usage(write=2000, rest=1)


def test_a_hit_refreshes_the_ttl() -> None:
    r = req(SYS, blk("q", 1))
    cache = AnthropicCache()
    cache.process(r, now=0)
    assert cache.process(r, now=250).cache_read_tokens == 2000
    assert cache.process(r, now=500).cache_read_tokens == 2000  # 250 s after the refresh
    assert cache.process(r, now=801).cache_read_tokens == 0


def test_a_refresh_through_another_marker_counts() -> None:
    cache = AnthropicCache()
    cache.process(req(SYS, blk("a", 10, ttl="5m")), now=0)
    # marker on `b` looks back to the sys entry and refreshes it
    cache.process(req(SYS, blk("b", 10, ttl="5m")), now=200)
    assert cache.process(req(SYS, blk("c", 10)), now=450).cache_read_tokens == 2000


def test_1h_entry_outlives_5m() -> None:
    cache = AnthropicCache()
    r = req(blk("sys", 2000, kind="system", ttl="1h"), blk("q", 1))
    cache.process(r, now=0)
    assert cache.process(r, now=3000).cache_read_tokens == 2000
    assert cache.process(r, now=6601).cache_read_tokens == 0


def test_a_5m_rewrite_does_not_shorten_a_1h_entry() -> None:
    cache = AnthropicCache()
    long_lived = req(blk("sys", 2000, kind="system", ttl="1h"))
    short = req(blk("sys", 2000, kind="system", ttl="5m"))
    cache.process(long_lived, now=0)
    cache.process(short, now=10)
    assert cache.process(short, now=2000).cache_read_tokens == 2000


# ---------------------------------------------------------------- contract


def test_time_must_not_run_backwards() -> None:
    cache = AnthropicCache()
    cache.process(req(SYS), now=10)
    with pytest.raises(ValueError, match="backwards"):
        cache.process(req(SYS), now=9)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError):
        AnthropicCache().process({"blocks": []}, now=0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        AnthropicCache().process(req(SYS), now=float("nan"))
    with pytest.raises(ValueError):
        AnthropicCache().process(req(SYS), now=0, output_tokens=-1)
    with pytest.raises(ValueError):
        AnthropicCache(lookback=0)
    # An unknown id is simulated with its family's conservative minimum.
    assert AnthropicCache(model="claude-9").min_tokens == 4096
    assert AnthropicCache(model="claude-fable-9").min_tokens == 512


def test_output_tokens_are_copied() -> None:
    assert AnthropicCache().process(req(SYS), now=0, output_tokens=42).output_tokens == 42
