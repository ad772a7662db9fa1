"""A stored manager delivers events only for changes it committed (saved), and after saving."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from stableprefix import CompactionEvent, HookError, PromptConfig, PromptManager, StoreError
from stableprefix.stores import AsyncMemoryStore, AsyncPromptManager, SQLiteStore


def rounds(n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        out += [
            {"role": "user", "content": f"question number {i} about the garden"},
            {"role": "assistant", "content": f"answer number {i} about the garden"},
        ]
    return out


def test_a_raising_callback_does_not_undo_a_saved_change(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    seen: list[Any] = []

    def callback(event: Any) -> None:
        seen.append((event, store.load("c1").version))  # delivered after the save
        raise RuntimeError("callback failed")

    cfg = PromptConfig(history_max_tokens=60, on_event=callback)
    pm = PromptManager.open(store, "c1", cfg)
    with pytest.raises(HookError, match="callback failed"):
        pm.extend(rounds(6))  # compacts: a CompactionEvent
    assert seen and isinstance(seen[0][0], CompactionEvent)
    assert seen[0][1] == pm.version == 1  # the store already held the change
    stored = SQLiteStore(tmp_path / "s.db").load("c1", config=cfg)
    assert stored.version == 1 and stored.state == pm.state  # kept, in memory and stored
    assert len(seen) == pm.state["compactions"] > 0  # every event delivered
    pm.append({"role": "user", "content": "still usable"})
    state = store.load("c1").state
    assert state == pm.state and [*state["committed"], *state["recent"]][-1]["content"] == (
        "still usable"
    )


def test_no_event_for_a_change_that_was_not_saved(tmp_path: Path) -> None:
    events: list[Any] = []
    cfg = PromptConfig(history_max_tokens=60, on_event=events.append)
    store = SQLiteStore(tmp_path / "s.db", timeout=0.05)
    pm = PromptManager.open(store, "c1", cfg)
    before = pm.state
    blocker = SQLiteStore(tmp_path / "s.db")
    with blocker._db.transaction(), pytest.raises(StoreError):  # the save cannot land
        pm.extend(rounds(6))
    assert events == [] and pm.state == before and pm.version == 0
    pm.extend(rounds(6))
    assert events and all(isinstance(e, CompactionEvent) for e in events)
    assert len(events) == pm.state["compactions"]


def test_async_manager_delivers_after_saving_and_keeps_the_change() -> None:
    async def main() -> None:
        store = AsyncMemoryStore()
        seen: list[int] = []

        async def version() -> int:
            return (await store.load("c1")).version

        def callback(event: Any) -> None:
            seen.append(store._sync._sessions["c1"].version)
            raise RuntimeError("callback failed")

        cfg = PromptConfig(history_max_tokens=60, on_event=callback)
        pm = await AsyncPromptManager.open(store, "c1", cfg)
        with pytest.raises(HookError):
            await pm.extend(rounds(6))
        assert seen and set(seen) == {1} and pm.version == await version() == 1
        assert (await store.load("c1", config=cfg)).state == pm.state
        await pm.append({"role": "user", "content": "still usable"})
        assert await version() == 2

    asyncio.run(main())
