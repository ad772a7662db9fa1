"""One contract suite over every response-cache backend (memory, SQLite, a real
redis-server), SQLite shared by several processes, Redis server-side TTLs, and a backend
that goes away failing open."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stableprefix import ResponseCache, StoreError
from stableprefix.response_cache import MemoryBackend, ResponseBackend
from stableprefix.response_cache._redis import RedisBackend
from stableprefix.response_cache._sqlite import SQLiteBackend


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def backend(
    request: pytest.FixtureRequest, clock: Clock, tmp_path: Path
) -> Iterator[ResponseBackend]:
    b: ResponseBackend
    if request.param == "memory":
        b = MemoryBackend(clock=clock)
    elif request.param == "sqlite":
        b = SQLiteBackend(tmp_path / "rc.db", clock=clock)
    else:
        b = RedisBackend(request.getfixturevalue("redis_url"))
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
    backend.set("short", b"x", ttl=5, partition="p")
    backend.set("forever", b"y", ttl=None, partition=None)
    assert backend.get("short") == b"x"
    clock.now += 6
    if isinstance(backend, RedisBackend):  # the server keeps time: check what it was told
        assert 0 < backend._client.pttl("stableprefix:rc:short") <= 5000
        assert backend._client.pttl("stableprefix:rc:forever") == -1
    else:
        assert backend.get("short") is None
        assert backend.partition("p", 5) == []
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


def test_sqlite_is_shared_by_processes(tmp_path: Path) -> None:
    from rcachehelpers import sqlite_worker

    path = str(tmp_path / "shared.db")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=sqlite_worker, args=(path, w, 40)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(180)
        assert p.exitcode == 0
    cache = ResponseCache(f"sqlite:///{path}", namespace="shared")
    for i in range(40):
        got = cache.get({"model": "m", "messages": [{"role": "user", "content": f"q{i}"}]})
        assert got is not None and got["answer"] == i
    cache.close()


def test_cache_over_urls(tmp_path: Path, redis_url: str) -> None:
    for url in ("memory://", f"sqlite:///{tmp_path}/u.db?ttl=30", redis_url + "?prefix=t:"):
        cache = ResponseCache(url, namespace="t")
        cache.put({"model": "m"}, {"a": 1})
        assert cache.get({"model": "m"}) == {"a": 1}
        cache.close()
    assert ResponseCache(f"sqlite:///{tmp_path}/u.db?ttl=30", namespace="t").ttl == 30
    with pytest.raises(ValueError, match="unknown scheme"):
        ResponseCache("postgres://db", namespace="t")


def test_a_redis_server_that_goes_away_fails_open(redis_server: Any) -> None:
    from redisserver import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    cache = ResponseCache(dead, namespace="t")
    calls: list[int] = []
    assert cache.call({"model": "m"}, lambda: calls.append(1) or {"a": 1}, endpoint="any",
                      load=dict) == {"a": 1}
    assert calls == [1] and cache.stats.backend_errors >= 2
    closed = ResponseCache(dead, namespace="t", fail_open=False)
    with pytest.raises(Exception) as info:
        closed.get({"model": "m"})
    assert isinstance(info.value.__cause__, StoreError)


def test_sqlite_entries_survive_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    first = ResponseCache(url, namespace="t")
    first.put({"model": "m"}, {"a": 1})
    first.close()
    again = ResponseCache(url, namespace="t")
    assert again.get({"model": "m"}) == {"a": 1}
    raw = again.backend.get(again.key({"model": "m"}))
    assert raw is not None and json.loads(raw)["response"] == {"a": 1}
    again.close()


def test_a_redis_server_that_never_answers_fails_open() -> None:
    import socket

    with socket.socket() as silent:  # accepts connections, never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        cache = ResponseCache(f"redis://127.0.0.1:{port}/0?timeout=0.2", namespace="t")
        calls: list[int] = []
        result = cache.call({"model": "m"}, lambda: calls.append(1) or {"a": 1},
                            endpoint="any", load=dict)
        assert result == {"a": 1} and calls == [1]
        assert cache.stats.backend_errors >= 2 and cache.stats.stored == 0
