"""Properties every cache model keeps, on random request streams."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from stableprefix import CacheBlock, CacheUsage, FlatRequest
from stableprefix.sim import (
    AnthropicCache,
    CacheModel,
    CacheRuleError,
    GeminiCache,
    LlamaCppCache,
    OpenAICache,
    RadixCache,
    VLLMCache,
)

KINDS = ["text", "text", "tool_use", "tool_result"]
TTLS = [None, None, None, "5m", "1h"]


@st.composite
def streams(draw: st.DrawFn, markers: bool = False) -> list[tuple[FlatRequest, float, int]]:
    """A few requests drawn from a small vocabulary of blocks.

    The same key always has the same tokens (as adapters guarantee); some
    keys carry token ids that share leading ids with other keys, so partial
    block matches happen.
    """
    n_keys = draw(st.integers(2, 7))
    sizes = draw(st.lists(st.integers(0, 900), min_size=n_keys, max_size=n_keys))
    with_ids = draw(st.lists(st.booleans(), min_size=n_keys, max_size=n_keys))
    vocab: list[CacheBlock] = []
    for i, (size, has_ids) in enumerate(zip(sizes, with_ids, strict=True)):
        ids = tuple(j if j < size // 2 else 10_000 * (i + 1) + j for j in range(size))
        kind = draw(st.sampled_from(KINDS))
        vocab.append(
            CacheBlock(
                key=f"k{i}",
                tokens=size,
                kind=kind,
                role="user",
                token_ids=ids if has_ids else None,
            )
        )
    out: list[tuple[FlatRequest, float, int]] = []
    now = 0.0
    # Most streams keep the provider's marker rules, some break them.
    lawless = markers and draw(st.integers(0, 4)) == 0
    picks: list[int] = []
    for _ in range(draw(st.integers(1, 10))):
        # Conversations mostly grow: keep the previous request as a prefix.
        kept = picks[: draw(st.integers(0, len(picks)))] if draw(st.booleans()) else []
        picks = kept + draw(st.lists(st.integers(0, n_keys - 1), max_size=6))
        blocks = []
        marked: list[str] = []
        for p in picks:
            b = vocab[p]
            ttl = draw(st.sampled_from(TTLS)) if markers else None
            if not lawless and ttl is not None:
                if len(marked) == 4:
                    ttl = None
                elif ttl == "1h" and "5m" in marked:
                    ttl = "5m"
            if ttl is not None:
                marked.append(ttl)
            blocks.append(
                CacheBlock(
                    key=b.key,
                    tokens=b.tokens,
                    kind=b.kind,
                    role=b.role,
                    cache_ttl=ttl,
                    token_ids=b.token_ids,
                )
            )
        key = draw(st.sampled_from([None, "a", "b"]))
        out.append((FlatRequest(provider="x", blocks=tuple(blocks), routing_key=key), now, 3))
        now += draw(st.sampled_from([0.0, 1.0, 30.0, 299.0, 400.0, 5000.0]))
    return out


MODELS: dict[str, Callable[[], CacheModel]] = {
    "radix": RadixCache,
    "radix-small": lambda: RadixCache(capacity_tokens=1500),
    "vllm": VLLMCache,
    "vllm-4": lambda: VLLMCache(block_size=4),
    "vllm-small": lambda: VLLMCache(capacity_blocks=60),
    "llamacpp": LlamaCppCache,
    "llamacpp-3": lambda: LlamaCppCache(slots=3),
    "openai": lambda: OpenAICache(min_tokens=256, step=32),
    "openai-pool": lambda: OpenAICache(machines=2, overflow_rpm=2),
    "gemini": lambda: GeminiCache(min_tokens=300),
    "anthropic": lambda: AnthropicCache(min_tokens=200),
}


def run(
    make: Callable[[], CacheModel], stream: list[tuple[FlatRequest, float, int]]
) -> list[CacheUsage | None]:
    """Usages in order; None where the model rejected the request."""
    model = make()
    out: list[CacheUsage | None] = []
    for request, now, output in stream:
        try:
            out.append(model.process(request, now=now, output_tokens=output))
        except CacheRuleError:
            out.append(None)
    return out


@settings(max_examples=150, deadline=None)
@given(streams(markers=True))
def test_token_counts_add_up_for_every_model(stream: list[tuple[FlatRequest, float, int]]) -> None:
    for name, make in MODELS.items():
        for (request, _, output), usage in zip(stream, run(make, stream), strict=True):
            if usage is None:
                assert name == "anthropic"
                continue
            assert usage.input_tokens == request.total_tokens, name
            assert usage.output_tokens == output, name
            assert 0 <= usage.cache_write_1h_tokens <= usage.cache_write_tokens, name


@settings(max_examples=150, deadline=None)
@given(streams())
def test_the_radix_cache_is_an_upper_bound(stream: list[tuple[FlatRequest, float, int]]) -> None:
    ideal = run(RadixCache, stream)
    for name, make in MODELS.items():
        for best, usage in zip(ideal, run(make, stream), strict=True):
            assert best is not None and usage is not None
            # +1: a provider may serve a whole prompt from cache, engines
            # always recompute the last token
            slack = 0 if name.startswith(("radix", "vllm", "llamacpp")) else 1
            assert usage.cache_read_tokens <= best.cache_read_tokens + slack, name


@settings(max_examples=100, deadline=None)
@given(streams(markers=True))
def test_anthropic_reads_are_bounded_by_the_ideal(
    stream: list[tuple[FlatRequest, float, int]],
) -> None:
    # Feed only requests Anthropic accepts, to both models.
    accepted = [
        item
        for item, u in zip(stream, run(MODELS["anthropic"], stream), strict=True)
        if u is not None
    ]
    for best, usage in zip(
        run(RadixCache, accepted), run(MODELS["anthropic"], accepted), strict=True
    ):
        assert best is not None and usage is not None
        assert usage.cache_read_tokens <= best.cache_read_tokens + 1


@settings(max_examples=100, deadline=None)
@given(streams())
def test_granularity_rules(stream: list[tuple[FlatRequest, float, int]]) -> None:
    for u in run(lambda: VLLMCache(block_size=16), stream):
        assert u is not None and u.cache_read_tokens % 16 == 0
    for u in run(OpenAICache, stream):
        assert u is not None and u.cache_read_tokens % 128 == 0
        assert u.cache_read_tokens == 0 or u.cache_read_tokens >= 1024
    for u in run(lambda: GeminiCache(min_tokens=700), stream):
        assert u is not None and (u.cache_read_tokens == 0 or u.cache_read_tokens >= 700)


@settings(max_examples=60, deadline=None)
@given(streams(markers=True))
def test_models_are_deterministic(stream: list[tuple[FlatRequest, float, int]]) -> None:
    for make in MODELS.values():
        assert run(make, stream) == run(make, stream)


@settings(max_examples=60, deadline=None)
@given(streams())
def test_a_bounded_cache_never_beats_an_unbounded_one(
    stream: list[tuple[FlatRequest, float, int]],
) -> None:
    pairs = [("radix", "radix-small"), ("vllm", "vllm-small")]
    for big, small in pairs:
        for b, s in zip(run(MODELS[big], stream), run(MODELS[small], stream), strict=True):
            assert b is not None and s is not None
            assert s.cache_read_tokens <= b.cache_read_tokens
