"""The recall index: recall from it ranks exactly as ``rank_rounds`` over the whole archive.

Checked against MemoryStore, SQLiteStore and RedisStore (real Redis), across
compactions, TTL expiry, deletion, concurrent archivers and archives
written before the index existed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import storehelpers as H
from stableprefix import PromptConfig, PromptManager
from stableprefix.stores import (
    AsyncMemoryStore,
    AsyncPromptManager,
    MemoryStore,
    RedisStore,
    SQLiteStore,
    Store,
    rank_rounds,
)

TOPICS = [
    "volcano eruptions",
    "tax invoices",
    "penguin colonies",
    "sourdough starters",
    "jazz harmony",
    "tidal energy",
    "chess openings",
    "moss gardens",
    "tax deadlines",
    "penguin diets",
]
QUERIES = ["penguin", "tax invoices due", "what about the volcano and jazz?", "zzz nothing", ""]
CFG = PromptConfig(history_max_tokens=150)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=H.KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def where(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("redis_url") if kind == "redis" else tmp_path


@pytest.fixture
def store(kind: str, where: Any) -> Iterator[Store]:
    s = H.make_store(kind, where)
    yield s
    s.close()


def tool_round(n: int, topic: str) -> list[dict[str, Any]]:
    call_id = f"call_{n}"
    return [
        {"role": "user", "content": f"Please look up {topic} ({n})"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "lookup", "arguments": f'{{"q": "{topic}"}}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": f"{topic}: result {n}"},
        {"role": "assistant", "content": f"Here is what I found about {topic}."},
    ]


def fill(pm: Any, rounds: int, start: int = 0) -> None:
    for n in range(start, start + rounds):
        pm.extend(tool_round(n, TOPICS[n % len(TOPICS)]))


def from_archive(store: Store, session_id: str, query: str, k: int) -> list[Any]:
    archived = [m for record in store.archive(session_id) for m in record.removed]
    return rank_rounds(archived, query, k=k)


def assert_same_as_archive(store: Store, session_id: str) -> None:
    for query in QUERIES:
        for k in (1, 3, 50):
            assert store.recall(session_id, query, k=k) == from_archive(store, session_id, query, k)


def test_recall_from_the_index_equals_ranking_the_whole_archive(store: Store) -> None:
    pm = PromptManager.open(store, "c1", CFG)
    fill(pm, 20)
    assert len(store.archive("c1")) > 3  # several compactions, several index records
    found = store.recall("c1", "penguin", k=3)
    assert found and all("penguin" in str(r.messages).lower() for r in found)
    assert_same_as_archive(store, "c1")
    fill(pm, 10, start=20)  # more compactions: postings grow by concatenation
    assert_same_as_archive(store, "c1")
    assert_same_as_archive(H.twin(store), "c1")  # another process reads the same index


def test_a_round_archived_twice_is_recalled_once(store: Store) -> None:
    pm = PromptManager.open(store, "c1", CFG)
    for n in range(20):  # the same words again and again: identical archived rounds
        same = tool_round(n, "tax invoices")
        same[0] = {"role": "user", "content": "Please look up tax invoices"}
        same[2] = {**same[2], "content": "tax invoices: none"}
        pm.extend(same)
    assert sum(len(r.removed) for r in store.archive("c1")) >= 8
    found = store.recall("c1", "tax", k=5)
    assert len(found) == 1 and found == from_archive(store, "c1", "tax", 5)


def test_the_index_expires_and_is_deleted_with_its_session(kind: str, where: Any) -> None:
    clock = Clock()
    store = H.make_store(kind, where, ttl=60, clock=clock) if kind != "redis" else None
    if store is None:
        store = H.make_store(kind, where)
    pm = PromptManager.open(store, "c1", CFG)
    fill(pm, 12)
    assert store.recall("c1", "penguin", k=2)
    if kind != "redis":  # Redis expiry is server-side (test_store_ttl_recall covers it)
        clock.now += 61
        assert store.recall("c1", "penguin", k=2) == []
        store.purge_expired()
    else:
        assert store.delete("c1")
    pm = PromptManager.open(store, "c1", CFG)  # the same id, a new conversation
    fill(pm, 12, start=40)
    assert_same_as_archive(store, "c1")  # nothing of the old one left in the index
    assert store.delete("c1") and store.recall("c1", "penguin", k=2) == []
    store.close()


def test_concurrent_archivers_keep_the_index_whole(kind: str, where: Any) -> None:
    shared = H.make_store(kind, where)  # memory: one store; else one per worker

    errors: list[BaseException] = []

    def work(name: int) -> None:
        try:
            store = shared if kind == "memory" else H.make_store(kind, where)
            pm = PromptManager.open(store, "c1", CFG)
            fill(pm, 8, start=100 * name)
        except BaseException as exc:  # reported below: a thread's error must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = shared if kind == "memory" else H.make_store(kind, where)
    assert len(store.archive("c1")) > 3
    assert_same_as_archive(store, "c1")
    store.close()


def _drop_index(store: Store, session_id: str) -> None:
    """Make the archive look as written before the index existed."""
    if isinstance(store, MemoryStore):
        found = store._sessions[session_id]
        found.postings.clear(), found.rounds.clear(), found.stats.clear()
    elif isinstance(store, SQLiteStore):
        conn = store._db.connection()
        for table in ("postings", "rounds", "recall"):
            conn.execute(f"DELETE FROM stableprefix_{table} WHERE session = ?", (session_id,))
    else:
        assert isinstance(store, RedisStore)
        for part in ("postings", "rounds", "recall"):
            store.client.delete(f"{store.prefix}:{{{session_id}}}:{part}")


def test_an_archive_without_an_index_is_ranked_from_the_records(store: Store) -> None:
    pm = PromptManager.open(store, "c1", CFG)
    fill(pm, 12)
    _drop_index(store, "c1")
    assert store.recall("c1", "penguin", k=2)
    assert_same_as_archive(store, "c1")


def test_bad_queries(store: Store) -> None:
    with pytest.raises(TypeError):
        store.recall("c1", None, k=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.recall("c1", "x", k=0)


def test_async_recall_uses_the_index_too() -> None:
    async def main() -> None:
        store = AsyncMemoryStore()
        pm = await AsyncPromptManager.open(store, "c1", CFG)
        for n in range(12):
            await pm.extend(tool_round(n, TOPICS[n % len(TOPICS)]))
        archived = [m for r in await store.archive("c1") for m in r.removed]
        for query in QUERIES:
            assert await store.recall("c1", query, k=3) == rank_rounds(archived, query, k=3)

    asyncio.run(main())


def test_redis_index_keys_share_the_sessions_expiry(redis_url: str) -> None:
    store = RedisStore(url=redis_url + "?ttl=600")
    pm = PromptManager.open(store, "c1", CFG)
    fill(pm, 12)
    parts = ("meta", "log", "archive", "postings", "rounds", "recall")
    keys = [f"stableprefix:{{c1}}:{part}" for part in parts]
    assert store.client.exists(*keys) == len(keys)  # every part written
    assert all(0 < t <= 600_000 for t in map(store.client.pttl, keys))  # and set to expire
    reader = RedisStore(url=redis_url + "?ttl=6000&ttl_on_read=1")
    reader.load("c1")
    assert all(t > 600_000 for t in map(store.client.pttl, keys))  # a read refreshes them all
    assert store.delete("c1") and store.client.exists(*keys) == 0
