"""One contract suite over every response-cache backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from stableprefix.response_cache import MemoryBackend, ResponseBackend


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


BackendFactory = Callable[[Clock], ResponseBackend]


def _memory(clock: Clock) -> ResponseBackend:
    return MemoryBackend(clock=clock)


FACTORIES: dict[str, BackendFactory] = {"memory": _memory}


@pytest.fixture(params=sorted(FACTORIES))
def backend(request: pytest.FixtureRequest, clock: Clock) -> Iterator[ResponseBackend]:
    b = FACTORIES[request.param](clock)
    b.clear()
    yield b
    b.close()


def test_is_a_backend(backend: ResponseBackend) -> None:
    assert isinstance(backend, ResponseBackend)


def test_set_get_delete(backend: ResponseBackend) -> None:
    assert backend.get("k") is None
    backend.set("k", b"v1", ttl=None, partition=None)
    assert backend.get("k") == b"v1"
    backend.set("k", b"v2", ttl=None, partition=None)
    assert backend.get("k") == b"v2"
    backend.delete("k")
    backend.delete("k")
    assert backend.get("k") is None


def test_values_are_bytes_kept_exactly(backend: ResponseBackend) -> None:
    value = bytes(range(256)) * 4 + "é😀".encode()
    backend.set("k", value, ttl=None, partition=None)
    assert backend.get("k") == value


def test_ttl_expires(backend: ResponseBackend, clock: Clock) -> None:
    backend.set("short", b"x", ttl=5, partition=None)
    backend.set("forever", b"y", ttl=None, partition=None)
    assert backend.get("short") == b"x"
    clock.now += 6
    if isinstance(backend, MemoryBackend):
        assert backend.get("short") is None
    assert backend.get("forever") == b"y"


def test_partitions_list_newest_first_and_bounded(backend: ResponseBackend) -> None:
    for i in range(5):
        backend.set(f"k{i}", b"x", ttl=None, partition="p")
    backend.set("other", b"x", ttl=None, partition="q")
    backend.set("none", b"x", ttl=None, partition=None)
    assert backend.partition("p", 3) == ["k4", "k3", "k2"]
    assert backend.partition("q", 10) == ["other"]
    assert backend.partition("missing", 10) == []
    backend.delete("k4")
    assert backend.partition("p", 1) == ["k3"]


def test_clear(backend: ResponseBackend) -> None:
    backend.set("a", b"1", ttl=None, partition="p")
    backend.clear()
    assert backend.get("a") is None
    assert backend.partition("p", 5) == []


def test_memory_lru_bounds_entries_and_bytes() -> None:
    b = MemoryBackend(max_entries=3, max_bytes=10)
    for k in "abc":
        b.set(k, b"12", ttl=None, partition=None)
    assert b.get("a") == b"12"  # a is now the most recent
    b.set("d", b"12", ttl=None, partition=None)
    assert b.get("b") is None and b.get("a") == b"12"
    b.set("e", b"123456", ttl=None, partition=None)  # 2+2+2+6 > 10: evict the oldest
    assert len(b) <= 3 and b.size_bytes <= 10
    assert b.get("e") == b"123456"
    b.set("huge", b"x" * 11, ttl=None, partition=None)  # larger than the cache: not kept
    assert b.get("huge") is None and b.get("e") == b"123456"


def test_memory_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryBackend(max_entries=0)
    with pytest.raises(ValueError, match="max_bytes"):
        MemoryBackend(max_bytes=True)
