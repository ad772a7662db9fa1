"""The one place where sqlite3, redis and OS errors become ``StoreError``.

Approach: a store wraps each operation in ``store_errors(operation,
session_id, where=...)``. Whatever the database driver raises inside comes
out as a ``StoreError`` that names the operation, the session and the
database, says in plain words what went wrong (down, full, locked, not a
store, garbage) and what to do, and chains the original exception. Errors
the library raises on purpose (``StablePrefixError``) pass through as they
are, so a ``ConflictError`` stays a ``ConflictError``.
"""

from __future__ import annotations

import sqlite3
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from .._errors import StablePrefixError, StoreError

__all__ = ["describe", "store_errors", "translate"]

_SQLITE_HINTS = (
    (
        "locked",
        "another writer held the database lock past the timeout; raise timeout= "
        "or shorten the other writer's transactions",
    ),
    (
        "busy",
        "another writer held the database lock past the timeout; raise timeout= "
        "or shorten the other writer's transactions",
    ),
    ("full", "the disk (or the file's size limit) is full; free space and retry"),
    ("not a database", "the file is not an SQLite database; point the store at another path"),
    ("malformed", "the database file is damaged; restore it from a backup"),
    ("unable to open", "cannot open the file; check that its folder exists and is writable"),
    ("readonly", "the database is read-only; check the file's permissions"),
    ("disk i/o", "the disk reported an I/O error; check the device"),
)
_REDIS_HINTS = (
    ("oom", "Redis is full (maxmemory reached); free memory, raise maxmemory or use a shorter ttl"),
    ("readonly", "this Redis is a read-only replica; point the store at the primary"),
    ("loading", "Redis is still loading its data after a restart; retry shortly"),
    ("busy", "Redis is busy running a script; retry shortly"),
    ("noauth", "Redis wants a password; put it in the URL (redis://:PASSWORD@host:port/db)"),
    ("wrongpass", "Redis refused the password in the URL"),
)


def describe(exc: BaseException) -> str:
    """A plain-words account of a database failure and what to do about it.

    >>> describe(sqlite3.OperationalError("database is locked"))
    "SQLite: database is locked (another writer held the database lock ..."
    """
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if isinstance(exc, sqlite3.Error):
        return f"SQLite: {text}" + _hint(lowered, _SQLITE_HINTS)
    if _is_redis_error(exc):
        name = type(exc).__name__
        if name in ("ConnectionError", "TimeoutError", "BusyLoadingError") or isinstance(
            exc, OSError
        ):
            hint = _hint(lowered, _REDIS_HINTS) or (
                " (is the server running and the URL right? retry once it is back)"
            )
            return f"Redis {name}: {text}{hint}"
        return f"Redis {name}: {text}" + _hint(lowered, _REDIS_HINTS)
    if isinstance(exc, (zlib.error, ValueError, UnicodeError)):
        return f"the store returned data that cannot be read ({type(exc).__name__}: {text})"
    return f"{type(exc).__name__}: {text}"


def _hint(lowered: str, hints: tuple[tuple[str, str], ...]) -> str:
    for needle, advice in hints:
        if needle in lowered:
            return f" ({advice})"
    return ""


def _is_redis_error(exc: BaseException) -> bool:
    redis = sys.modules.get("redis")
    return redis is not None and isinstance(exc, redis.RedisError)


def _foreign(exc: BaseException) -> bool:
    if isinstance(exc, StablePrefixError):
        return False
    return isinstance(exc, (sqlite3.Error, OSError, zlib.error, ValueError)) or _is_redis_error(exc)


def translate(
    exc: BaseException, *, operation: str, session_id: str | None = None, where: str = ""
) -> StoreError:
    """The ``StoreError`` to raise (``from exc``) for a driver's exception.

    Args:
        exc: what sqlite3, redis or the OS raised.
        operation: e.g. ``"load"``, ``"save"``, ``"archive"``.
        session_id: the session (or cache key) concerned.
        where: the database, e.g. ``"sqlite:///tmp/s.db"``.

    >>> str(translate(sqlite3.OperationalError("database or disk is full"),
    ...               operation="save", session_id="s1", where="/tmp/s.db"))
    "save of session 's1': /tmp/s.db: SQLite: database or disk is full (the disk ..."
    """
    prefix = f"{where}: " if where else ""
    return StoreError(prefix + describe(exc), session_id=session_id, operation=operation)


@contextmanager
def store_errors(
    operation: str, session_id: str | None = None, *, where: str = ""
) -> Iterator[None]:
    """Translate driver errors raised inside the block into ``StoreError``.

    Raises:
        StoreError: for sqlite3, redis, OS and decoding errors (chained).

    >>> with store_errors("load", "s1", where="memory"):
    ...     raise ValueError("bad JSON")
    Traceback (most recent call last):
    ...
    stableprefix._errors.StoreError: load of session 's1': memory: the store returned data ...
    """
    try:
        yield
    except BaseException as exc:
        if not _foreign(exc):
            raise
        raise translate(exc, operation=operation, session_id=session_id, where=where) from exc
