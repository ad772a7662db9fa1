"""The simulators play benchmark-sized streams and read back what they cached.

Speed is not asserted here (a timed unit test fails on a busy machine for no
fault of the code); the benchmarks time the simulators instead. This test
checks that a stream of 2,000 requests of 200 blocks, twenty conversations
interleaved, is played to the end and that every model reads back more than
90% of its input.
"""

from __future__ import annotations

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
    usages = simulate(make(), stream)
    assert len(usages) == len(stream)
    assert sum(u.cache_read_tokens for u in usages) > 0.9 * sum(u.input_tokens for u in usages)
