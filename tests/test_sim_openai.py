"""OpenAICache and GeminiCache: minimums, 128-token steps, routing, retention."""

from __future__ import annotations

import pytest

from stableprefix import CacheBlock, CacheUsage, FlatRequest
from stableprefix.pricing import PRICES, ModelPrices
from stableprefix.sim import GeminiCache, OpenAICache


def blk(key: str, tokens: int, ids: tuple[int, ...] | None = None) -> CacheBlock:
    return CacheBlock(key=key, tokens=tokens, kind="text", role="user", token_ids=ids)


def req(*blocks: CacheBlock, key: str | None = "conv") -> FlatRequest:
    return FlatRequest(provider="openai", blocks=blocks, routing_key=key)


def reads(cache: OpenAICache | GeminiCache, *timed: tuple[FlatRequest, float]) -> list[int]:
    return [cache.process(r, now=t).cache_read_tokens for r, t in timed]


# ------------------------------------------------------------------ OpenAI


def test_prompts_under_1024_tokens_are_not_cached() -> None:
    r = req(blk("sys", 1000), blk("q", 23))
    assert reads(OpenAICache(), (r, 0), (r, 1)) == [0, 0]


def test_hits_count_in_128_token_steps() -> None:
    cache = OpenAICache()
    cache.process(req(blk("sys", 1500), blk("q1", 40)), now=0)
    out = cache.process(req(blk("sys", 1500), blk("q2", 40)), now=1)
    assert out == CacheUsage(cache_read_tokens=1408, uncached_input_tokens=132)


@pytest.mark.parametrize(
    ("common", "cached"), [(1023, 0), (1024, 1024), (1151, 1024), (1152, 1152)]
)
def test_the_first_step_is_1024(common: int, cached: int) -> None:
    cache = OpenAICache()
    cache.process(req(blk("sys", common), blk("a", 200)), now=0)
    assert cache.process(req(blk("sys", common), blk("b", 200)), now=1).cache_read_tokens == cached


def test_whole_identical_prompt_hits_in_steps() -> None:
    r = req(blk("sys", 2048))
    assert reads(OpenAICache(), (r, 0), (r, 1)) == [0, 2048]


def test_routing_key_isolates_caches() -> None:
    cache = OpenAICache()
    a, b = req(blk("sys", 3000), key="user-a"), req(blk("sys", 3000), key="user-b")
    assert reads(cache, (a, 0), (b, 1), (a, 2), (b, 3)) == [0, 0, 2944, 2944]


def test_no_routing_key_is_its_own_route() -> None:
    cache = OpenAICache()
    keyed, bare = req(blk("sys", 3000)), req(blk("sys", 3000), key=None)
    assert reads(cache, (keyed, 0), (bare, 1)) == [0, 0]


def test_routes_sharing_a_machine_share_its_cache() -> None:
    cache = OpenAICache(machines=1)
    a, b = req(blk("sys", 3000), key="user-a"), req(blk("sys", 3000), key="user-b")
    assert reads(cache, (a, 0), (b, 1)) == [0, 2944]


def test_a_changed_start_routes_elsewhere() -> None:
    # same long tail, different first 256 tokens: different machine, and no
    # common prefix anyway
    cache = OpenAICache()
    tail = blk("doc", 3000)
    assert reads(cache, (req(blk("h1", 100), tail), 0), (req(blk("h2", 100), tail), 1)) == [0, 0]


def test_routing_hashes_only_the_first_tokens() -> None:
    # with one machine per route, prompts that share the first 256 tokens
    # share a machine even when they diverge later
    cache = OpenAICache()
    head = blk("head", 1200)
    assert reads(cache, (req(head, blk("x", 300)), 0), (req(head, blk("y", 300)), 1)) == [0, 1152]


def test_overflow_sends_surplus_requests_to_cold_machines() -> None:
    r = req(blk("sys", 2000))
    cache = OpenAICache(overflow_rpm=15)
    hits = reads(cache, *((r, float(i)) for i in range(20)))
    assert hits[0] == 0 and all(h == 1920 for h in hits[1:15])
    assert hits[15] == 0  # the 16th request in a minute lands on a new machine
    assert all(h == 1920 for h in hits[16:])
    # once the minute has passed the route is back on its first machine
    assert cache.process(r, now=200).cache_read_tokens == 1920


def test_overflow_can_be_disabled() -> None:
    r = req(blk("sys", 2000))
    hits = reads(OpenAICache(overflow_rpm=None), *((r, float(i)) for i in range(20)))
    assert hits[0] == 0 and all(h == 1920 for h in hits[1:])


def test_in_memory_retention_expires_after_idle_time() -> None:
    # "cached prefixes generally remain active for 5 to 10 minutes of inactivity"
    r = req(blk("sys", 2000))
    mem = "in_memory"
    assert reads(OpenAICache(retention=mem), (r, 0), (r, 300)) == [0, 1920]
    assert reads(OpenAICache(retention=mem), (r, 0), (r, 301)) == [0, 0]


def test_use_keeps_a_prefix_alive() -> None:
    r = req(blk("sys", 2000))
    cache = OpenAICache(retention="in_memory")
    assert reads(cache, (r, 0), (r, 250), (r, 500), (r, 750)) == [0, 1920, 1920, 1920]


def test_extended_retention_and_explicit_ttl() -> None:
    # "Extended retention typically keeps entries available for around 30
    # minutes and can retain them for up to 24 hours" (prompt-caching guide,
    # 2026-09-26): the simulator models the typical 30 minutes.
    r = req(blk("sys", 2000))
    assert reads(OpenAICache(retention="24h"), (r, 0), (r, 1800)) == [0, 1920]
    assert reads(OpenAICache(retention="24h"), (r, 0), (r, 1801)) == [0, 0]
    assert reads(OpenAICache(idle_ttl=600), (r, 0), (r, 599)) == [0, 1920]


def test_retention_defaults_follow_the_model() -> None:
    # "Organizations without Zero Data Retention enabled default to 24h" on
    # the models that support it (gpt-5, gpt-4.1, ...); gpt-5-mini and gpt-4o
    # have no extended retention; "For gpt-5.5 ... only 24h is supported".
    assert OpenAICache(model="gpt-5").retention == "24h"
    assert OpenAICache(model="gpt-4.1").retention == "24h"
    assert OpenAICache(model="gpt-5-mini").retention == "in_memory"
    assert OpenAICache(model="gpt-4o").retention == "in_memory"
    with pytest.raises(ValueError, match="accepts retention 24h"):
        OpenAICache(model="gpt-5.5", retention="in_memory")
    with pytest.raises(ValueError, match="accepts retention in_memory"):
        OpenAICache(model="gpt-4o", retention="24h")


def test_partial_block_match_with_token_ids() -> None:
    ids = tuple(range(2000))
    changed = ids[:1700] + tuple(range(5000, 5300))
    cache = OpenAICache()
    cache.process(req(blk("p1", 2000, ids)), now=0)
    assert cache.process(req(blk("p2", 2000, changed)), now=1).cache_read_tokens == 1664


def test_without_token_ids_a_changed_block_is_a_full_miss() -> None:
    cache = OpenAICache()
    cache.process(req(blk("p1", 2000)), now=0)
    assert cache.process(req(blk("p2", 2000)), now=1).cache_read_tokens == 0


def test_writes_are_reported_only_for_models_that_charge_them() -> None:
    r = req(blk("sys", 2000), blk("q", 100))
    free = OpenAICache(model="gpt-5").process(r, now=0)
    assert free == CacheUsage(uncached_input_tokens=2100)
    paid = ModelPrices(
        provider="openai",
        min_cache_tokens=1024,
        input=1.0,
        cache_read=0.1,
        output=8.0,
        cache_write_5m=1.25,
    )
    cache = OpenAICache(model="gpt-next", table={**PRICES, "gpt-next": paid})
    assert cache.process(r, now=0) == CacheUsage(cache_write_tokens=2100)
    assert cache.process(r, now=1) == CacheUsage(cache_read_tokens=2048, cache_write_tokens=52)


def test_openai_bad_options() -> None:
    with pytest.raises(ValueError, match="retention"):
        OpenAICache(retention="forever")
    with pytest.raises(ValueError, match="machines"):
        OpenAICache(machines=0)
    with pytest.raises(ValueError, match="overflow_rpm"):
        OpenAICache(overflow_rpm=-1)
    with pytest.raises(ValueError, match="idle_ttl"):
        OpenAICache(idle_ttl=0)


def test_reset_forgets() -> None:
    cache = OpenAICache()
    r = req(blk("sys", 2000))
    cache.process(r, now=0)
    cache.reset()
    assert cache.process(r, now=0).cache_read_tokens == 0


# ------------------------------------------------------------------ Gemini


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-2.5-pro"])
def test_gemini_minimum(model: str) -> None:
    below, above = req(blk("doc", 2047)), req(blk("doc2", 2048))
    cache = GeminiCache(model=model)
    assert reads(cache, (below, 0), (below, 1)) == [0, 0]
    assert reads(cache, (above, 2), (above, 3)) == [0, 2048]


def test_gemini_counts_tokens_not_steps() -> None:
    cache = GeminiCache()
    cache.process(req(blk("doc", 3001), blk("q1", 17)), now=0)
    out = cache.process(req(blk("doc", 3001), blk("q2", 17)), now=1)
    assert out == CacheUsage(cache_read_tokens=3001, uncached_input_tokens=17)


def test_gemini_common_prefix_must_reach_the_minimum() -> None:
    cache = GeminiCache(min_tokens=2048)
    cache.process(req(blk("a", 2000), blk("b", 500)), now=0)
    assert cache.process(req(blk("a", 2000), blk("c", 500)), now=1).cache_read_tokens == 0


def test_gemini_idle_ttl_and_no_routing() -> None:
    cache = GeminiCache(idle_ttl=60)
    a, b = req(blk("doc", 3000), key="x"), req(blk("doc", 3000), key="y")
    assert reads(cache, (a, 0), (b, 30), (a, 91)) == [0, 3000, 0]


def test_gemini_writes_nothing() -> None:
    out = GeminiCache().process(req(blk("doc", 3000)), now=0)
    assert out == CacheUsage(uncached_input_tokens=3000)


def test_gpt_5_5_hits_fall_on_2048_token_intervals() -> None:
    # Prompt-caching guide: implicit breakpoints sit at "model-dependent
    # intervals"; "GPT-5.5 uses regular 2,048-token intervals".
    r = req(blk("sys", 5000))
    assert OpenAICache(model="gpt-5.5").step == 2048
    assert reads(OpenAICache(model="gpt-5.5"), (r, 0), (r, 1)) == [0, 4096]
    assert reads(OpenAICache(model="gpt-5"), (r, 0), (r, 1)) == [0, 4992]
