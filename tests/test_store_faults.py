"""Stores under concurrency and faults: many processes, SIGKILL mid-save, Redis restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

import storehelpers as H
from stableprefix import PromptConfig, PromptManager, StoreError
from stableprefix.stores import RedisStore, SQLiteStore

HERE = Path(__file__).parent
CFG = PromptConfig()


def spawn(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    return subprocess.Popen(
        [sys.executable, str(HERE / "storehelpers.py"), *args], env=env, stderr=subprocess.PIPE
    )


def check_appends(state: dict[str, Any], writers: int, each: int) -> None:
    """Every append landed exactly once, each writer's in its own order."""
    seen: dict[str, list[int]] = defaultdict(list)
    for message in state["committed"] + state["recent"]:
        name, _, i = message["content"].rpartition("-")
        seen[name].append(int(i))
    assert sorted(seen) == [f"w{n}" for n in range(writers)]
    for name, numbers in seen.items():
        assert numbers == list(range(each)), f"{name} lost, duplicated or reordered appends"


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_four_processes_append_250_each_to_one_session(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    where = str(tmp_path) if kind == "sqlite" else request.getfixturevalue("redis_url")
    procs = [spawn(kind, where, "shared", f"w{n}", "250") for n in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    store = H.make_store(kind, where)
    state, version = store.load("shared", config=CFG)  # passes the full state check
    check_appends(state, 4, 250)
    assert version == 1000
    store.close()


def _wait_for(store: Any, session_id: str, version: int) -> None:
    deadline = time.monotonic() + 60
    while store.load(session_id).version < version:
        assert time.monotonic() < deadline, "the writer made no progress"
        store._forget(session_id)
        time.sleep(0.01)


def test_a_writer_killed_mid_save_leaves_a_consistent_store(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    watcher = SQLiteStore(path)
    for round_ in range(3):
        proc = spawn("sqlite", str(tmp_path), f"kill{round_}", "w0", "100000")
        _wait_for(watcher, f"kill{round_}", 20 + 7 * round_)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stderr:
            proc.stderr.close()
        fresh = SQLiteStore(path)
        state, version = fresh.load(f"kill{round_}", config=CFG)
        numbers = [int(m["content"].rpartition("-")[2]) for m in state["committed"]]
        assert numbers == list(range(version))  # a whole prefix of the appends, no torn tail
        pm = PromptManager.open(fresh, f"kill{round_}", CFG)  # the lock was released
        pm.append({"role": "user", "content": f"w0-{version}"})
        assert fresh.load(f"kill{round_}").version == version + 1
        fresh.close()
    watcher.close()


def test_a_redis_restart_mid_run_gives_clear_errors_and_no_corruption(redis_server: Any) -> None:
    import redisserver

    server = redisserver.RedisServer.start()
    try:
        store = RedisStore(url=server.url() + "?timeout=1")
        pm = PromptManager.open(store, "c1", CFG)
        for i in range(5):
            pm.append({"role": "user", "content": f"m{i}"})
        before = pm.state
        server.stop()
        with pytest.raises(StoreError) as info:
            pm.append({"role": "user", "content": "lost?"})
        assert info.value.session_id == "c1" and info.value.operation == "save"
        assert "is the server running" in str(info.value)
        assert pm.state == before  # nothing half-applied: memory matches the last save
        server.resume()  # persistence is off: the server comes back empty
        with pytest.raises(StoreError, match="went back from version 5 to 0") as lost:
            pm.append({"role": "user", "content": "m5"})
        assert lost.value.operation == "save" and pm.state == before
        # the manager still holds everything: save it back and carry on
        assert store.save("c1", pm.state, expected_version=0) == 1
        pm.reload()  # type: ignore[attr-defined]
        pm.append({"role": "user", "content": "m5"})
        assert [m["content"] for m in store.load("c1").state["committed"]][-2:] == ["m4", "m5"]
        store.close()
    finally:
        server.stop()


def test_a_down_sqlite_store_leaves_the_manager_usable(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", timeout=0.05)
    pm = PromptManager.open(store, "c1", CFG)
    pm.append({"role": "user", "content": "Hi"})
    blocker = SQLiteStore(tmp_path / "s.db")
    with blocker._db.transaction():  # another writer holds the lock
        with pytest.raises(StoreError, match="database is locked") as info:
            pm.append({"role": "assistant", "content": "Hello"})
        assert info.value.operation == "save" and info.value.session_id == "c1"
    assert pm.state["committed"] == [{"role": "user", "content": "Hi"}]
    pm.append({"role": "assistant", "content": "Hello"})
    assert len(SQLiteStore(tmp_path / "s.db").load("c1").state["committed"]) == 2


def test_a_full_sqlite_store_is_a_store_error_and_keeps_what_was_saved(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    pm = PromptManager.open(store, "c1", CFG)
    pm.append({"role": "user", "content": "small"})
    conn = store._db.connection()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # the file may hardly grow
    with pytest.raises(StoreError, match="full") as info:
        pm.append({"role": "assistant", "content": "x" * 200_000})
    assert info.value.session_id == "c1" and info.value.operation == "save"
    assert pm.state["committed"] == [{"role": "user", "content": "small"}]
    fresh = SQLiteStore(tmp_path / "s.db")
    assert fresh.load("c1", config=CFG).state == pm.state  # nothing half-written


def test_a_full_redis_is_a_store_error_and_keeps_what_was_saved(redis_server: Any) -> None:
    import redisserver

    server = redisserver.RedisServer.start()
    try:
        store = RedisStore(url=server.url())
        pm = PromptManager.open(store, "c1", CFG)
        pm.append({"role": "user", "content": "small"})
        store.client.config_set("maxmemory-policy", "noeviction")
        store.client.config_set("maxmemory", str(store.client.info("memory")["used_memory"]))
        with pytest.raises(StoreError, match="maxmemory") as info:
            pm.append({"role": "assistant", "content": "x" * 200_000})
        assert info.value.session_id == "c1" and info.value.operation == "save"
        assert pm.state["committed"] == [{"role": "user", "content": "small"}]
        store.client.config_set("maxmemory", "0")
        assert RedisStore(url=server.url()).load("c1", config=CFG).state == pm.state
        pm.append({"role": "assistant", "content": "fits now"})
        store.close()
    finally:
        server.stop()
