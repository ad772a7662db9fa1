"""The SQLite response-cache backend: survives restarts, shared by processes.

Approach: one table on the shared SQLite plumbing (WAL, busy timeout, one
connection per thread and process). Expiry is a wall-clock timestamp in the
row, checked on read, so every process agrees on it; expired rows are swept
now and then on write. Partitions (for the semantic cache) are a column with
an index, listed newest first by rowid (``INSERT OR REPLACE`` gives a
replaced entry a new rowid, so "newest" means most recently stored). Driver
errors become ``StoreError`` through the shared translation.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .._backends import SQLiteConnector, store_errors

__all__ = ["SQLiteBackend"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS response_cache ("
    " key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL, part TEXT)",
    "CREATE INDEX IF NOT EXISTS response_cache_part ON response_cache (part)",
)
_SWEEP_EVERY = 256


class SQLiteBackend:
    """Response-cache entries in one SQLite file.

    Args:
        path: the database file (its folder must exist).
        timeout: seconds a writer waits for another writer's lock.
        clock: wall-clock seconds (``time.time``), for expiry.

    >>> import os, tempfile
    >>> b = SQLiteBackend(os.path.join(tempfile.mkdtemp(), "rc.db"))
    >>> b.set("k", b"v", ttl=None, partition=None)
    >>> b.get("k")
    b'v'
    >>> b.close()
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = SQLiteConnector(path, timeout=timeout, schema=_SCHEMA)
        self._where = f"sqlite:///{self._db.path}"
        self._clock = clock
        self._writes = itertools.count(1)

    @contextmanager
    def _write(self, operation: str, key: str | None) -> Iterator[sqlite3.Connection]:
        with store_errors(operation, key, where=self._where), self._db.transaction() as conn:
            yield conn

    def get(self, key: str) -> bytes | None:
        """The value under ``key`` unless absent or expired."""
        with store_errors("response-cache get", key, where=self._where):
            row = (
                self._db.connection()
                .execute("SELECT value, expires FROM response_cache WHERE key = ?", (key,))
                .fetchone()
            )
        if row is None or (row[1] is not None and row[1] <= self._clock()):
            return None
        return bytes(row[0])

    def set(self, key: str, value: bytes, *, ttl: float | None, partition: str | None) -> None:
        """Store ``value`` under ``key``."""
        now = self._clock()
        expires = None if ttl is None else now + ttl
        with self._write("response-cache set", key) as conn:
            conn.execute(
                "INSERT OR REPLACE INTO response_cache (key, value, expires, part) "
                "VALUES (?, ?, ?, ?)",
                (key, value, expires, partition),
            )
            if next(self._writes) % _SWEEP_EVERY == 0:
                conn.execute("DELETE FROM response_cache WHERE expires <= ?", (now,))

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        with self._write("response-cache delete", key) as conn:
            conn.execute("DELETE FROM response_cache WHERE key = ?", (key,))

    def partition(self, name: str, limit: int) -> list[str]:
        """The newest ``limit`` live keys of partition ``name``."""
        with store_errors("response-cache search", where=self._where):
            rows = (
                self._db.connection()
                .execute(
                    "SELECT key FROM response_cache WHERE part = ? "
                    "AND (expires IS NULL OR expires > ?) ORDER BY rowid DESC LIMIT ?",
                    (name, self._clock(), limit),
                )
                .fetchall()
            )
        return [str(r[0]) for r in rows]

    def clear(self) -> None:
        """Forget every entry."""
        with self._write("response-cache clear", None) as conn:
            conn.execute("DELETE FROM response_cache")

    def close(self) -> None:
        """Close this process's connections."""
        self._db.close()
