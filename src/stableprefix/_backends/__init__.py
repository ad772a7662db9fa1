"""Shared plumbing for everything that keeps data in SQLite or Redis.

Session stores and response-cache backends build on the same four pieces,
so every database is opened, configured and failed the same way:

- ``parse_url`` / ``BackendURL``: ``memory://``, ``sqlite:///path``,
  ``redis://host:port/db``, ``rediss://...`` plus ``ttl``, ``ttl_on_read``,
  ``prefix`` and ``timeout`` query options.
- ``SQLiteConnector``: WAL, busy timeout, one connection per thread and
  process, ``transaction()`` that takes the write lock up front.
- ``redis_client`` / ``async_redis_client``: lazily imported redis-py clients
  with finite timeouts (ImportError naming the ``redis`` extra).
- ``store_errors`` / ``translate``: sqlite3, redis, OS and decoding errors
  into ``StoreError`` naming the operation, the session and the database.

>>> from stableprefix._backends import parse_url
>>> parse_url("redis://localhost:6379/1?prefix=app").prefix
'app'
"""

from ._redis import DEFAULT_SOCKET_TIMEOUT, async_redis_client, import_redis, redis_client
from ._sqlite import DEFAULT_TIMEOUT, SQLiteConnector
from ._translate import describe, store_errors, translate
from ._url import SCHEMES, BackendURL, parse_url

__all__ = [
    "DEFAULT_SOCKET_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "SCHEMES",
    "BackendURL",
    "SQLiteConnector",
    "async_redis_client",
    "describe",
    "import_redis",
    "parse_url",
    "redis_client",
    "store_errors",
    "translate",
]
