"""The store contract, run against MemoryStore, SQLiteStore and RedisStore (real Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import storehelpers as H
from stableprefix import (
    ConflictError,
    InvalidStateError,
    PromptConfig,
    PromptManager,
    StoreError,
    functional,
    new_state,
)
from stableprefix.stores import Store

CFG = PromptConfig()


@pytest.fixture(params=H.KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def where(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    if kind == "redis":
        return request.getfixturevalue("redis_url")
    return tmp_path


@pytest.fixture
def store(kind: str, where: Any) -> Iterator[Store]:
    s = H.make_store(kind, where)
    yield s
    s.close()


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def bot(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def grow(state: Any, *messages: dict[str, Any], config: PromptConfig = CFG) -> Any:
    return functional.append_messages(state, list(messages), config)


def test_a_missing_session_loads_empty_at_version_0(store: Store) -> None:
    state, version = store.load("nobody")
    assert version == 0 and state == new_state()


def test_save_then_load_round_trips(store: Store) -> None:
    s = grow(new_state(), user("Hi"), bot("Hello"))
    assert store.save("c1", s, expected_version=0) == 1
    s2 = grow(s, user("How are you?"))
    assert store.save("c1", s2, expected_version=1) == 2
    for reader in (store, H.twin(store)):
        loaded, version = reader.load("c1", config=CFG)
        assert version == 2 and loaded == s2


def test_sessions_are_independent(store: Store) -> None:
    store.save("a", grow(new_state(), user("A")), expected_version=0)
    store.save("b", grow(new_state(), user("B")), expected_version=0)
    assert store.load("a").state["committed"] == [user("A")]
    assert store.load("b").state["committed"] == [user("B")]


def test_a_save_writes_only_what_changed(store: Store) -> None:
    s, version = new_state(), 0
    sizes = []
    for i in range(300):
        before = store.bytes_written
        s = grow(s, user(f"question {i:04d}") if i % 2 == 0 else bot(f"answer {i:04d}"))
        version = store.save("c1", s, expected_version=version)
        sizes.append(store.bytes_written - before)
    assert max(sizes[250:]) <= 1.05 * max(sizes[2:10])
    assert H.twin(store).load("c1", config=CFG).state == s


def test_a_save_based_on_an_old_version_conflicts(store: Store) -> None:
    base = grow(new_state(), user("Hi"))
    store.save("c1", base, expected_version=0)
    store.save("c1", grow(base, bot("first")), expected_version=1)
    other = H.twin(store)
    with pytest.raises(ConflictError) as info:
        other.save("c1", grow(base, bot("second")), expected_version=1)
    assert (info.value.expected_version, info.value.actual_version) == (1, 2)
    assert info.value.session_id == "c1" and "re-apply your change" in str(info.value)
    assert store.load("c1").state["committed"][-1] == bot("first")


def test_a_retried_save_is_applied_once(store: Store) -> None:
    s = grow(new_state(), user("Hi"))
    store.save("c1", s, expected_version=0)
    s2 = grow(s, bot("Hello"))
    assert store.save("c1", s2, expected_version=1) == 2
    assert store.save("c1", s2, expected_version=1) == 2  # the retry
    assert store.load("c1").state["committed"] == [user("Hi"), bot("Hello")]
    with pytest.raises(ConflictError):
        store.save("c1", grow(s, bot("Other")), expected_version=1)


def test_creating_a_session_twice_conflicts(store: Store) -> None:
    store.save("c1", grow(new_state(), user("one")), expected_version=0)
    with pytest.raises(ConflictError):
        H.twin(store).save("c1", grow(new_state(), user("two")), expected_version=0)


def test_compaction_moves_removed_messages_to_the_archive(store: Store) -> None:
    cfg = PromptConfig(history_max_tokens=60)
    s, version, sent = new_state(), 0, []
    for i in range(30):
        pair = [user(f"question number {i}"), bot(f"answer number {i}")]
        sent += pair
        s = grow(s, *pair, config=cfg)
        version = store.save("c1", s, expected_version=version)
    assert s["compactions"] > 0
    archived = [m for record in store.archive("c1") for m in record.removed]
    loaded = H.twin(store).load("c1", config=cfg).state
    assert loaded == s
    assert archived + loaded["committed"] + loaded["recent"] == sent  # nothing lost
    records = store.archive("c1")
    assert [r.compactions for r in records] == list(range(1, len(records) + 1))


def test_a_summary_is_written_as_a_head(store: Store) -> None:
    s = grow(new_state(), *[user(f"q{i}") if i % 2 == 0 else bot(f"a{i}") for i in range(12)])
    store.save("c1", s, expected_version=0)
    folded = functional.apply_summary(s, "Summary of q0..q7", CFG, keep_last_rounds=2)
    before = store.bytes_written
    store.save("c1", folded, expected_version=1)
    assert H.twin(store).load("c1", config=CFG).state == folded
    removed = store.archive("c1")[0].removed
    assert list(removed) == s["committed"][:8] and store.archive("c1")[0].added == 1
    assert store.bytes_written - before < 2000


def test_a_rewritten_turn_is_cut_and_appended(store: Store) -> None:
    def shorten(messages: list[Any]) -> list[Any]:
        return [{**m, "content": m["content"][:5]} for m in messages]

    cfg = PromptConfig(transition_mode="manual", transition_hook=shorten)
    s = grow(new_state(), user("hello there"), bot("general kenobi"), config=cfg)
    store.save("c1", s, expected_version=0)
    s2 = functional.transition(s, cfg)
    store.save("c1", s2, expected_version=1)
    assert H.twin(store).load("c1", config=cfg).state == s2
    assert s2["committed"] == [user("hello"), bot("gener")]


def test_a_caller_changing_its_state_after_saving_changes_nothing(store: Store) -> None:
    s = grow(new_state(), user("Hi"))
    store.save("c1", s, expected_version=0)
    s["committed"].append(bot("sneaky"))
    assert H.twin(store).load("c1").state["committed"] == [user("Hi")]


def test_delete(store: Store) -> None:
    store.save("c1", grow(new_state(), user("Hi")), expected_version=0)
    assert store.delete("c1") is True and store.delete("c1") is False
    assert store.load("c1").version == 0 and store.archive("c1") == []


def test_garbage_in_the_store_is_a_store_error_naming_session_and_operation(
    store: Store,
) -> None:
    store.save("c1", grow(new_state(), user("Hi"), bot("Yo")), expected_version=0)
    H.corrupt_first_message(store, "c1")
    with pytest.raises(StoreError) as info:
        H.twin(store).load("c1") if store is not H.twin(store) else _cold_load(store)
    assert info.value.session_id == "c1" and info.value.operation == "load"
    assert "cannot be read" in str(info.value)


def _cold_load(store: Store) -> Any:
    store._forget("c1")
    return store.load("c1")


def test_a_stored_state_invalid_for_the_adapter_is_refused(store: Store) -> None:
    s = grow(new_state(), user("Hi"))
    s["committed"].append({"role": "tool", "tool_call_id": "nope", "content": "x"})
    s["committed_counts"].append(1)
    s["committed_tokens"] += 1
    store.save("c1", s, expected_version=0)  # structurally fine
    other = H.twin(store) if H.twin(store) is not store else store
    other._forget("c1")
    with pytest.raises(StoreError, match="stored state is not valid") as info:
        other.load("c1", config=CFG)
    assert isinstance(info.value.__cause__, InvalidStateError)


def test_bad_arguments(store: Store) -> None:
    with pytest.raises(TypeError):
        store.load(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.load("")
    with pytest.raises(TypeError):
        store.save("c1", new_state(), expected_version=-1)
    with pytest.raises(InvalidStateError):
        store.save("c1", {"version": 1}, expected_version=0)  # type: ignore[arg-type]
    assert store.load("c1").version == 0


# ----------------------------------------------------------- PromptManager.open


def test_open_persists_every_change(store: Store) -> None:
    pm = PromptManager.open(store, "c1", CFG)
    pm.append(user("Hi"))
    pm.extend([bot("Hello"), user("Bye")])
    assert pm.version == 2  # type: ignore[attr-defined]
    again = PromptManager.open(H.twin(store), "c1", CFG)
    assert again.state == pm.state


def test_open_retries_a_conflict_itself(store: Store) -> None:
    from stableprefix.stores import StoreConflictEvent

    events: list[Any] = []
    cfg = PromptConfig(on_event=None)
    a = PromptManager.open(store, "c1", cfg)
    b = PromptManager.open(H.twin(store), "c1", cfg)
    a.append(user("from a"))
    object.__setattr__(cfg, "on_event", events.append) if hasattr(cfg, "on_event") else None
    b.append(user("from b"))
    assert [m["content"] for m in store.load("c1").state["committed"]] == ["from a", "from b"]
    assert b.state == H.twin(store).load("c1").state
    if hasattr(cfg, "on_event"):
        assert any(isinstance(e, StoreConflictEvent) for e in events)


def test_open_reports_an_operation_that_no_longer_applies(store: Store) -> None:
    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ],
    }
    result = {"role": "tool", "tool_call_id": "t1", "content": "42"}
    a = PromptManager.open(store, "c1", CFG)
    a.extend([user("go"), call])
    b = PromptManager.open(H.twin(store), "c1", CFG)
    a.append(result)
    with pytest.raises(ConflictError, match="no longer applies"):
        b.append({**result, "content": "43"})  # the call was answered meanwhile
    assert b.state == a.state  # b now holds the newer version
    b.append(bot("done"))
    assert store.load("c1").state["committed"][-1] == bot("done")


def test_a_bad_new_message_is_refused_with_its_path_and_nothing_is_written(store: Store) -> None:
    s = grow(new_state(), user("Hi"))
    store.save("c1", s, expected_version=0)
    bad = grow(s, bot("Yo"))
    bad["committed"][-1] = {"content": "no role"}
    with pytest.raises(InvalidStateError) as info:
        store.save("c1", bad, expected_version=1)
    assert info.value.path == "$.committed[1]"
    bad2 = grow(s, bot("Yo"))
    bad2["committed_tokens"] += 1
    with pytest.raises(InvalidStateError, match="committed_tokens"):
        store.save("c1", bad2, expected_version=1)
    assert H.twin(store).load("c1").state == s
