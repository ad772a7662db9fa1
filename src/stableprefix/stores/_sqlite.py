"""``SQLiteStore``: sessions in one SQLite file, shared by threads and processes.

Approach: three tables. ``<prefix>_sessions`` holds one small row per
session (version, the live entry range ``[lo, hi)``, the meta document, the
digest of the last change, the expiry); ``<prefix>_entries`` holds one row
per live message keyed by ``(session, seq)``; ``<prefix>_archive`` holds
compressed compaction records; ``<prefix>_postings``, ``<prefix>_rounds``
and ``<prefix>_recall`` hold the recall index (see ``_index``: a word's
postings grow by concatenation in SQL). A save is one ``BEGIN IMMEDIATE``
transaction: it re-reads the version under the write lock, deletes the
dropped/cut entry rows (their seq numbers are never reused while live),
inserts the new ones at ``lo - len(head)`` and ``hi``, and updates the
session row. Appending therefore writes only the new rows and one small
row. A reader sees one committed version through a read transaction (WAL
snapshot). A writer killed mid-save leaves an uncommitted WAL tail that the
next connection ignores.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Callable

from .._backends import DEFAULT_TIMEOUT, SQLiteConnector
from .._errors import ConflictError
from ._base import Raw, Store
from ._codec import Delta
from ._index import IndexRead, RecordIndex

__all__ = ["SQLiteStore"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}\Z")


def _schema(p: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {p}_sessions (id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
        " lo INTEGER NOT NULL, hi INTEGER NOT NULL, meta BLOB NOT NULL, digest TEXT NOT NULL,"
        " expires REAL)",
        f"CREATE TABLE IF NOT EXISTS {p}_entries (session TEXT NOT NULL, seq INTEGER NOT NULL,"
        " body BLOB NOT NULL, PRIMARY KEY (session, seq)) WITHOUT ROWID",
        f"CREATE TABLE IF NOT EXISTS {p}_archive (session TEXT NOT NULL, n INTEGER NOT NULL,"
        " record BLOB NOT NULL, PRIMARY KEY (session, n)) WITHOUT ROWID",
        f"CREATE INDEX IF NOT EXISTS {p}_expiry ON {p}_sessions (expires)"
        " WHERE expires IS NOT NULL",
        f"CREATE TABLE IF NOT EXISTS {p}_postings (session TEXT NOT NULL, word TEXT NOT NULL,"
        " postings TEXT NOT NULL, PRIMARY KEY (session, word)) WITHOUT ROWID",
        f"CREATE TABLE IF NOT EXISTS {p}_rounds (session TEXT NOT NULL, record INTEGER NOT NULL,"
        " n INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (session, record, n)) WITHOUT ROWID",
        f"CREATE TABLE IF NOT EXISTS {p}_recall (session TEXT NOT NULL, record INTEGER NOT NULL,"
        " rounds INTEGER NOT NULL, words INTEGER NOT NULL, PRIMARY KEY (session, record))"
        " WITHOUT ROWID",
    ]


_SESSION_TABLES = ("entries", "archive", "postings", "rounds", "recall")


class SQLiteStore(Store):
    """Conversations in an SQLite file: the embedded default.

    Safe for many threads and processes on one machine (WAL, a busy
    timeout, version checks inside write transactions).

    Args:
        path: the database file (created if missing).
        ttl: seconds a session lives after its last write (None: forever).
            Expired sessions are dropped when read and by ``purge_expired``.
        ttl_on_read: refresh the expiry on every load too.
        timeout: seconds to wait for another writer's lock.
        prefix: table name prefix (letters, digits, underscores).
        clock: the time source for expiry.

    Raises:
        TypeError / ValueError: bad arguments.

    >>> import os, tempfile
    >>> from stableprefix import PromptConfig, PromptManager
    >>> store = SQLiteStore(os.path.join(tempfile.mkdtemp(), "sessions.db"))
    >>> pm = PromptManager.open(store, "chat-1", PromptConfig())
    >>> pm.append({"role": "user", "content": "Hi"})
    >>> PromptManager.open(store, "chat-1", PromptConfig()).state["committed"]
    [{'role': 'user', 'content': 'Hi'}]
    >>> store.close()
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ttl: float | None = None,
        ttl_on_read: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        prefix: str = "stableprefix",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(ttl=ttl, ttl_on_read=ttl_on_read, clock=clock)
        if not isinstance(prefix, str) or not _NAME.match(prefix):
            raise ValueError(f"prefix must be letters, digits and underscores, got {prefix!r}")
        self._db = SQLiteConnector(path, timeout=timeout, schema=_schema(prefix))
        self._p = prefix
        self.path = self._db.path
        self.name = (
            f"sqlite:///{self.path}" if os.path.isabs(self.path) else f"sqlite://{self.path}"
        )

    def _expired(self, expires: float | None) -> bool:
        return expires is not None and expires <= self._clock()

    def _read(self, session_id: str, known: int) -> Raw | None:
        p = self._p
        with self._db.snapshot() as conn:
            row = conn.execute(
                f"SELECT version, lo, hi, meta, expires FROM {p}_sessions WHERE id = ?",
                (session_id,),
            ).fetchone()
            if row is None:
                return None
            version, lo, hi, meta, expires = row
            if self._expired(expires):
                expired = True
            else:
                expired = False
                joined, count = None, 0
                if version != known:
                    # SQLite joins the entries itself (one value, not a row per
                    # message); the inner ORDER BY fixes their order, as a
                    # subquery with ORDER BY is never flattened into an aggregate.
                    blob, count = conn.execute(
                        f"SELECT CAST(group_concat(body, ',') AS BLOB), count(*) FROM (SELECT"
                        f" body FROM {p}_entries WHERE session = ? AND seq >= ? AND seq < ?"
                        " ORDER BY seq)",
                        (session_id, lo, hi),
                    ).fetchone()
                    joined = bytes(blob or b"")
                    if count != hi - lo:
                        raise ValueError(
                            f"the session lists {hi - lo} live entries but {count} are stored"
                        )
        if expired:
            self._drop_expired(session_id)
            return None
        if self.ttl_on_read and self.ttl is not None:
            with self._db.transaction() as conn:
                conn.execute(
                    f"UPDATE {p}_sessions SET expires = ? WHERE id = ? AND version = ?",
                    (self._expires(), session_id, version),
                )
        return Raw(version, bytes(meta), None, joined, count)

    def _drop_expired(self, session_id: str) -> None:
        with self._db.transaction() as conn:
            row = conn.execute(
                f"SELECT expires FROM {self._p}_sessions WHERE id = ?", (session_id,)
            ).fetchone()
            if row is not None and self._expired(row[0]):
                self._remove(conn, session_id)

    def _remove(self, conn: sqlite3.Connection, session_id: str) -> bool:
        p = self._p
        for table in _SESSION_TABLES:
            conn.execute(f"DELETE FROM {p}_{table} WHERE session = ?", (session_id,))
        return conn.execute(f"DELETE FROM {p}_sessions WHERE id = ?", (session_id,)).rowcount > 0

    def _write(self, session_id: str, delta: Delta) -> int:
        p = self._p
        with self._db.transaction() as conn:
            row = conn.execute(
                f"SELECT version, lo, hi, digest, expires FROM {p}_sessions WHERE id = ?",
                (session_id,),
            ).fetchone()
            if row is not None and self._expired(row[4]):
                self._remove(conn, session_id)
                row = None
            version, lo, hi, digest = row[:4] if row is not None else (0, 0, 0, "")
            if version != delta.base:
                if version == delta.base + 1 and digest == delta.digest:
                    return int(version)
                raise ConflictError(
                    f"version {version} is stored, this save expected {delta.base}; "
                    "load again, re-apply your change and save",
                    session_id=session_id,
                    expected_version=delta.base,
                    actual_version=version,
                )
            delete = f"DELETE FROM {p}_entries WHERE session = ? AND seq >= ? AND seq < ?"
            insert = f"INSERT INTO {p}_entries (session, seq, body) VALUES (?, ?, ?)"
            if delta.drop:
                conn.execute(delete, (session_id, lo, lo + delta.drop))
                lo += delta.drop
            if delta.cut:
                conn.execute(delete, (session_id, hi - delta.cut, hi))
                hi -= delta.cut
            if delta.head:
                lo -= len(delta.head)
                conn.executemany(
                    insert, [(session_id, lo + i, b) for i, b in enumerate(delta.head)]
                )
            if delta.tail:
                conn.executemany(
                    insert, [(session_id, hi + i, b) for i, b in enumerate(delta.tail)]
                )
                hi += len(delta.tail)
            if delta.archive is not None:
                conn.execute(
                    f"INSERT INTO {p}_archive (session, n, record) VALUES (?, (SELECT"
                    f" coalesce(max(n), 0) + 1 FROM {p}_archive WHERE session = ?), ?)",
                    (session_id, session_id, delta.archive),
                )
            if delta.index is not None:
                self._write_index(conn, session_id, delta.index)
            conn.execute(
                f"INSERT OR REPLACE INTO {p}_sessions (id, version, lo, hi, meta, digest, expires)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session_id, version + 1, lo, hi, delta.meta, delta.digest, self._expires()),
            )
            return int(version) + 1

    def _write_index(self, conn: sqlite3.Connection, session_id: str, index: RecordIndex) -> None:
        p = self._p
        conn.executemany(
            f"INSERT INTO {p}_postings (session, word, postings) VALUES (?, ?, ?) ON CONFLICT"
            " (session, word) DO UPDATE SET postings = postings || ',' || excluded.postings",
            [(session_id, word, items) for word, items in index.postings.items()],
        )
        conn.executemany(
            f"INSERT OR REPLACE INTO {p}_rounds (session, record, n, body) VALUES (?, ?, ?, ?)",
            [(session_id, index.record, j, body) for j, body in enumerate(index.rounds)],
        )
        conn.execute(
            f"INSERT OR REPLACE INTO {p}_recall (session, record, rounds, words)"
            " VALUES (?, ?, ?, ?)",
            (session_id, index.record, len(index.rounds), index.words),
        )

    def _read_index(self, session_id: str, terms: list[str]) -> IndexRead | None:
        p = self._p
        with self._db.snapshot() as conn:
            row = conn.execute(
                f"SELECT expires FROM {p}_sessions WHERE id = ?", (session_id,)
            ).fetchone()
            if row is None or self._expired(row[0]):
                return None
            (records,) = conn.execute(
                f"SELECT count(*) FROM {p}_archive WHERE session = ?", (session_id,)
            ).fetchone()
            stats = conn.execute(
                f"SELECT record, rounds, words FROM {p}_recall WHERE session = ?", (session_id,)
            ).fetchall()
            postings = {}
            if terms:
                marks = ",".join("?" * len(terms))
                postings = dict(
                    conn.execute(
                        f"SELECT word, postings FROM {p}_postings WHERE session = ?"
                        f" AND word IN ({marks})",
                        (session_id, *terms),
                    ).fetchall()
                )
        return IndexRead(int(records), [tuple(s) for s in stats], postings)

    def _read_rounds(self, session_id: str, keys: list[tuple[int, int]]) -> list[bytes | None]:
        p = self._p
        with self._db.snapshot() as conn:
            found = []
            for record, n in keys:
                row = conn.execute(
                    f"SELECT body FROM {p}_rounds WHERE session = ? AND record = ? AND n = ?",
                    (session_id, record, n),
                ).fetchone()
                found.append(None if row is None else bytes(row[0]))
        return found

    def _read_archive(self, session_id: str) -> list[bytes]:
        p = self._p
        with self._db.snapshot() as conn:
            row = conn.execute(
                f"SELECT expires FROM {p}_sessions WHERE id = ?", (session_id,)
            ).fetchone()
            if row is None or self._expired(row[0]):
                return []
            return [
                bytes(r)
                for (r,) in conn.execute(
                    f"SELECT record FROM {p}_archive WHERE session = ? ORDER BY n", (session_id,)
                )
            ]

    def _delete(self, session_id: str) -> bool:
        with self._db.transaction() as conn:
            return self._remove(conn, session_id)

    def _purge(self) -> int:
        p, now = self._p, self._clock()
        expired = f"SELECT id FROM {p}_sessions WHERE expires IS NOT NULL AND expires <= ?"
        with self._db.transaction() as conn:
            for table in _SESSION_TABLES:
                conn.execute(f"DELETE FROM {p}_{table} WHERE session IN ({expired})", (now,))
            return int(
                conn.execute(
                    f"DELETE FROM {p}_sessions WHERE expires IS NOT NULL AND expires <= ?", (now,)
                ).rowcount
            )

    def close(self) -> None:
        """Close this process's connections (reopened on next use)."""
        self._db.close()
