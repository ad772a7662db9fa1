"""The shared SQLite/Redis plumbing: URLs, connections, error translation."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from stableprefix import StoreError
from stableprefix._backends import (
    SQLiteConnector,
    parse_url,
    redis_client,
    store_errors,
    translate,
)

# ------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("url", "scheme", "path", "client"),
    [
        ("memory://", "memory", "", ""),
        ("sqlite:///var/lib/s.db", "sqlite", "/var/lib/s.db", ""),
        ("sqlite://data/s.db", "sqlite", "data/s.db", ""),
        ("redis://127.0.0.1:6379/3", "redis", "", "redis://127.0.0.1:6379/3"),
        ("rediss://:pw@cache.example:6380/0", "rediss", "", "rediss://:pw@cache.example:6380/0"),
        (
            "REDIS://h:1/0?ttl=5&health_check_interval=3",
            "redis",
            "",
            "redis://h:1/0?health_check_interval=3",
        ),
    ],
)
def test_url_forms(url: str, scheme: str, path: str, client: str) -> None:
    parsed = parse_url(url)
    assert (parsed.scheme, parsed.path, parsed.client_url) == (scheme, path, client)


def test_url_options_are_parsed_and_removed_from_the_client_url() -> None:
    u = parse_url("redis://h:1/0?ttl=90&ttl_on_read=true&prefix=app&timeout=2.5&db_extra=x")
    assert (u.ttl, u.ttl_on_read, u.prefix, u.timeout) == (90.0, True, "app", 2.5)
    assert u.extra == {"db_extra": "x"} and "ttl" not in u.client_url and u.is_redis
    assert parse_url("memory://").ttl is None and not parse_url("memory://").ttl_on_read


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("postgres://db", "unknown scheme 'postgres'"),
        ("sqlite://", "no database file"),
        ("redis:///0", "no host"),
        ("memory://?ttl=0", "ttl must be a number of seconds > 0"),
        ("memory://?ttl=soon", "ttl must be a number of seconds > 0"),
        ("memory://?ttl=inf", "ttl must be a number of seconds > 0"),
        ("memory://?ttl_on_read=maybe", "ttl_on_read must be"),
        ("memory://?prefix=", "prefix must not be empty"),
    ],
)
def test_bad_urls_say_what_to_write(url: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_url(url)


def test_url_must_be_a_string() -> None:
    with pytest.raises(TypeError):
        parse_url(b"memory://")  # type: ignore[arg-type]


# ----------------------------------------------------------------- SQLite

SCHEMA = ["CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)"]


def test_sqlite_is_wal_with_a_busy_timeout(tmp_path: Path) -> None:
    db = SQLiteConnector(tmp_path / "a.db", timeout=3, schema=SCHEMA)
    conn = db.connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 3000
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    db.close()


def test_one_connection_per_thread_and_atomic_increments(tmp_path: Path) -> None:
    db = SQLiteConnector(tmp_path / "a.db", schema=SCHEMA)
    with db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (1, 0)")
    seen: set[int] = set()

    def work() -> None:
        seen.add(id(db.connection()))
        for _ in range(50):
            with db.transaction() as conn:  # read-then-write under the write lock
                (v,) = conn.execute("SELECT v FROM t WHERE k = 1").fetchone()
                conn.execute("UPDATE t SET v = ? WHERE k = 1", (v + 1,))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 4
    assert db.connection().execute("SELECT v FROM t").fetchone()[0] == 200
    db.close()


def test_a_failed_transaction_rolls_back(tmp_path: Path) -> None:
    db = SQLiteConnector(tmp_path / "a.db", schema=SCHEMA)
    with pytest.raises(RuntimeError), db.transaction() as conn:
        conn.execute("INSERT INTO t VALUES (1, 1)")
        raise RuntimeError("boom")
    assert db.connection().execute("SELECT count(*) FROM t").fetchone()[0] == 0
    assert not db.connection().in_transaction


def test_locked_database_becomes_a_store_error_naming_the_session(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    holder = SQLiteConnector(path, schema=SCHEMA)
    waiter = SQLiteConnector(path, timeout=0.05, schema=SCHEMA)
    waiter.connection()
    with (
        holder.transaction(),
        pytest.raises(StoreError) as info,
        store_errors("save", "chat-7", where=str(path)),
        waiter.transaction() as conn,
    ):
        conn.execute("INSERT INTO t VALUES (2, 2)")
    err = info.value
    assert err.session_id == "chat-7" and err.operation == "save"
    assert "database is locked" in str(err) and "raise timeout=" in str(err)
    assert isinstance(err.__cause__, sqlite3.OperationalError)


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    db = SQLiteConnector(path, schema=SCHEMA)
    with pytest.raises(StoreError, match="not an SQLite database"), store_errors("load", "s"):
        db.connection()


def test_connector_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        SQLiteConnector(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        SQLiteConnector(tmp_path / "a.db", timeout=0)


def test_library_errors_pass_through_unchanged() -> None:
    from stableprefix import ConflictError

    with pytest.raises(ConflictError), store_errors("save", "s"):
        raise ConflictError("someone else saved", session_id="s")
    with pytest.raises(KeyError), store_errors("save", "s"):
        raise KeyError("a bug is not a store failure")


def test_disk_full_and_garbage_messages() -> None:
    full = translate(sqlite3.OperationalError("database or disk is full"), operation="save")
    assert "free space" in str(full)
    garbage = translate(ValueError("Expecting value"), operation="load", session_id="x")
    assert "cannot be read" in str(garbage) and garbage.session_id == "x"


# ------------------------------------------------------------------ Redis


def test_redis_client_talks_to_the_real_server(redis_url: str) -> None:
    client = redis_client(redis_url)
    client.set("k", b"v")
    assert client.get("k") == b"v"
    client.close()


def test_redis_down_is_a_clear_store_error() -> None:
    import redisserver

    client = redis_client(f"redis://127.0.0.1:{redisserver.free_port()}/0", timeout=0.5)
    with pytest.raises(StoreError) as info, store_errors("load", "chat-1", where="redis"):
        client.get("k")
    assert "is the server running" in str(info.value) and info.value.operation == "load"


def test_redis_full_names_maxmemory(redis_server: Any) -> None:
    import redisserver

    server = redisserver.RedisServer.start()
    try:
        client = redis_client(server.url())
        client.config_set("maxmemory", "1mb")
        client.config_set("maxmemory-policy", "noeviction")
        with pytest.raises(StoreError, match="maxmemory"), store_errors("save", "s"):
            for i in range(100):
                client.set(f"k{i}", b"x" * 100_000)
        client.close()
    finally:
        server.stop()


def test_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match=r"stableprefix\[redis\]"):
        redis_client("redis://127.0.0.1:1/0")


def test_opening_a_ready_file_does_not_wait_for_the_write_lock(tmp_path: Path) -> None:
    """A new connection to a file whose schema exists reads it while a writer holds the lock."""
    schema = ["CREATE TABLE IF NOT EXISTS t (v INTEGER)", "CREATE INDEX IF NOT EXISTS t_v ON t (v)"]
    first = SQLiteConnector(tmp_path / "x.db", schema=schema)
    with first.transaction() as conn:  # the write lock stays taken while the second one opens
        conn.execute("INSERT INTO t VALUES (1)")
        second = SQLiteConnector(tmp_path / "x.db", timeout=0.05, schema=schema)
        assert second.connection().execute("SELECT count(*) FROM t").fetchone() == (0,)
    assert second.connection().execute("SELECT count(*) FROM t").fetchone() == (1,)
    first.close(), second.close()


def test_a_new_file_opened_while_another_connection_writes_waits_for_wal(tmp_path: Path) -> None:
    """Switching a new file to WAL is refused at once while another connection writes
    (SQLite runs no busy handler for it): opening waits and retries instead of failing."""
    path = tmp_path / "new.db"
    ready, done = threading.Event(), threading.Event()

    def writer() -> None:  # a rollback-journal writer holding its lock for a moment
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("CREATE TABLE t (v INTEGER)")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (1)")
        ready.set()
        done.wait(0.3)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    ready.wait(10)
    db = SQLiteConnector(path, timeout=10)
    try:
        assert db.connection().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        done.set()
        thread.join()
        db.close()
    assert SQLiteConnector(path).connection().execute("SELECT v FROM t").fetchall() == [(1,)]
