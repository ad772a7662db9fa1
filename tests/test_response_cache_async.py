"""The async paths never block the event loop on a backend: Redis through its asyncio
client, SQLite (and any backend without async methods) in a worker thread. Checked by
ordering, not timing: another task makes progress while a backend call is in flight."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from stableprefix import ResponseCache
from stableprefix.response_cache import MemoryBackend, RedisBackend, SQLiteBackend

REQ: dict[str, Any] = {
    "model": "m",
    "temperature": 0,
    "messages": [{"role": "user", "content": "?"}],
}


class GatedSQLite(SQLiteBackend):
    """A SQLite backend whose reads wait until another task opens ``gate``."""

    def __init__(self, path: Path, gate: threading.Event) -> None:
        super().__init__(path)
        self.gate = gate
        self.opened: list[bool] = []

    def get(self, key: str) -> bytes | None:
        # True when the gate was opened while this read waited: the loop was free.
        # A read run on the loop's own thread would wait in vain and record False.
        self.opened.append(self.gate.wait(10))
        return super().get(key)


def test_a_slow_sqlite_read_does_not_block_the_loop(tmp_path: Path) -> None:
    gate = threading.Event()
    backend = GatedSQLite(tmp_path / "rc.db", gate)
    cache = ResponseCache(namespace="t", backend=backend)

    async def upstream() -> dict[str, Any]:
        return {"answer": 4}

    async def main() -> Any:
        call = asyncio.create_task(cache.acall(REQ, upstream, endpoint="any", load=dict))
        await asyncio.sleep(0)  # the call starts and reaches its lookup
        gate.set()  # this task runs only if the loop is free during that lookup
        return await call

    assert asyncio.run(main()) == {"answer": 4}
    assert backend.opened and all(backend.opened)
    assert cache.get(REQ) == {"answer": 4}  # stored through the worker thread
    cache.close()


def test_a_paused_redis_does_not_block_the_loop(redis_url: str) -> None:
    import redis

    cache = ResponseCache(redis_url, namespace="t")
    cache.put(REQ, {"answer": 4})
    admin = redis.Redis.from_url(redis_url)
    order: list[str] = []

    async def upstream() -> dict[str, Any]:
        raise AssertionError("the answer is stored")

    async def lookup() -> Any:
        result = await cache.acall(REQ, upstream, endpoint="any", load=dict)
        order.append("lookup done")
        return result

    async def other() -> None:
        await asyncio.sleep(0)
        order.append("other task ran")

    async def main() -> Any:
        await cache.aclose()  # nothing opened yet: closing is harmless
        admin.execute_command("CLIENT", "PAUSE", 300, "ALL")  # the server stops answering
        result, _ = await asyncio.gather(lookup(), other())
        await cache.aclose()
        return result

    try:
        assert asyncio.run(main()) == {"answer": 4}
    finally:
        admin.close()
    assert order == ["other task ran", "lookup done"]


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_async_store_and_lookup_round_trip(kind: str, tmp_path: Path, request: Any) -> None:
    backend: Any
    if kind == "memory":
        backend = MemoryBackend()
    elif kind == "sqlite":
        backend = SQLiteBackend(tmp_path / "rc.db")
    else:
        backend = RedisBackend(request.getfixturevalue("redis_url"))
    cache = ResponseCache(namespace="t", backend=backend)
    calls: list[int] = []

    async def upstream() -> dict[str, Any]:
        calls.append(1)
        return {"answer": 4}

    async def main() -> list[Any]:
        out = [await cache.acall(REQ, upstream, endpoint="any", load=dict) for _ in range(3)]
        await cache.aclose()
        return out

    # two event loops in a row: the Redis backend opens an asyncio client per loop
    assert asyncio.run(main()) == [{"answer": 4}] * 3
    assert asyncio.run(main()) == [{"answer": 4}] * 3
    assert calls == [1]
    assert (cache.stats.hits, cache.stats.misses, cache.stats.stored) == (5, 1, 1)


def test_aget_and_aput_do_not_block_the_loop(tmp_path: Path) -> None:
    gate = threading.Event()
    backend = GatedSQLite(tmp_path / "rc.db", gate)
    cache = ResponseCache(namespace="t", backend=backend)

    async def main() -> Any:
        assert await cache.aput(REQ, {"answer": 4})
        lookup = asyncio.create_task(cache.aget(REQ))
        await asyncio.sleep(0)
        gate.set()
        return await lookup

    assert asyncio.run(main()) == {"answer": 4}
    assert backend.opened == [True]
    assert (cache.stats.hits, cache.stats.stored) == (1, 1)
    cache.close()
