"""TTL (lazy and server-side expiry) and the archive + recall round trip."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import storehelpers as H
from stableprefix import PromptConfig, PromptManager, functional, new_state
from stableprefix.stores import RedisStore, SQLiteStore, rank_rounds

CFG = PromptConfig()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def one(text: str) -> Any:
    return functional.append_messages(new_state(), [{"role": "user", "content": text}], CFG)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_ttl_expires_lazily_and_on_demand(kind: str, tmp_path: Path) -> None:
    clock = Clock()
    store = H.make_store(kind, tmp_path, ttl=10, clock=clock)
    store.save("a", one("a"), expected_version=0)
    store.save("b", one("b"), expected_version=0)
    clock.now += 9
    assert store.load("a").version == 1
    store.save(
        "b",
        functional.append_messages(one("b"), [{"role": "user", "content": "more"}], CFG),
        expected_version=1,
    )  # refreshes b
    clock.now += 2  # a: 11 s after its write, b: 2 s
    assert store.load("a").version == 0  # expired: dropped when read
    assert store.purge_expired() == 0
    clock.now += 20
    assert store.purge_expired() == 1  # b, on demand
    assert store.load("b").version == 0 and store.archive("b") == []
    assert store.save("a", one("again"), expected_version=0) == 1  # starts afresh


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_ttl_on_read_refreshes_on_load(kind: str, tmp_path: Path) -> None:
    clock = Clock()
    store = H.make_store(kind, tmp_path, ttl=10, ttl_on_read=True, clock=clock)
    store.save("a", one("a"), expected_version=0)
    for _ in range(5):
        clock.now += 8
        assert store.load("a").version == 1
    clock.now += 11
    assert store.load("a").version == 0


def test_redis_expiry_is_server_side(redis_url: str) -> None:
    store = RedisStore(url=redis_url + "?ttl=1.5")
    store.save("a", one("a"), expected_version=0)
    keys = ("stableprefix:{a}:meta", "stableprefix:{a}:log")
    assert all(t != -1 and t <= 1500 for t in map(store.client.pttl, keys))  # expiry set
    deadline = time.monotonic() + 30
    while store.client.exists(*keys) and time.monotonic() < deadline:
        time.sleep(0.1)  # Redis removes the keys by itself, no reader involved
    assert store.client.exists(*keys) == 0
    assert store.load("a").version == 0
    reader = RedisStore(url=redis_url + "?ttl=60&ttl_on_read=1")
    reader.save("b", one("b"), expected_version=0)
    store.client.pexpire("stableprefix:{b}:meta", 5_000)
    reader._forget("b")
    reader.load("b")
    assert store.client.pttl("stableprefix:{b}:meta") > 50_000  # refreshed by the read


def tool_round(n: int, topic: str) -> list[dict[str, Any]]:
    call_id = f"call_{n}"
    return [
        {"role": "user", "content": f"Please look up {topic}"},
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


TOPICS = [
    "volcano eruptions",
    "tax invoices",
    "penguin colonies",
    "sourdough starters",
    "jazz harmony",
    "tidal energy",
    "chess openings",
    "moss gardens",
]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_archive_and_recall_round_trip_with_tool_pairs(kind: str, tmp_path: Path) -> None:
    store = H.make_store(kind, tmp_path)
    cfg = PromptConfig(history_max_tokens=150)
    pm = PromptManager.open(store, "c1", cfg)
    sent = []
    for n, topic in enumerate(TOPICS):
        for message in tool_round(n, topic):
            pm.append(message)
            sent.append(message)
    records = store.archive("c1")
    archived = [m for r in records for m in r.removed]
    state = pm.state
    assert archived + state["committed"] + state["recent"] == sent  # in order, nothing lost
    found = store.recall("c1", "what did the invoice lookup say about tax?", k=2, config=cfg)
    assert found[0].messages == tuple(tool_round(1, "tax invoices"))  # a whole round
    assert found[0].score > (found[1].score if len(found) > 1 else 0)


def test_recall_by_embedding_and_ordering() -> None:
    messages = [m for n, t in enumerate(TOPICS) for m in tool_round(n, t)]

    def embed(text: str) -> list[float]:  # a toy embedding: which topics a text names
        return [float(word.split()[0] in text.lower()) for word in TOPICS]

    found = rank_rounds(messages, "I love penguin", k=3, embed=embed)
    assert found[0].index == 2 and len(found) == 3
    assert rank_rounds(messages, "nothing in common zzz", k=3) == []
    with pytest.raises(ValueError):
        rank_rounds(messages, "x", k=0)
    with pytest.raises(TypeError):
        rank_rounds(messages, None, k=1)  # type: ignore[arg-type]


def test_recall_over_redis(redis_url: str) -> None:
    store = RedisStore(url=redis_url)
    cfg = PromptConfig(history_max_tokens=150)
    pm = PromptManager.open(store, "c1", cfg)
    for n, topic in enumerate(TOPICS):
        pm.extend(tool_round(n, topic))
    archived = [m for r in store.archive("c1") for m in r.removed]
    assert len(archived) >= 12  # at least three rounds left history
    assert store.recall("c1", "penguin", k=1, config=cfg)[0].messages == tuple(
        tool_round(2, TOPICS[2])
    )


def test_a_recall_hook_brings_back_the_relevant_archived_round(tmp_path: Path) -> None:
    from stableprefix.stores import recall_hook

    store = SQLiteStore(tmp_path / "s.db")
    cfg = PromptConfig(
        history_max_tokens=260, compaction_hook=recall_hook(store, "c1", k=1, share=0.5)
    )
    pm = PromptManager.open(store, "c1", cfg)
    for n, topic in enumerate(TOPICS):
        pm.extend(tool_round(n, topic))
    assert store.archive("c1"), "compaction should have archived the first rounds"
    assert tool_round(0, TOPICS[0])[0] not in pm.state["committed"]
    pm.extend(tool_round(99, "volcano eruptions in Iceland"))  # back to volcanoes: compacts
    committed = pm.state["committed"]
    assert committed[:4] == tool_round(0, TOPICS[0])  # recalled, whole, in front
    assert committed[-4:] == tool_round(99, "volcano eruptions in Iceland")  # newest kept
    assert PromptManager.open(SQLiteStore(tmp_path / "s.db"), "c1", cfg).state == pm.state
