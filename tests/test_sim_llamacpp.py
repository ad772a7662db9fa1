"""LlamaCppCache against the rules of llama.cpp's server source.

Each case follows one rule of ``get_available_slot`` or
``server_prompt_cache`` (see the module docstring of
``stableprefix.sim._llamacpp``); ``tests/test_engine_slots.py`` checks the
same model against the real server, request by request.
"""

from __future__ import annotations

import pytest

from stableprefix import CacheBlock, FlatRequest
from stableprefix.sim import LlamaCppCache


def ids(*ranges: range) -> FlatRequest:
    tokens = tuple(t for r in ranges for t in r)
    block = CacheBlock(key="p", tokens=len(tokens), kind="text", role="user", token_ids=tokens)
    return FlatRequest(provider="local", blocks=(block,))


A = range(0, 600)
B = range(1000, 1600)
C = range(2000, 2600)


def test_never_used_slots_come_first_and_ties_go_to_the_highest_id() -> None:
    cache = LlamaCppCache(slots=3, ram_cache=False)
    used = []
    for prompt in (A, B, C):
        cache.process(ids(prompt), now=0)
        used.append(cache.last_slot)
    assert used == [2, 1, 0]
    # all three used: the least recently released one (slot 2) goes next
    cache.process(ids(range(5000, 5100)), now=1)
    assert cache.last_slot == 2


def test_similarity_must_be_strictly_above_the_threshold() -> None:
    # 60 of 600 tokens in common is exactly 0.1: not enough, the LRU slot is taken
    at_threshold = ids(range(0, 60), range(7000, 7540))
    above = ids(range(0, 61), range(7000, 7539))
    for prompt, slot, cached in ((at_threshold, 0, 0), (above, 1, 61)):
        cache = LlamaCppCache(slots=2, ram_cache=False)
        cache.process(ids(A), now=0)
        assert cache.last_slot == 1
        assert cache.process(prompt, now=1).cache_read_tokens == cached
        assert cache.last_slot == slot


def test_similarity_zero_turns_the_choice_off() -> None:
    cache = LlamaCppCache(slots=2, similarity=0, ram_cache=False)
    reads = [cache.process(ids(A), now=t).cache_read_tokens for t in range(3)]
    # LRU alternates the slots, so the second request finds an empty one
    assert reads == [0, 0, 599]


def test_busy_slots_are_skipped() -> None:
    cache = LlamaCppCache(slots=2, ram_cache=False)
    cache.process(ids(A), now=0, done_at=10)
    # slot 1 holds A but is still busy: the request goes to slot 0, cold
    assert cache.process(ids(A), now=1, done_at=2).cache_read_tokens == 0
    assert cache.last_slot == 0
    # both idle again: the first of the equally similar slots wins
    assert cache.process(ids(A), now=11).cache_read_tokens == 599
    assert cache.last_slot == 0


def test_a_request_waits_when_every_slot_is_busy() -> None:
    cache = LlamaCppCache(slots=1, ram_cache=False)
    cache.process(ids(A), now=0, done_at=10)
    # it runs after the first one finished, in the same slot
    assert cache.process(ids(A), now=1).cache_read_tokens == 599


def test_a_pinned_slot_is_used_even_when_another_is_more_similar() -> None:
    cache = LlamaCppCache(slots=2, ram_cache=False)
    cache.process(ids(A), now=0, slot=0)
    assert cache.process(ids(A), now=1, slot=1).cache_read_tokens == 0
    assert cache.last_slot == 1
    assert cache.process(ids(A, B), now=2, slot=0).cache_read_tokens == 600


def test_ram_cache_restores_a_prompt_the_slot_lost() -> None:
    on, off = LlamaCppCache(), LlamaCppCache(ram_cache=False)
    assert [on.process(ids(p), now=0).cache_read_tokens for p in (A, B, A)] == [0, 0, 599]
    assert [off.process(ids(p), now=0).cache_read_tokens for p in (A, B, A)] == [0, 0, 0]


def test_ram_cache_is_not_consulted_while_the_slot_keeps_half_of_its_tokens() -> None:
    # A+B then A+C: the slot keeps 600 of 1200 tokens (f_keep 0.5, not < 0.5),
    # so nothing is saved and A+B cannot come back from RAM
    cache = LlamaCppCache()
    reads = [cache.process(ids(A, p), now=0).cache_read_tokens for p in (B, C, B)]
    assert reads == [0, 600, 600]


def test_ram_cache_skips_prompts_that_would_keep_under_a_quarter() -> None:
    head = range(0, 100)
    for tail, cached in ((range(100, 600), 0), (range(100, 300), 100)):
        cache = LlamaCppCache()
        cache.process(ids(head, tail), now=0)
        cache.process(ids(B), now=1)  # unrelated: the slot's prompt goes to RAM
        # 100 common tokens keep 100/600 < 0.25 of the first entry, 100/300 of the second
        assert cache.process(ids(head, range(9000, 9100)), now=2).cache_read_tokens == cached


def test_ram_cache_capacity_evicts_the_oldest_prompt() -> None:
    small = LlamaCppCache(ram_cache_tokens=1300)
    for prompt in (A, B, C):
        small.process(ids(prompt), now=0)
    # RAM holds A and B; saving C (the slot's tokens) pushes A out
    assert small.process(ids(B), now=1).cache_read_tokens == 599
    assert small.process(ids(A), now=2).cache_read_tokens == 0


def test_unified_kv_clears_idle_slots_after_saving_them() -> None:
    cache = LlamaCppCache(slots=2, unified_kv=True)
    cache.process(ids(A), now=0)
    cache.process(ids(B), now=1)  # A's slot is saved to RAM and cleared
    # A comes back from RAM into the empty slot (LRU), not from its old slot
    assert cache.process(ids(A), now=2).cache_read_tokens == 599
    assert cache.last_slot == 1


def test_generated_tokens_stay_in_the_slot_and_go_to_ram_with_it() -> None:
    cache = LlamaCppCache()
    cache.process(ids(A), now=0, output_tokens=3, output_token_ids=[7, 8, 9])
    cache.process(ids(B), now=1)
    follow_up = ids(A, range(7, 9), range(3000, 3010))
    assert cache.process(follow_up, now=2).cache_read_tokens == 602


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"slots": 0}, ValueError),
        ({"similarity": -0.1}, ValueError),
        ({"ram_cache_tokens": 0}, ValueError),
        ({"ram_cache": "yes"}, TypeError),
        ({"unified_kv": 1}, TypeError),
    ],
)
def test_bad_options(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        LlamaCppCache(**kwargs)  # type: ignore[arg-type]


def test_bad_process_arguments_leave_the_model_usable() -> None:
    cache = LlamaCppCache(slots=2)
    with pytest.raises(ValueError, match="slot must be"):
        cache.process(ids(A), now=0, slot=2)
    with pytest.raises(ValueError, match="done_at"):
        cache.process(ids(A), now=5, done_at=4)
    assert cache.process(ids(A), now=6).cache_read_tokens == 0
    assert cache.process(ids(A), now=7).cache_read_tokens == 599
