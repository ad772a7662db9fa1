"""ResponseCache get/put: policy (truncated, refused, sampled), stats and dollars saved,
failing open or closed when the backend breaks."""

from __future__ import annotations

from typing import Any

import pytest

from stableprefix import ResponseCache, ResponseCacheError
from stableprefix.response_cache import MemoryBackend

REQ: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "temperature": 0,
    "messages": [{"role": "user", "content": "2+2?"}],
}


def chat_response(finish: str = "stop", refusal: str | None = None) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "finish_reason": finish,
                "message": {"role": "assistant", "content": "4", "refusal": refusal},
            }
        ],
        "usage": {
            "prompt_tokens": 1200,
            "completion_tokens": 12,
            "total_tokens": 1212,
            "prompt_tokens_details": {"cached_tokens": 1024},
        },
    }


def test_put_then_get_counts_hits_and_misses() -> None:
    cache = ResponseCache(namespace="t")
    assert cache.get(REQ, endpoint="openai.chat") is None
    assert cache.put(REQ, chat_response(), endpoint="openai.chat")
    assert cache.get(REQ, endpoint="openai.chat") == chat_response()
    assert cache.get(REQ) is None  # another endpoint is another request
    stats = cache.stats
    assert (stats.hits, stats.misses, stats.stored) == (1, 2, 1)
    assert stats.hit_rate == pytest.approx(1 / 3)


def test_dollars_saved_come_from_the_stored_usage_and_registry_prices() -> None:
    # OpenAI's price page for gpt-4o-mini: $0.15 / 1M input, $0.075 / 1M cached input,
    # $0.60 / 1M output. The stored call read 1024 cached tokens, 176 uncached, wrote 12:
    # 176 * 0.15 + 1024 * 0.075 + 12 * 0.60 = 110.4 micro-dollars.
    cache = ResponseCache(namespace="t")
    cache.put(REQ, chat_response(), endpoint="openai.chat")
    cache.get(REQ, endpoint="openai.chat")
    cache.get(REQ, endpoint="openai.chat")
    stats = cache.stats
    assert stats.dollars_saved == pytest.approx(2 * 110.4e-6)
    assert (stats.input_tokens_saved, stats.output_tokens_saved) == (2400, 24)
    assert stats.unpriced_hits == 0


def test_unknown_models_count_tokens_but_not_dollars() -> None:
    cache = ResponseCache(namespace="t")
    req = {**REQ, "model": "my-local-model"}
    cache.put(req, chat_response(), endpoint="openai.chat")
    cache.get(req, endpoint="openai.chat")
    assert cache.stats.unpriced_hits == 1 and cache.stats.dollars_saved == 0
    assert cache.stats.input_tokens_saved == 1200


@pytest.mark.parametrize(
    ("endpoint", "response", "reason"),
    [
        ("openai.chat", chat_response(finish="length"), "truncated"),
        ("openai.chat", chat_response(finish="content_filter"), "refused"),
        ("openai.chat", chat_response(refusal="I can't help with that."), "refused"),
        (
            "openai.responses",
            {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}},
            "truncated",
        ),
        (
            "openai.responses",
            {
                "status": "completed",
                "output": [{"type": "message", "content": [{"type": "refusal", "refusal": "no"}]}],
            },
            "refused",
        ),
        ("anthropic.messages", {"stop_reason": "max_tokens"}, "truncated"),
        ("anthropic.messages", {"stop_reason": "refusal"}, "refused"),
        ("gemini.generate_content", {"candidates": [{"finish_reason": "MAX_TOKENS"}]}, "truncated"),
        ("gemini.generate_content", {"candidates": [{"finishReason": "SAFETY"}]}, "refused"),
        ("gemini.generate_content", {"prompt_feedback": {"block_reason": "SAFETY"}}, "refused"),
    ],
)
def test_truncated_and_refused_answers_are_not_stored_unless_asked(
    endpoint: str, response: dict[str, Any], reason: str
) -> None:
    cache = ResponseCache(namespace="t")
    assert not cache.put(REQ, response, endpoint=endpoint)
    assert cache.get(REQ, endpoint=endpoint) is None
    assert cache.stats.not_stored == 1
    keen = ResponseCache(namespace="t", **{f"store_{reason}": True})  # type: ignore[arg-type]
    assert keen.put(REQ, response, endpoint=endpoint)


@pytest.mark.parametrize(
    "response",
    [
        {"status": "completed", "output": []},
        {"stop_reason": "end_turn"},
        {"candidates": [{"finish_reason": "STOP"}]},
    ],
)
def test_complete_answers_are_stored(response: dict[str, Any]) -> None:
    endpoint = {
        "status": "openai.responses",
        "stop_reason": "anthropic.messages",
        "candidates": "gemini.generate_content",
    }[next(iter(response))]
    assert ResponseCache(namespace="t").put(REQ, response, endpoint=endpoint)


def test_sampled_policy() -> None:
    sampled = {**REQ, "temperature": 0.7}
    default_temperature = {k: v for k, v in REQ.items() if k != "temperature"}
    cache = ResponseCache(namespace="t")
    assert cache.put(sampled, {"a": 1}) and cache.get(sampled) == {"a": 1}
    bypass = ResponseCache(namespace="t", sampled="bypass")
    assert not bypass.put(sampled, {"a": 1})
    assert not bypass.put(default_temperature, {"a": 1})  # provider default samples
    assert bypass.put(REQ, {"a": 1})
    with pytest.raises(ValueError, match="sampled"):
        ResponseCache(namespace="t", sampled="never")


def test_namespaces_sharing_a_backend_never_share_answers() -> None:
    backend = MemoryBackend()
    a = ResponseCache(namespace="tenant-a", backend=backend)
    b = ResponseCache(namespace="tenant-b", backend=backend)
    a.put(REQ, {"secret": "a"})
    assert b.get(REQ) is None and a.get(REQ) == {"secret": "a"}


def test_ttl_expires_entries() -> None:
    now = [0.0]
    cache = ResponseCache(namespace="t", ttl=60, clock=lambda: now[0])
    cache.put(REQ, {"a": 1})
    now[0] = 59
    assert cache.get(REQ) == {"a": 1}
    now[0] = 61
    assert cache.get(REQ) is None
    with pytest.raises(ValueError, match="ttl"):
        ResponseCache(namespace="t", ttl=0)


class BrokenBackend(MemoryBackend):
    def get(self, key: str) -> bytes | None:
        raise OSError("connection refused")

    def set(self, key: str, value: bytes, *, ttl: float | None, partition: str | None) -> None:
        raise OSError("connection refused")


def test_a_broken_backend_fails_open_by_default() -> None:
    cache = ResponseCache(namespace="t", backend=BrokenBackend())
    assert cache.get(REQ) is None
    assert not cache.put(REQ, {"a": 1})
    calls = []
    result = cache.call(REQ, lambda: calls.append(1) or {"a": 1}, endpoint="any", load=dict)
    assert result == {"a": 1} and calls == [1]
    assert cache.stats.backend_errors == 5


def test_a_broken_backend_fails_closed_on_request() -> None:
    cache = ResponseCache(namespace="t", backend=BrokenBackend(), fail_open=False)
    with pytest.raises(ResponseCacheError, match="connection refused") as info:
        cache.get(REQ)
    assert isinstance(info.value.__cause__, OSError)
    calls: list[int] = []
    with pytest.raises(ResponseCacheError):
        cache.call(REQ, lambda: calls.append(1) or {"a": 1}, endpoint="any", load=dict)
    assert calls == []


def test_corrupt_entries_are_misses() -> None:
    backend = MemoryBackend()
    cache = ResponseCache(namespace="t", backend=backend)
    backend.set(cache.key(REQ), b"{not json", ttl=None, partition=None)
    assert cache.get(REQ) is None
    assert cache.put(REQ, {"a": 1}) and cache.get(REQ) == {"a": 1}
