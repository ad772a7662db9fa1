"""The Redis response-cache backend: shared by every worker, server-side TTL.

Approach: each entry is one string key ``{prefix}rc:{key}`` written with
``SET ... PX`` so Redis itself expires it. A partition (semantic cache) is a
sorted set of entry keys scored by a counter, trimmed to its newest
``PARTITION_CAP`` members and given the entry's TTL; a member whose entry
expired is simply skipped by the reader. Leases (``SET NX PX``) let
processes coalesce identical calls: the holder calls upstream, the others
poll for its answer until the lease is gone. The client comes from the
shared plumbing (finite socket timeouts), and every driver error becomes a
``StoreError``.
"""

from __future__ import annotations

import uuid
from typing import Any

from .._backends import redis_client, store_errors

__all__ = ["RedisBackend"]

PARTITION_CAP = 1024


class RedisBackend:
    """Response-cache entries in a Redis database.

    Args:
        url: ``redis://host:port/db`` (or ``rediss://``).
        prefix: prepended to every Redis key (share a database safely).
        timeout: socket timeout in seconds.
        client: a ready ``redis.Redis`` (overrides ``url``).

    Raises:
        ImportError: the redis package is not installed (names the extra).

    >>> backend = RedisBackend("redis://127.0.0.1:6379/0", prefix="app:")  # connects when used
    >>> backend.close()
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "stableprefix:",
        timeout: float | None = None,
        client: Any = None,
    ) -> None:
        self._client = client if client is not None else redis_client(url, timeout=timeout)
        self._prefix = prefix
        self._where = url.split("@")[-1]

    def _k(self, key: str) -> str:
        return f"{self._prefix}rc:{key}"

    def _o(self, key: str) -> str:  # the partition an entry belongs to
        return f"{self._prefix}rco:{key}"

    def _p(self, name: str) -> str:
        return f"{self._prefix}rcp:{name}"

    def get(self, key: str) -> bytes | None:
        """The value under ``key`` (Redis drops expired ones)."""
        with store_errors("response-cache get", key, where=self._where):
            value = self._client.get(self._k(key))
        return None if value is None else bytes(value)

    def set(self, key: str, value: bytes, *, ttl: float | None, partition: str | None) -> None:
        """Store ``value``; Redis expires it after ``ttl`` seconds."""
        px = None if ttl is None else max(1, int(ttl * 1000))
        with store_errors("response-cache set", key, where=self._where):
            pipe = self._client.pipeline()
            pipe.set(self._k(key), value, px=px)
            if partition is not None:
                members = self._p(partition)
                pipe.zadd(members, {key: self._client.incr(f"{self._prefix}rcseq")})
                pipe.zremrangebyrank(members, 0, -PARTITION_CAP - 1)
                pipe.set(self._o(key), partition, px=px)
                if px is not None:
                    pipe.pexpire(members, px)
                else:
                    pipe.persist(members)
            pipe.execute()

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        with store_errors("response-cache delete", key, where=self._where):
            owner = self._client.get(self._o(key))
            if owner is not None:
                self._client.zrem(self._p(owner.decode()), key)
            self._client.delete(self._k(key), self._o(key))

    def partition(self, name: str, limit: int) -> list[str]:
        """The newest ``limit`` keys of partition ``name``."""
        with store_errors("response-cache search", where=self._where):
            keys = self._client.zrevrange(self._p(name), 0, limit - 1)
        return [k.decode() if isinstance(k, bytes) else str(k) for k in keys]

    def clear(self) -> None:
        """Forget every entry under this prefix."""
        with store_errors("response-cache clear", where=self._where):
            for pattern in (f"{self._prefix}rc:*", f"{self._prefix}rcp:*", f"{self._prefix}rco:*"):
                batch = list(self._client.scan_iter(match=pattern, count=500))
                if batch:
                    self._client.delete(*batch)

    def close(self) -> None:
        """Close the client's connections."""
        with store_errors("response-cache close", where=self._where):
            self._client.close()

    # ------------------------------------------------------------- leases

    def acquire_lease(self, key: str, seconds: float) -> str | None:
        """A token if this process may call upstream for ``key`` now, else ``None``."""
        token = uuid.uuid4().hex
        with store_errors("response-cache lease", key, where=self._where):
            ok = self._client.set(
                f"{self._prefix}rcl:{key}", token, nx=True, px=max(1, int(seconds * 1000))
            )
        return token if ok else None

    def lease_held(self, key: str) -> bool:
        """Whether some process holds the lease of ``key``."""
        with store_errors("response-cache lease", key, where=self._where):
            return bool(self._client.exists(f"{self._prefix}rcl:{key}"))

    def release_lease(self, key: str, token: str) -> None:
        """Give the lease of ``key`` back if ``token`` still holds it."""
        script = (
            "if redis.call('get', KEYS[1]) == ARGV[1] then "
            "return redis.call('del', KEYS[1]) else return 0 end"
        )
        with store_errors("response-cache lease", key, where=self._where):
            self._client.eval(script, 1, f"{self._prefix}rcl:{key}", token)
