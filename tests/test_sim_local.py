"""Token-level caches: RadixCache, VLLMCache, LlamaCppCache."""

from __future__ import annotations

import pytest

from stableprefix import CacheBlock, CacheUsage, FlatRequest
from stableprefix.sim import CacheModel, LlamaCppCache, RadixCache, VLLMCache, simulate


def blk(key: str, tokens: int, ids: tuple[int, ...] | None = None) -> CacheBlock:
    return CacheBlock(key=key, tokens=tokens, kind="text", role="user", token_ids=ids)


def req(*blocks: CacheBlock) -> FlatRequest:
    return FlatRequest(provider="local", blocks=blocks)


def reads(cache: CacheModel, *requests: FlatRequest) -> list[int]:
    return [
        u.cache_read_tokens
        for u in simulate(cache, [(r, float(i)) for i, r in enumerate(requests)])
    ]


A, B, C = blk("a", 600), blk("b", 600), blk("c", 600)


# ------------------------------------------------------------------ radix


def test_radix_caps_at_n_minus_one() -> None:
    assert reads(RadixCache(), req(A), req(A)) == [0, 599]
    assert reads(RadixCache(), req(A, B), req(A)) == [0, 599]


def test_radix_matches_any_earlier_request() -> None:
    assert reads(RadixCache(), req(A, B), req(C), req(A, C)) == [0, 0, 600]


def test_radix_reports_no_writes() -> None:
    out = RadixCache().process(req(A, B), now=0)
    assert out == CacheUsage(uncached_input_tokens=1200)


def test_radix_lru_evicts_least_recently_used_leaf() -> None:
    # capacity for two 600-token prompts
    cache = RadixCache(capacity_tokens=1200)
    assert reads(cache, req(A), req(B), req(A), req(C), req(A), req(B)) == [0, 0, 599, 0, 599, 0]


def test_radix_eviction_drops_leaves_first() -> None:
    cache = RadixCache(capacity_tokens=1300)
    # A+B then A+C: the A node is shared; adding C evicts the B leaf only
    assert reads(cache, req(A, B), req(A, C), req(A, B)) == [0, 600, 600]


def test_radix_token_ids_match_inside_a_block() -> None:
    one = blk("p1", 100, tuple(range(100)))
    two = blk("p2", 100, (*range(90), *range(500, 510)))
    assert reads(RadixCache(), req(one), req(two)) == [0, 90]


def test_radix_token_ids_match_across_block_boundaries() -> None:
    split = req(blk("x", 3, (1, 2, 3)), blk("y", 2, (4, 5)))
    whole = req(blk("z", 6, (1, 2, 3, 4, 5, 6)))
    assert reads(RadixCache(), split, whole) == [0, 5]
    assert reads(RadixCache(), whole, split) == [0, 4]  # n - 1 of the 5-token prompt


def test_pseudo_tokens_never_match_real_ids() -> None:
    assert reads(RadixCache(), req(blk("k", 10)), req(blk("k", 10, tuple(range(10))))) == [0, 0]


def test_empty_blocks_are_ignored() -> None:
    assert reads(RadixCache(), req(blk("e", 0), A), req(A)) == [0, 599]


# ------------------------------------------------------------------- vLLM


def test_vllm_counts_full_blocks_only() -> None:
    r = req(blk("sys", 100))
    assert reads(VLLMCache(), r, r) == [0, 96]
    assert reads(VLLMCache(block_size=32), r, r) == [0, 96]
    assert reads(VLLMCache(block_size=64), r, r) == [0, 64]


def test_vllm_always_recomputes_the_last_token() -> None:
    r = req(blk("sys", 64))
    assert reads(VLLMCache(), r, r) == [0, 48]


def test_vllm_partial_block_at_the_divergence_is_lost() -> None:
    assert reads(
        VLLMCache(), req(blk("s", 40), blk("u1", 40)), req(blk("s", 40), blk("u2", 40))
    ) == [
        0,
        32,
    ]


def test_vllm_lru_evicts_tail_blocks() -> None:
    long, other = req(blk("long", 160)), req(blk("other", 80))
    cache = VLLMCache(capacity_blocks=10)
    # `other` needs 5 blocks: the last 5 blocks of `long` go, its first 5 stay
    assert reads(cache, long, other, long) == [0, 0, 80]


def test_vllm_unbounded_keeps_everything() -> None:
    long, other = req(blk("long", 160)), req(blk("other", 80))
    assert reads(VLLMCache(), long, other, long) == [0, 0, 144]


def test_vllm_token_ids() -> None:
    one = blk("p1", 100, tuple(range(100)))
    two = blk("p2", 100, (*range(90), *range(500, 510)))
    assert reads(VLLMCache(), req(one), req(two)) == [0, 80]


# -------------------------------------------------------------- llama.cpp


def test_llamacpp_single_slot_reuses_only_the_previous_prompt() -> None:
    assert reads(LlamaCppCache(), req(A, B), req(A, C), req(A, B)) == [0, 600, 600]
    assert reads(LlamaCppCache(ram_cache=False), req(A), req(B), req(A)) == [0, 0, 0]
    # the host-RAM prompt cache (on by default) restores A
    assert reads(LlamaCppCache(), req(A), req(B), req(A)) == [0, 0, 599]


def test_llamacpp_caps_at_n_minus_one() -> None:
    assert reads(LlamaCppCache(), req(A), req(A)) == [0, 599]


def test_llamacpp_picks_the_most_similar_slot() -> None:
    two = LlamaCppCache(slots=2, ram_cache=False)
    assert reads(two, req(A), req(B), req(A), req(B)) == [0, 0, 599, 599]


def test_llamacpp_dissimilar_prompt_takes_the_least_recently_used_slot() -> None:
    cache = LlamaCppCache(slots=2, ram_cache=False)
    # A, B fill both slots; A is used again; C overwrites B's slot (LRU)
    assert reads(cache, req(A), req(B), req(A), req(C), req(A), req(B)) == [0, 0, 599, 0, 599, 0]


def test_llamacpp_similarity_threshold() -> None:
    short_overlap = req(A, blk("x", 2000))
    strict = LlamaCppCache(slots=2, similarity=0.5, ram_cache=False)
    lax = LlamaCppCache(slots=2, similarity=0.1, ram_cache=False)
    # after A, B, A the least recently used slot holds B; the slot holding A
    # shares 600 of 2600 tokens: under 50%, over 10%
    assert reads(strict, req(A), req(B), req(A), short_overlap) == [0, 0, 599, 0]
    assert reads(lax, req(A), req(B), req(A), short_overlap) == [0, 0, 599, 600]


def test_llamacpp_token_ids() -> None:
    one = blk("p1", 100, tuple(range(100)))
    two = blk("p2", 100, (*range(90), *range(500, 510)))
    assert reads(LlamaCppCache(), req(one), req(two)) == [0, 90]


# --------------------------------------------------------------- contract


@pytest.mark.parametrize("make", [RadixCache, VLLMCache, LlamaCppCache])
def test_reset_and_clock(make: type) -> None:
    cache = make()
    assert isinstance(cache, CacheModel)
    cache.process(req(A), now=5)
    with pytest.raises(ValueError, match="backwards"):
        cache.process(req(A), now=4)
    cache.reset()
    assert cache.process(req(A), now=0).cache_read_tokens == 0
    assert cache.process(req(A), now=0, output_tokens=7).output_tokens == 7
    assert repr(cache).startswith(make.__name__)


@pytest.mark.parametrize(
    "build",
    [
        lambda: RadixCache(capacity_tokens=0),
        lambda: VLLMCache(block_size=0),
        lambda: VLLMCache(capacity_blocks=-3),
        lambda: LlamaCppCache(slots=0),
        lambda: LlamaCppCache(similarity=1.5),
    ],
)
def test_bad_options(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


def test_simulate_accepts_output_tokens_and_rejects_junk() -> None:
    out = simulate(RadixCache(), [(req(A), 0.0, 12)])
    assert out[0].output_tokens == 12
    with pytest.raises(TypeError, match="tuples"):
        simulate(RadixCache(), [req(A)])  # type: ignore[list-item]


def test_llamacpp_slot_keeps_the_generated_tokens_but_the_last() -> None:
    from stableprefix import CacheBlock, FlatRequest
    from stableprefix.sim import LlamaCppCache

    def req(*ids: int) -> FlatRequest:
        return FlatRequest(provider="local", blocks=(
            CacheBlock(key="p", tokens=len(ids), kind="text", role="user", token_ids=ids),))

    cache = LlamaCppCache()
    cache.process(req(1, 2, 3, 4), now=0, output_tokens=3, output_token_ids=[7, 8, 9])
    # the reply (7, 8) comes back in the next prompt: reused; 9 was never evaluated
    assert cache.process(req(1, 2, 3, 4, 7, 8, 9, 5), now=1).cache_read_tokens == 6
    plain = LlamaCppCache()
    plain.process(req(1, 2, 3, 4), now=0, output_tokens=3)
    assert plain.process(req(1, 2, 3, 4, 7, 8, 9, 5), now=1).cache_read_tokens == 4
