"""The async twins: same contract, and many asyncio tasks appending to one session."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stableprefix import (
    AsyncPromptManager,
    ConflictError,
    PromptConfig,
    StoreError,
    functional,
    new_state,
)
from stableprefix.stores import (
    AsyncMemoryStore,
    AsyncRedisStore,
    AsyncSQLiteStore,
    AsyncStore,
    async_from_url,
)

CFG = PromptConfig()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    kind = request.param
    url = request.getfixturevalue("redis_url") if kind == "redis" else ""

    def factory() -> AsyncStore:
        if kind == "memory":
            return shared_memory
        if kind == "sqlite":
            return AsyncSQLiteStore(tmp_path / "s.db")
        return AsyncRedisStore(url=url)

    shared_memory = AsyncMemoryStore()
    yield factory


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def test_save_load_conflict_and_retry(make: Any) -> None:
    async def main() -> None:
        store, other = make(), make()
        s = functional.append_messages(new_state(), [user("Hi")], CFG)
        assert await store.save("c1", s, expected_version=0) == 1
        s2 = functional.append_messages(s, [user("again")], CFG)
        assert await store.save("c1", s2, expected_version=1) == 2
        assert await store.save("c1", s2, expected_version=1) == 2  # a retry
        loaded, version = await other.load("c1", config=CFG)
        assert (loaded, version) == (s2, 2)
        with pytest.raises(ConflictError):
            await other.save("c1", s, expected_version=1)
        assert await store.delete("c1") is True
        assert (await store.load("c1")).version == 0

    asyncio.run(main())


def test_tasks_appending_concurrently_lose_nothing(make: Any) -> None:
    async def writer(name: str) -> None:
        pm = await AsyncPromptManager.open(make(), "shared", CFG)
        for i in range(25):
            await pm.append(user(f"{name}-{i}"))

    async def main() -> None:
        await asyncio.gather(*(writer(f"t{n}") for n in range(4)))
        state, version = await make().load("shared", config=CFG)
        contents = [m["content"] for m in state["committed"]]
        assert version == 100 and len(contents) == 100 and len(set(contents)) == 100
        for n in range(4):
            mine = [int(c.split("-")[1]) for c in contents if c.startswith(f"t{n}-")]
            assert mine == list(range(25))

    asyncio.run(main())


def test_one_manager_shared_by_tasks_serialises_them(make: Any) -> None:
    async def main() -> None:
        pm = await AsyncPromptManager.open(make(), "c1", CFG)
        await asyncio.gather(*(pm.append(user(f"m{i}")) for i in range(20)))
        state, version = await make().load("c1")
        assert version == 20 == pm.version and len(state["committed"]) == 20
        assert pm.state == state

    asyncio.run(main())


def test_async_manager_build_and_archive(make: Any) -> None:
    cfg = PromptConfig(history_max_tokens=40, static_system_prompt="Be brief.")

    async def main() -> None:
        store = make()
        pm = await AsyncPromptManager.open(store, "c1", cfg)
        for i in range(12):
            await pm.append(user(f"question about topic {i}"))
            await pm.append({"role": "assistant", "content": f"answer {i}"})
        request = await pm.build_request()
        assert request["messages"][0]["content"] == "Be brief."
        archived = [m for r in await store.archive("c1") for m in r.removed]
        state = (await make().load("c1", config=cfg)).state
        assert len(archived) + len(state["committed"]) + len(state["recent"]) == 24
        found = await store.recall("c1", "topic 3", k=1)
        assert found and found[0].messages[0] == user("question about topic 3")

    asyncio.run(main())


def test_async_store_down_is_a_store_error_and_the_manager_stays_usable() -> None:
    import redisserver

    async def main() -> None:
        url = f"redis://127.0.0.1:{redisserver.free_port()}/0?timeout=0.5"
        pm = AsyncPromptManager(CFG)
        await pm.append(user("in memory only"))
        store = AsyncRedisStore(url=url)
        with pytest.raises(StoreError, match="is the server running") as info:
            await AsyncPromptManager.open(store, "c1", CFG)
        assert info.value.operation == "load" and info.value.session_id == "c1"
        assert pm.state["committed"] == [user("in memory only")]
        await store.aclose()

    asyncio.run(main())


def test_async_from_url(tmp_path: Path) -> None:
    assert isinstance(async_from_url(f"sqlite://{tmp_path}/a.db"), AsyncSQLiteStore)
    assert isinstance(async_from_url("redis://127.0.0.1:1/0"), AsyncRedisStore)
    with pytest.raises(TypeError):
        asyncio.run(AsyncPromptManager.open(object(), "c1", CFG))  # type: ignore[arg-type]
