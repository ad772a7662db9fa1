"""Helpers shared by the store tests: make each kind of store, damage one, run a worker."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from stableprefix import PromptConfig, PromptManager
from stableprefix.stores import MemoryStore, RedisStore, SQLiteStore, Store

KINDS = ("memory", "sqlite", "redis")


def make_store(kind: str, where: Any, **options: Any) -> Store:
    """A store of ``kind``; ``where`` is a folder (sqlite) or a redis URL."""
    if kind == "memory":
        return MemoryStore(**options)
    if kind == "sqlite":
        return SQLiteStore(Path(where) / "sessions.db", **options)
    return RedisStore(url=where, **options)


def twin(store: Store) -> Store:
    """Another store object on the same data (as another process would open it)."""
    if isinstance(store, SQLiteStore):
        return SQLiteStore(store.path, ttl=store.ttl)
    if isinstance(store, RedisStore):
        return RedisStore(client=store.client, ttl=store.ttl, prefix=store.prefix)
    return store


def corrupt_first_message(store: Store, session_id: str) -> None:
    """Overwrite the session's first live entry with bytes that are not an entry."""
    replace_first_entry(store, session_id, b"{not json")


def replace_first_entry(store: Store, session_id: str, body: bytes) -> None:
    """Overwrite the session's first live entry behind the store's back."""
    if isinstance(store, MemoryStore):
        store._sessions[session_id].entries[0] = body
    elif isinstance(store, SQLiteStore):
        conn = store._db.connection()
        conn.execute(
            "UPDATE stableprefix_entries SET body = ? WHERE session = ? AND seq = "
            "(SELECT min(seq) FROM stableprefix_entries WHERE session = ?)",
            (body, session_id, session_id),
        )
    else:
        store.client.lset(f"{store.prefix}:{{{session_id}}}:log", 0, body)


def first_entry(store: Store, session_id: str) -> bytes:
    """The session's first live entry as stored."""
    if isinstance(store, MemoryStore):
        return store._sessions[session_id].entries[0]
    if isinstance(store, SQLiteStore):
        row = (
            store._db.connection()
            .execute(
                "SELECT body FROM stableprefix_entries WHERE session = ? ORDER BY seq LIMIT 1",
                (session_id,),
            )
            .fetchone()
        )
        return bytes(row[0])
    return bytes(store.client.lindex(f"{store.prefix}:{{{session_id}}}:log", 0))


def edit_meta(store: Store, session_id: str, old: bytes, new: bytes) -> None:
    """Replace ``old`` by ``new`` in the session's stored meta document."""
    if isinstance(store, MemoryStore):
        found = store._sessions[session_id]
        assert old in found.meta
        found.meta = found.meta.replace(old, new)
    elif isinstance(store, SQLiteStore):
        conn = store._db.connection()
        (meta,) = conn.execute(
            "SELECT meta FROM stableprefix_sessions WHERE id = ?", (session_id,)
        ).fetchone()
        assert old in bytes(meta)
        conn.execute(
            "UPDATE stableprefix_sessions SET meta = ? WHERE id = ?",
            (bytes(meta).replace(old, new), session_id),
        )
    else:
        key = f"{store.prefix}:{{{session_id}}}:meta"
        meta = bytes(store.client.hget(key, "meta"))
        assert old in meta
        store.client.hset(key, "meta", meta.replace(old, new))


def worker(kind: str, where: str, session_id: str, name: str, count: int) -> None:
    """Append ``count`` user messages "NAME-i" through a saving manager."""
    store = make_store(kind, where)
    manager = PromptManager.open(store, session_id, PromptConfig())
    for i in range(count):
        manager.append({"role": "user", "content": f"{name}-{i}"})
    store.close()


if __name__ == "__main__":
    kind, where, session_id, name, count = sys.argv[1:6]
    worker(kind, where, session_id, name, int(count))
    os._exit(0)
