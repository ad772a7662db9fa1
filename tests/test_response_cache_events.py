"""Response-cache events through ``on_event``: hits, misses, stores (and refusals to store),
coalesced waits and backend failures, all ``stableprefix.Event``; a raising callback never
breaks the call it reports on."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from stableprefix import Event, ResponseCache
from stableprefix.response_cache import (
    MemoryBackend,
    ResponseCacheBackendErrorEvent,
    ResponseCacheCoalescedEvent,
    ResponseCacheHitEvent,
    ResponseCacheMissEvent,
    ResponseCacheStoreEvent,
)

REQ: dict[str, Any] = {
    "model": "m",
    "temperature": 0,
    "messages": [{"role": "user", "content": "?"}],
}


class Broken(MemoryBackend):
    def get(self, key: str) -> bytes | None:
        raise OSError("disk on fire")


def test_every_kind_is_an_event_delivered_in_order() -> None:
    seen: list[Event] = []
    cache = ResponseCache(namespace="t", on_event=seen.append)
    cache.get(REQ)
    cache.put(REQ, {"answer": 4})
    cache.get(REQ)
    key = cache.key(REQ)
    assert seen == [
        ResponseCacheMissEvent(key=key, endpoint="any", reason="absent"),
        ResponseCacheStoreEvent(key=key, endpoint="any", stored=True, reason="ok"),
        ResponseCacheHitEvent(key=key, endpoint="any", semantic=False, dollars_saved=0.0),
    ]
    assert all(isinstance(e, Event) for e in seen)


def test_answers_left_out_say_why() -> None:
    seen: list[Event] = []
    cache = ResponseCache(namespace="t", on_event=seen.append, sampled="bypass")
    truncated = {"stop_reason": "max_tokens", "content": []}
    assert not cache.put(REQ, truncated, endpoint="anthropic.messages")
    assert not cache.put({**REQ, "temperature": 1}, {"answer": 4})
    assert [(e.stored, e.reason) for e in seen if isinstance(e, ResponseCacheStoreEvent)] == [
        (False, "truncated"),
        (False, "sampled"),
    ]
    cache.call({**REQ, "temperature": 1}, lambda: {"a": 1}, endpoint="any", load=dict)
    assert seen[-1] == ResponseCacheMissEvent(key="", endpoint="any", reason="bypassed")


def test_backend_failures_are_reported_open_or_closed() -> None:
    from stableprefix import ResponseCacheError

    seen: list[Event] = []
    cache = ResponseCache(namespace="t", backend=Broken(), on_event=seen.append)
    assert cache.get(REQ) is None
    failure = seen[0]
    assert isinstance(failure, ResponseCacheBackendErrorEvent)
    assert (failure.operation, failure.failed_open) == ("read", True)
    assert "disk on fire" in failure.error
    closed = ResponseCache(namespace="t", backend=Broken(), on_event=seen.append, fail_open=False)
    with pytest.raises(ResponseCacheError, match="failed to read"):
        closed.get(REQ)
    assert seen[-1] == ResponseCacheBackendErrorEvent(
        operation="read", error="OSError: disk on fire", failed_open=False
    )


def test_coalesced_waits_are_reported() -> None:
    seen: list[Event] = []
    cache = ResponseCache(namespace="t", on_event=seen.append)
    started, release = threading.Event(), threading.Event()

    def upstream() -> dict[str, Any]:
        started.set()
        release.wait(30)
        return {"answer": 4}

    def ask() -> None:
        cache.call(REQ, upstream, endpoint="any", load=dict)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    threads[0].start()
    started.wait(30)
    for t in threads[1:]:
        t.start()
    deadline = threading.Event()
    while cache._flights.waiting(cache.key(REQ)) < 3 and not deadline.wait(0.005):
        pass
    release.set()
    for t in threads:
        t.join(30)
    coalesced = [e for e in seen if isinstance(e, ResponseCacheCoalescedEvent)]
    assert [e.across for e in coalesced] == ["threads"] * 3


def test_a_raising_callback_does_not_break_the_call() -> None:
    def explode(event: Event) -> None:
        raise RuntimeError(f"cannot log {event.kind}")

    cache = ResponseCache(namespace="t", on_event=explode)
    with pytest.warns(RuntimeWarning, match="on_event raised RuntimeError"):
        answer = cache.call(REQ, lambda: {"answer": 4}, endpoint="any", load=dict)
    assert answer == {"answer": 4}
    with pytest.warns(RuntimeWarning):
        assert cache.get(REQ) == {"answer": 4}  # the answer was stored all the same
    stats = cache.stats
    assert (stats.misses, stats.stored, stats.hits, stats.event_errors) == (1, 1, 1, 3)


def test_on_event_must_be_callable() -> None:
    with pytest.raises(TypeError, match="on_event must be callable"):
        ResponseCache(namespace="t", on_event="print")  # type: ignore[arg-type]


class LeasesDown(MemoryBackend):
    """A backend with leases whose lease release always fails."""

    def acquire_lease(self, key: str, seconds: float) -> str | None:
        return "token"

    def renew_lease(self, key: str, token: str, seconds: float) -> bool:
        return True

    def release_lease(self, key: str, token: str) -> None:
        raise ConnectionError("lease server gone")


def test_failing_closed_keeps_the_upstream_error_when_the_lease_release_fails() -> None:
    seen: list[Event] = []
    cache = ResponseCache(
        namespace="t", backend=LeasesDown(), lease=30, fail_open=False, on_event=seen.append
    )

    def upstream() -> dict[str, Any]:
        raise TimeoutError("the model took too long")

    with pytest.raises(TimeoutError, match="took too long"):
        cache.call(REQ, upstream, endpoint="any", load=dict)
    failure = seen[-1]
    assert isinstance(failure, ResponseCacheBackendErrorEvent)
    assert failure.operation == "lease" and "lease server gone" in failure.error
    assert cache.stats.backend_errors == 1
