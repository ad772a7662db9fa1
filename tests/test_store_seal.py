"""The seal on stored rows: rows the library wrote load on the cheap path, an edit is caught.

Run against MemoryStore, SQLiteStore and RedisStore (real Redis).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import storehelpers as H
from stableprefix import PromptConfig, StoreError, functional, new_state
from stableprefix._check import is_checked
from stableprefix.adapters import AnthropicAdapter, OpenAIAdapter
from stableprefix.stores import Store

CFG = PromptConfig()


@pytest.fixture(params=H.KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    kind = str(request.param)
    where: Any = request.getfixturevalue("redis_url") if kind == "redis" else tmp_path
    s = H.make_store(kind, where)
    yield s
    s.close()


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def bot(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def cold_load(store: Store, session_id: str, config: PromptConfig = CFG) -> Any:
    """Load as a process that never saw the session; whether its rows matched their seal."""
    other = H.twin(store)
    other._forget(session_id)
    loaded = other.load(session_id, config=config)
    seen = other._known(session_id)
    assert seen is not None
    return loaded.state, seen.sealed


def test_every_kind_of_change_keeps_the_rows_sealed(store: Store) -> None:
    cfg = PromptConfig(history_max_tokens=80)
    s, version = new_state(), 0
    for i in range(20):  # appends, then compactions (a dropped front)
        s = functional.append_messages(s, [user(f"question {i}"), bot(f"answer {i}")], cfg)
        version = store.save("c1", s, expected_version=version)
        loaded, sealed = cold_load(store, "c1", cfg)
        assert loaded == s and sealed
    assert s["compactions"] > 0 and store.archive("c1")
    s = functional.apply_summary(s, "Summary so far", cfg, keep_last_rounds=1)  # a head
    version = store.save("c1", s, expected_version=version)
    loaded, sealed = cold_load(store, "c1", cfg)
    assert loaded == s and sealed


def test_a_cut_and_rewritten_turn_stays_sealed(store: Store) -> None:
    def shorten(messages: list[Any]) -> list[Any]:
        return [{**m, "content": m["content"][:5]} for m in messages]

    cfg = PromptConfig(transition_mode="manual", transition_hook=shorten)
    s = functional.append_messages(new_state(), [user("hello there"), bot("general")], cfg)
    store.save("c1", s, expected_version=0)
    s2 = functional.transition(s, cfg)
    store.save("c1", s2, expected_version=1)
    loaded, sealed = cold_load(store, "c1", cfg)
    assert loaded == s2 and sealed


def test_an_unchecked_state_is_saved_without_a_seal_and_checked_in_full(store: Store) -> None:
    s = functional.append_messages(new_state(), [user("Hi")], CFG)
    plain = {**s, "committed": list(s["committed"])}  # a plain dict the caller assembled
    store.save("c1", plain, expected_version=0)
    loaded, sealed = cold_load(store, "c1")
    assert loaded == s and not sealed


def test_a_message_edited_behind_the_stores_back_is_refused(store: Store) -> None:
    s = functional.append_messages(new_state(), [user("Pay 10 EUR"), bot("Done")], CFG)
    store.save("c1", s, expected_version=0)
    count, message = json.loads(H.first_entry(store, "c1"))
    edited = json.dumps([count, {**message, "content": "Pay 99 EUR"}], separators=(",", ":"))
    H.replace_first_entry(store, "c1", edited.encode())
    with pytest.raises(StoreError, match="history_hash") as info:
        cold_load(store, "c1")
    assert info.value.session_id == "c1" and info.value.operation == "load"


def test_an_edited_token_count_is_recomputed_not_trusted(store: Store) -> None:
    s = functional.append_messages(new_state(), [user("Hi there"), bot("Hello")], CFG)
    store.save("c1", s, expected_version=0)
    count, message = json.loads(H.first_entry(store, "c1"))
    H.replace_first_entry(store, "c1", json.dumps([count + 500, message]).encode())
    loaded, sealed = cold_load(store, "c1")
    assert not sealed
    assert loaded["committed_counts"] == s["committed_counts"]  # the adapter's, again
    assert loaded["committed_tokens"] == s["committed_tokens"]


def test_an_edited_meta_is_checked_in_full(store: Store) -> None:
    s = functional.append_messages(new_state(), [user("Hi"), bot("Hello")], CFG)
    store.save("c1", s, expected_version=0)
    H.edit_meta(store, "c1", s["history_hash"].encode(), b"0" * 64)
    with pytest.raises(StoreError, match="history_hash"):
        cold_load(store, "c1")


def test_a_session_this_store_holds_is_handed_out_checked(store: Store) -> None:
    s = functional.append_messages(new_state(), [user("Hi")], CFG)
    store.save("c1", s, expected_version=0)
    first = store.load("c1", config=CFG).state
    again = store.load("c1", config=CFG).state
    assert is_checked(first, CFG.adapter) and is_checked(again, CFG.adapter)
    assert again == s and again["committed"] is not first["committed"]  # fresh lists
    other = PromptConfig(adapter=AnthropicAdapter())
    with pytest.raises(StoreError, match="format"):
        store.load("c1", config=other)  # another adapter still gets the full check


def _counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record every message OpenAIAdapter counts from now on (a full check recounts each)."""
    calls: list[int] = []
    original = OpenAIAdapter.count_tokens

    def counting(self: Any, message: Any, *args: Any, **kw: Any) -> Any:
        calls.append(1)
        return original(self, message, *args, **kw)

    monkeypatch.setattr(OpenAIAdapter, "count_tokens", counting)
    return calls


def test_rows_checked_for_the_same_adapter_are_not_checked_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = functional.append_messages(new_state(), [user("Hi"), bot("Hello"), user("Bye")], CFG)
    store.save("c1", s, expected_version=0)
    calls = _counted(monkeypatch)
    loaded, sealed = cold_load(store, "c1")
    assert sealed and loaded == s and is_checked(loaded, CFG.adapter)
    assert calls == []  # checked when written, for an equal adapter: not again
    other = PromptConfig(adapter=OpenAIAdapter(model="gpt-4o"))  # same format, other settings
    loaded, sealed = cold_load(store, "c1", other)
    assert sealed and loaded["committed"] == s["committed"] and is_checked(loaded, other.adapter)
    assert len(calls) >= 3  # every message checked (recounted) for the other adapter


def test_a_new_library_version_checks_what_an_older_one_sealed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stableprefix

    s = functional.append_messages(new_state(), [user("Hi"), bot("Hello")], CFG)
    store.save("c1", s, expected_version=0)
    calls = _counted(monkeypatch)
    monkeypatch.setattr(stableprefix, "__version__", "99.0.0")
    loaded, sealed = cold_load(store, "c1")
    assert sealed and loaded == s and len(calls) >= 2


def test_an_adapter_with_its_own_token_counter_is_never_trusted_from_a_seal(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Counter:
        def count_text(self, text: str) -> int:
            return len(text)

    cfg = PromptConfig(adapter=OpenAIAdapter(token_counter=Counter()))
    s = functional.append_messages(new_state(), [user("Hi"), bot("Hello")], cfg)
    store.save("c1", s, expected_version=0)
    calls = _counted(monkeypatch)
    loaded, sealed = cold_load(store, "c1", cfg)
    assert not sealed and loaded == s and len(calls) >= 2
