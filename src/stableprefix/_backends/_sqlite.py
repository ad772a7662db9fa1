"""SQLite connections that several threads and processes can share safely.

Approach: one file, many writers. The database runs in WAL mode (readers
never block the writer, and a writer killed mid-transaction leaves only an
uncommitted tail in the log that the next opener discards), with
``synchronous=NORMAL`` (a killed process never loses a commit; only a power
cut can lose the last few) and a busy timeout, so a writer waits for the lock
instead of failing with "database is locked". Each thread of each process
gets its own connection (a connection must not cross a ``fork`` or be used
by two threads at once). Writes go through ``transaction()``, which takes
the write lock up front (``BEGIN IMMEDIATE``): a read-then-write inside it
cannot be overtaken by another writer, which is what makes version checks
atomic.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_TIMEOUT", "SQLiteConnector"]

DEFAULT_TIMEOUT = 10.0
_CREATED = re.compile(
    r"\s*CREATE\s+(?:UNIQUE\s+)?(?:TABLE|INDEX)\s+IF\s+NOT\s+EXISTS\s+([A-Za-z_][A-Za-z0-9_]*)",
    re.IGNORECASE,
)


class SQLiteConnector:
    """Per-thread connections to one SQLite file, set up for concurrent use.

    Args:
        path: the database file (created with its folder's permissions when
            missing; its parent folder must exist).
        timeout: seconds a writer waits for another writer's lock before
            the operation fails.
        schema: ``CREATE ... IF NOT EXISTS`` statements run once, in one
            transaction, when the first connection opens.

    Raises:
        TypeError: ``path`` is not a str or ``os.PathLike``.
        ValueError: ``timeout`` is not a positive number.

    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> db = SQLiteConnector(os.path.join(folder, "x.db"),
    ...                      schema=["CREATE TABLE IF NOT EXISTS t (v INTEGER)"])
    >>> with db.transaction() as conn:
    ...     _ = conn.execute("INSERT INTO t VALUES (1)")
    >>> db.connection().execute("SELECT v FROM t").fetchall()
    [(1,)]
    >>> with db.snapshot() as conn:
    ...     conn.execute("SELECT count(*) FROM t").fetchone()
    (1,)
    >>> db.connection().execute("PRAGMA journal_mode").fetchone()[0]
    'wal'
    >>> db.close()
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        schema: Sequence[str] = (),
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        self.path = str(Path(path))
        self.timeout = float(timeout)
        self._schema = tuple(schema)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[tuple[int, sqlite3.Connection]] = []
        self._ready_pid = 0

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened, configured and schema-checked on first use).

        Raises:
            sqlite3.Error: the file cannot be opened or is not a database
                (translate it with ``stableprefix._backends.store_errors``).
        """
        pid = os.getpid()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", 0) == pid:
            return conn
        conn = self._open()
        self._local.conn, self._local.pid = conn, pid
        with self._lock:
            self._all.append((pid, conn))
            ready = self._ready_pid == pid
        if not ready and self._schema and not self._schema_present(conn):
            with self._write(conn):
                for statement in self._schema:
                    conn.execute(statement)
        with self._lock:
            self._ready_pid = pid
        return conn

    def _schema_present(self, conn: sqlite3.Connection) -> bool:
        """Whether every table and index the schema names already exists.

        Checked with a plain read so that opening a store on a busy file does
        not queue for the write lock behind the other writers (which, under
        load, could wait past the timeout for nothing).
        """
        wanted = {m.group(1) for m in map(_CREATED.match, self._schema) if m is not None}
        if len(wanted) != len(self._schema):
            return False  # a statement we cannot read: run the schema
        rows = conn.execute("SELECT name FROM sqlite_master").fetchall()
        return wanted <= {row[0] for row in rows}

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            mode = conn.execute("PRAGMA journal_mode").fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                mode = self._switch_to_wal(conn)
            if mode is None or str(mode[0]).lower() != "wal":
                # e.g. a file system without shared memory: still correct, just slower
                conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _switch_to_wal(self, conn: sqlite3.Connection) -> Any:
        """Put a new file in WAL mode, waiting while another connection holds a lock.

        The switch needs the file to itself, and SQLite refuses it at once
        (no busy handler) while another connection is writing, which happens
        when several processes open a new file together. WAL mode persists,
        so this runs once per file; it retries until ``timeout``.
        """
        deadline = time.monotonic() + self.timeout
        pause = 0.001
        while True:
            try:
                return conn.execute("PRAGMA journal_mode = WAL").fetchone()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the write lock from its first statement.

        Commits when the block ends normally, rolls back when it raises.

        Raises:
            sqlite3.OperationalError: the lock stayed taken past ``timeout``.
        """
        conn = self.connection()
        with self._write(conn):
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every statement inside sees the same committed state.

        Raises:
            sqlite3.Error: the file cannot be read.
        """
        conn = self.connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.rollback()

    @contextmanager
    def _write(self, conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        """Close every connection this process opened (other processes keep theirs)."""
        pid = os.getpid()
        with self._lock:
            mine = [c for p, c in self._all if p == pid]
            self._all = [(p, c) for p, c in self._all if p != pid]
        for conn in mine:
            conn.close()
        self._local = threading.local()
