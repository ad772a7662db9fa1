"""The simulators stay fast enough for benchmark-sized streams.

10k requests of 200 blocks take about 1 to 3 s per model on a 2-core
machine; this smoke test runs a fifth of that with a wide margin so a
slow shared machine does not make it flaky, while an accidental
O(history) rehash per request would still fail it.
"""

from __future__ import annotations

import time

import pytest

from stableprefix import CacheBlock, FlatRequest
from stableprefix.sim import (
    AnthropicCache,
    CacheModel,
    OpenAICache,
    RadixCache,
    VLLMCache,
    simulate,
)


def _stream(requests: int = 2000, conversations: int = 20) -> list[tuple[FlatRequest, float]]:
    system = CacheBlock(key="sys", tokens=1500, kind="system", role="system", cache_ttl="5m")
    out = []
    for r in range(requests):
        c = r % conversations
        n = 150 + (r // conversations) % 100
        history = [
            CacheBlock(key=f"c{c}m{i}", tokens=40, kind="text", role="user") for i in range(n - 1)
        ]
        last = CacheBlock(key=f"c{c}m{n - 1}", tokens=40, kind="text", role="user", cache_ttl="5m")
        out.append((FlatRequest(provider="x", blocks=(system, *history, last)), float(r)))
    return out


@pytest.mark.parametrize("make", [AnthropicCache, OpenAICache, RadixCache, VLLMCache])
def test_two_thousand_requests_of_200_blocks(make: type[CacheModel]) -> None:
    stream = _stream()
    start = time.perf_counter()
    usages = simulate(make(), stream)
    elapsed = time.perf_counter() - start
    assert elapsed < 10.0, f"{make.__name__} took {elapsed:.1f}s"
    assert sum(u.cache_read_tokens for u in usages) > 0.9 * sum(u.input_tokens for u in usages)
