"""The Redis response-cache backend: shared by every worker, server-side TTL.

Approach: each entry is one string key ``{prefix}rc:{key}`` written with
``PX`` so Redis itself expires it. A partition (semantic cache) is a sorted
set of entry keys scored by a counter, trimmed to its newest
``PARTITION_CAP`` members and given the entry's TTL; a member whose entry
expired is simply skipped by the reader. Writes are one Lua script, so an
entry, its partition and (for a lease holder) the release of its lease
change together.

Leases let processes coalesce identical calls. ``acquire_lease`` is one
``SET NX PX``: a caller either holds the lease or learns that someone else
does, never neither. The holder renews it while it works
(``renew_lease``: only while its token is still the one stored) and writes
its answer with ``set(..., lease=token)``, which stores the entry and drops
the lease in the same script: there is no moment where the lease is gone
and the answer not yet readable. A holder that dies stops renewing, so its
lease expires and a waiter takes over.

Sync methods use a ``redis.Redis`` client; the ``a``-prefixed twins use a
``redis.asyncio`` client per event loop (an asyncio connection belongs to
the loop that opened it), both from the shared plumbing with finite socket
timeouts. Every driver error becomes a ``StoreError``.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from typing import Any

from .._backends import async_redis_client, redis_client, store_errors

__all__ = ["RedisBackend"]

PARTITION_CAP = 1024

# KEYS: entry, owner, partition set, counter, lease
# ARGV: value, px ("" = no expiry), partition ("" = none), key, cap, lease token ("" = none)
_SET = """
if ARGV[2] == '' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
if ARGV[3] ~= '' then
  local n = redis.call('INCR', KEYS[4])
  redis.call('ZADD', KEYS[3], n, ARGV[4])
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[5]) - 1)
  if ARGV[2] == '' then
    redis.call('SET', KEYS[2], ARGV[3])
    redis.call('PERSIST', KEYS[3])
  else
    redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
    redis.call('PEXPIRE', KEYS[3], ARGV[2])
  end
end
if ARGV[6] ~= '' and redis.call('GET', KEYS[5]) == ARGV[6] then
  redis.call('DEL', KEYS[5])
end
return 1
"""

# KEYS: lease; ARGV: token, px
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS: lease; ARGV: token
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisBackend:
    """Response-cache entries in a Redis database.

    Args:
        url: ``redis://host:port/db`` (or ``rediss://``).
        prefix: prepended to every Redis key (share a database safely).
        timeout: socket timeout in seconds.
        client: a ready ``redis.Redis`` (overrides ``url`` for the sync
            methods; the async ones still connect to ``url``).

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
        self._url = url
        self._timeout = timeout
        self._prefix = prefix
        self._where = url.split("@")[-1]
        self._scripts = {
            name: self._client.register_script(src)
            for name, src in (("set", _SET), ("renew", _RENEW), ("release", _RELEASE))
        }
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

    def _k(self, key: str) -> str:
        return f"{self._prefix}rc:{key}"

    def _l(self, key: str) -> str:
        return f"{self._prefix}rcl:{key}"

    def _set_keys(self, key: str, partition: str | None) -> list[str]:
        members = f"{self._prefix}rcp:{partition or ''}"
        owner = f"{self._prefix}rco:{key}"
        return [self._k(key), owner, members, f"{self._prefix}rcseq", self._l(key)]

    @staticmethod
    def _set_args(
        key: str, value: bytes, ttl: float | None, partition: str | None, lease: str | None
    ) -> list[Any]:
        px = "" if ttl is None else str(_ms(ttl))
        return [value, px, partition or "", key, PARTITION_CAP, lease or ""]

    # ------------------------------------------------------------ entries

    def get(self, key: str) -> bytes | None:
        """The value under ``key`` (Redis drops expired ones)."""
        with store_errors("response-cache get", key, where=self._where):
            value = self._client.get(self._k(key))
        return None if value is None else bytes(value)

    def set(
        self,
        key: str,
        value: bytes,
        *,
        ttl: float | None,
        partition: str | None,
        lease: str | None = None,
    ) -> None:
        """Store ``value``; Redis expires it after ``ttl`` seconds.

        ``lease``: a token from ``acquire_lease``; the lease is released in
        the same atomic step as the write (if the token still holds it).
        """
        with store_errors("response-cache set", key, where=self._where):
            self._scripts["set"](
                keys=self._set_keys(key, partition),
                args=self._set_args(key, value, ttl, partition, lease),
            )

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        with store_errors("response-cache delete", key, where=self._where):
            owner = self._client.get(f"{self._prefix}rco:{key}")
            if owner is not None:
                self._client.zrem(f"{self._prefix}rcp:{owner.decode()}", key)
            self._client.delete(self._k(key), f"{self._prefix}rco:{key}")

    def partition(self, name: str, limit: int) -> list[str]:
        """The newest ``limit`` keys of partition ``name``."""
        with store_errors("response-cache search", where=self._where):
            keys = self._client.zrevrange(f"{self._prefix}rcp:{name}", 0, limit - 1)
        return [k.decode() if isinstance(k, bytes) else str(k) for k in keys]

    def clear(self) -> None:
        """Forget every entry under this prefix."""
        with store_errors("response-cache clear", where=self._where):
            for part in ("rc", "rcp", "rco"):
                batch = list(self._client.scan_iter(match=f"{self._prefix}{part}:*", count=500))
                if batch:
                    self._client.delete(*batch)

    def close(self) -> None:
        """Close the sync client's connections (and forget the async clients)."""
        self._aclients = weakref.WeakKeyDictionary()
        with store_errors("response-cache close", where=self._where):
            self._client.close()

    # ------------------------------------------------------------- leases

    def acquire_lease(self, key: str, seconds: float) -> str | None:
        """A token if this caller may call upstream for ``key`` now; ``None``: someone holds it."""
        token = uuid.uuid4().hex
        with store_errors("response-cache lease", key, where=self._where):
            ok = self._client.set(self._l(key), token, nx=True, px=_ms(seconds))
        return token if ok else None

    def renew_lease(self, key: str, token: str, seconds: float) -> bool:
        """Extend the lease to ``seconds`` from now; false when ``token`` no longer holds it."""
        with store_errors("response-cache lease", key, where=self._where):
            return bool(self._scripts["renew"](keys=[self._l(key)], args=[token, _ms(seconds)]))

    def lease_held(self, key: str) -> bool:
        """Whether some caller holds the lease of ``key`` (informational)."""
        with store_errors("response-cache lease", key, where=self._where):
            return bool(self._client.exists(self._l(key)))

    def release_lease(self, key: str, token: str) -> None:
        """Give the lease of ``key`` back if ``token`` still holds it."""
        with store_errors("response-cache lease", key, where=self._where):
            self._scripts["release"](keys=[self._l(key)], args=[token])

    # ------------------------------------------------------ asyncio twins

    def _aclient(self) -> tuple[Any, dict[str, Any]]:
        loop = asyncio.get_running_loop()
        found = self._aclients.get(loop)
        if found is None:
            client = async_redis_client(self._url, timeout=self._timeout)
            scripts = {
                name: client.register_script(src)
                for name, src in (("set", _SET), ("renew", _RENEW), ("release", _RELEASE))
            }
            found = self._aclients[loop] = (client, scripts)
        return found

    async def aget(self, key: str) -> bytes | None:
        """The asyncio twin of ``get`` (does not block the event loop)."""
        client, _ = self._aclient()
        with store_errors("response-cache get", key, where=self._where):
            value = await client.get(self._k(key))
        return None if value is None else bytes(value)

    async def aset(
        self,
        key: str,
        value: bytes,
        *,
        ttl: float | None,
        partition: str | None,
        lease: str | None = None,
    ) -> None:
        """The asyncio twin of ``set``."""
        _, scripts = self._aclient()
        with store_errors("response-cache set", key, where=self._where):
            await scripts["set"](
                keys=self._set_keys(key, partition),
                args=self._set_args(key, value, ttl, partition, lease),
            )

    async def aacquire_lease(self, key: str, seconds: float) -> str | None:
        """The asyncio twin of ``acquire_lease``."""
        client, _ = self._aclient()
        token = uuid.uuid4().hex
        with store_errors("response-cache lease", key, where=self._where):
            ok = await client.set(self._l(key), token, nx=True, px=_ms(seconds))
        return token if ok else None

    async def arenew_lease(self, key: str, token: str, seconds: float) -> bool:
        """The asyncio twin of ``renew_lease``."""
        _, scripts = self._aclient()
        with store_errors("response-cache lease", key, where=self._where):
            return bool(await scripts["renew"](keys=[self._l(key)], args=[token, _ms(seconds)]))

    async def arelease_lease(self, key: str, token: str) -> None:
        """The asyncio twin of ``release_lease``."""
        _, scripts = self._aclient()
        with store_errors("response-cache lease", key, where=self._where):
            await scripts["release"](keys=[self._l(key)], args=[token])

    async def aclose(self) -> None:
        """Close the running loop's async client (and the sync client)."""
        found = self._aclients.pop(asyncio.get_running_loop(), None)
        if found is not None:
            with store_errors("response-cache close", where=self._where):
                await found[0].aclose()
        self.close()
