"""``RedisStore``: sessions in Redis, shared by every worker on every machine.

Approach: three keys per session, in one hash slot (``{session}``) so the
store also works on Redis Cluster: ``<prefix>:{id}:meta`` (a hash: version,
meta document, digest of the last change), ``<prefix>:{id}:log`` (a list of
live entries) and ``<prefix>:{id}:archive`` (a list of compressed
compaction records). Reading a session this store object has not seen is
one ``MULTI`` transaction (the meta hash and ``LRANGE`` of the log, plus
the expiry refresh if configured): the entries pass straight from the
server to the client, which is faster than through Lua. Reading one it
has seen, and saving, are Lua scripts, so each runs atomically on the
server: the read script returns the log only if the version moved on; the
save script compares the stored version with the one the change was computed from,
recognises a retried change by its digest, applies ``LTRIM`` for
dropped/cut entries, ``LPUSH`` for a summary head and ``RPUSH`` for new
messages, and sets the expiry of all three keys
(server-side TTL). An append sends only the new entries and the meta.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .._backends import async_redis_client, parse_url, redis_client
from .._errors import ConflictError
from ._async import AsyncStore
from ._base import Raw, Store
from ._codec import Delta
from ._index import IndexRead

__all__ = [
    "READ_SCRIPT",
    "WRITE_SCRIPT",
    "AsyncRedisStore",
    "RedisStore",
    "conflict",
    "write_args",
]

READ_SCRIPT = """
local v = redis.call('HGET', KEYS[1], 'version')
if not v then return false end
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ttl) end
end
local meta = redis.call('HGET', KEYS[1], 'meta')
if v == ARGV[1] then return {v, meta} end
return {v, meta, redis.call('LRANGE', KEYS[2], 0, -1)}
"""

WRITE_SCRIPT = """
local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
local base = tonumber(ARGV[1])
if v ~= base then
  if v == base + 1 and redis.call('HGET', KEYS[1], 'digest') == ARGV[2] then return {1, v} end
  return {0, v}
end
if base == 0 then redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]) end
local drop, cut, nhead = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
if drop > 0 or cut > 0 then redis.call('LTRIM', KEYS[2], drop, -1 - cut) end
local nwords, nrounds = tonumber(ARGV[11]), tonumber(ARGV[12])
local at = 13
for w = 1, nwords do
  local old = redis.call('HGET', KEYS[4], ARGV[at])
  if old then
    redis.call('HSET', KEYS[4], ARGV[at], old .. ',' .. ARGV[at + 1])
  else
    redis.call('HSET', KEYS[4], ARGV[at], ARGV[at + 1])
  end
  at = at + 2
end
for j = 0, nrounds - 1 do
  redis.call('HSET', KEYS[5], ARGV[9] .. ':' .. j, ARGV[at])
  at = at + 1
end
if ARGV[9] ~= '0' then redis.call('HSET', KEYS[6], ARGV[9], ARGV[10]) end
for i = at + nhead - 1, at, -1 do redis.call('LPUSH', KEYS[2], ARGV[i]) end
local n = #ARGV
local i = at + nhead
while i <= n do
  local j = math.min(i + 499, n)
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, j))
  i = j + 1
end
if ARGV[8] ~= '' then redis.call('RPUSH', KEYS[3], ARGV[8]) end
redis.call('HSET', KEYS[1], 'version', base + 1, 'meta', ARGV[3], 'digest', ARGV[2])
local ttl = tonumber(ARGV[4])
for k = 1, #KEYS do
  if ttl > 0 then redis.call('PEXPIRE', KEYS[k], ttl) else redis.call('PERSIST', KEYS[k]) end
end
return {2, base + 1}
"""


_PARTS = ("meta", "log", "archive", "postings", "rounds", "recall")


def keys(prefix: str, session_id: str) -> list[str]:
    """The keys of a session: meta, log, archive and the recall index (postings, rounds, recall)."""
    return [f"{prefix}:{{{session_id}}}:{part}" for part in _PARTS]


def write_args(delta: Delta, ttl: float | None) -> list[Any]:
    """The save script's arguments for ``delta``."""
    index = delta.index
    words: list[Any] = []
    rounds: tuple[bytes, ...] = ()
    if index is not None:
        for word, items in index.postings.items():
            words += [word, items]
        rounds = index.rounds
    return [
        delta.base,
        delta.digest,
        delta.meta,
        _ms(ttl),
        delta.drop,
        delta.cut,
        len(delta.head),
        delta.archive or b"",
        0 if index is None else index.record,
        "" if index is None else index.stats,
        len(words) // 2,
        len(rounds),
        *words,
        *rounds,
        *delta.head,
        *delta.tail,
    ]


def queue_index_read(pipe: Any, session_keys: list[str], terms: list[str]) -> None:
    """Queue a read of the recall index on a ``MULTI`` pipeline (see ``index_of_replies``)."""
    pipe.exists(session_keys[0])
    pipe.llen(session_keys[2])
    pipe.hgetall(session_keys[5])
    if terms:
        pipe.hmget(session_keys[3], *terms)


def index_of_replies(replies: Any, terms: list[str]) -> IndexRead | None:
    """An ``IndexRead`` from the replies of ``queue_index_read`` (None: no such session).

    Raises:
        ValueError: the stored index is not what the save script writes.
    """
    if not replies[0]:
        return None
    stats = []
    for record, value in replies[2].items():
        rounds, words = bytes(value).split(b",")
        stats.append((int(record), int(rounds), int(words)))
    found = replies[3] if terms else []
    postings = {t: p for t, p in zip(terms, found, strict=True) if p is not None}
    return IndexRead(int(replies[1]), stats, postings)


def round_fields(found: list[tuple[int, int]]) -> list[str]:
    """The fields of the rounds hash holding rounds ``(record, round)``."""
    return [f"{record}:{n}" for record, n in found]


def _ms(ttl: float | None) -> int:
    return 0 if ttl is None else max(1, round(ttl * 1000))


def conflict(session_id: str, delta: Delta, reply: Any) -> int:
    """The new version from the save script's reply, or raise ``ConflictError``.

    Raises:
        ConflictError: the stored version moved on.
        ValueError: the reply is not what the script returns.
    """
    if not isinstance(reply, (list, tuple)) or len(reply) != 2:
        raise ValueError(f"unexpected reply from the save script: {reply!r}")
    status, version = int(reply[0]), int(reply[1])
    if status == 0:
        raise ConflictError(
            f"version {version} is stored, this save expected {delta.base}; "
            "load again, re-apply your change and save",
            session_id=session_id,
            expected_version=delta.base,
            actual_version=version,
        )
    return version


def raw_of(reply: Any) -> Raw | None:
    """A ``Raw`` from the read script's reply (None: no such session).

    Raises:
        ValueError: the reply is not what the script returns.
    """
    if reply is None:
        return None
    if not isinstance(reply, (list, tuple)) or len(reply) not in (2, 3):
        raise ValueError(f"unexpected reply from the read script: {str(reply)[:80]}")
    entries = [bytes(e) for e in reply[2]] if len(reply) == 3 else None
    return Raw(int(reply[0]), bytes(reply[1]), entries)


def queue_read(pipe: Any, session_keys: list[str], refresh_ms: int) -> None:
    """Queue a whole-session read on a ``MULTI`` pipeline (see ``raw_of_replies``)."""
    pipe.hmget(session_keys[0], "version", "meta")
    pipe.lrange(session_keys[1], 0, -1)
    if refresh_ms:
        for key in session_keys:
            pipe.pexpire(key, refresh_ms)


def raw_of_replies(replies: Any) -> Raw | None:
    """A ``Raw`` from the replies of ``queue_read`` (None: no such session).

    Raises:
        ValueError: the replies are not what the commands return.
    """
    if not isinstance(replies, (list, tuple)) or len(replies) < 2:
        raise ValueError(f"unexpected replies to a session read: {str(replies)[:80]}")
    (version, meta), entries = replies[0], replies[1]
    if version is None:
        return None
    if meta is None or not isinstance(entries, list):
        raise ValueError("the session's meta or log is missing")
    return Raw(int(version), bytes(meta), [bytes(e) for e in entries])


def _options(
    kind: str,
    url: str | None,
    client: Any,
    ttl: float | None,
    ttl_on_read: bool,
    prefix: str | None,
    timeout: float | None,
    make: Callable[..., Any],
) -> tuple[Any, str, float | None, bool, str]:
    """A Redis store's client, where it points, TTL options and prefix (URL options filled in).

    Raises:
        TypeError: neither or both of ``url`` and ``client``.
        ValueError: not a Redis URL, or a bad prefix.
    """
    if (url is None) == (client is None):
        raise TypeError(f"{kind} takes exactly one of url= or client=")
    where = "redis client"
    if url is not None:
        parsed = parse_url(url)
        if not parsed.is_redis:
            raise ValueError(f"{kind} needs a redis:// or rediss:// URL, got {url!r}")
        ttl = parsed.ttl if ttl is None else ttl
        ttl_on_read = ttl_on_read or parsed.ttl_on_read
        prefix = prefix or parsed.prefix
        timeout = timeout or parsed.timeout
        client = make(parsed.client_url, timeout=timeout)
        where = parsed.client_url.split("@")[-1]
    if prefix is not None and (not isinstance(prefix, str) or not prefix):
        raise ValueError(f"prefix must be a non-empty str, got {prefix!r}")
    return client, where, ttl, ttl_on_read, prefix or "stableprefix"


class RedisStore(Store):
    """Conversations in Redis: one store for every worker on every machine.

    Args:
        url: ``redis://host:port/db`` or ``rediss://...`` (options such as
            ``?ttl=3600`` are read as in ``stores.from_url``).
        client: an existing ``redis.Redis`` client instead of ``url``.
        ttl: seconds a session lives after its last write (Redis expires it).
        ttl_on_read: refresh the expiry on every load too.
        prefix: key prefix (default ``"stableprefix"``).
        timeout: socket timeout in seconds for a client made from ``url``.
        clock: the time recorded in archive records.

    Raises:
        TypeError: neither or both of ``url`` and ``client`` given.
        ImportError: the ``redis`` extra is not installed.

    >>> store = RedisStore(url="redis://127.0.0.1:6379/0?ttl=3600&prefix=myapp")
    >>> store.ttl, store.prefix
    (3600.0, 'myapp')
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        client: Any = None,
        ttl: float | None = None,
        ttl_on_read: bool = False,
        prefix: str | None = None,
        timeout: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        client, where, ttl, ttl_on_read, prefix = _options(
            "RedisStore", url, client, ttl, ttl_on_read, prefix, timeout, redis_client
        )
        super().__init__(ttl=ttl, ttl_on_read=ttl_on_read, clock=clock)
        self.prefix, self.client, self.name = prefix, client, where
        self._read_script = client.register_script(READ_SCRIPT)
        self._write_script = client.register_script(WRITE_SCRIPT)

    def _read(self, session_id: str, known: int) -> Raw | None:
        refresh = _ms(self.ttl) if self.ttl_on_read else 0
        session_keys = keys(self.prefix, session_id)
        if not known:
            pipe = self.client.pipeline(transaction=True)
            queue_read(pipe, session_keys, refresh)
            return raw_of_replies(pipe.execute())
        return raw_of(self._read_script(keys=session_keys, args=[known, refresh]))

    def _write(self, session_id: str, delta: Delta) -> int:
        reply = self._write_script(
            keys=keys(self.prefix, session_id), args=write_args(delta, self.ttl)
        )
        return conflict(session_id, delta, reply)

    def _read_index(self, session_id: str, terms: list[str]) -> IndexRead | None:
        pipe = self.client.pipeline(transaction=True)
        queue_index_read(pipe, keys(self.prefix, session_id), terms)
        return index_of_replies(pipe.execute(), terms)

    def _read_rounds(self, session_id: str, found: list[tuple[int, int]]) -> list[bytes | None]:
        rounds = keys(self.prefix, session_id)[4]
        return [
            None if b is None else bytes(b) for b in self.client.hmget(rounds, round_fields(found))
        ]

    def _read_archive(self, session_id: str) -> list[bytes]:
        meta, _, archive, *_ = keys(self.prefix, session_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.exists(meta)
        pipe.lrange(archive, 0, -1)
        exists, records = pipe.execute()
        return [bytes(r) for r in records] if exists else []

    def _delete(self, session_id: str) -> bool:
        meta, *rest = keys(self.prefix, session_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(meta)
        pipe.delete(*rest)
        return bool(pipe.execute()[0])

    def _purge(self) -> int:
        return 0  # Redis expires sessions itself

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()


class AsyncRedisStore(AsyncStore):
    """The asyncio twin of ``RedisStore`` (same arguments; ``client`` is a ``redis.asyncio`` one).

    >>> store = AsyncRedisStore(url="redis://127.0.0.1:6379/0?ttl=60")
    >>> store.ttl
    60.0
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        client: Any = None,
        ttl: float | None = None,
        ttl_on_read: bool = False,
        prefix: str | None = None,
        timeout: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        client, where, ttl, ttl_on_read, prefix = _options(
            "AsyncRedisStore", url, client, ttl, ttl_on_read, prefix, timeout, async_redis_client
        )
        super().__init__(ttl=ttl, ttl_on_read=ttl_on_read, clock=clock)
        self.prefix, self.client, self.name = prefix, client, where
        self._read_script = client.register_script(READ_SCRIPT)
        self._write_script = client.register_script(WRITE_SCRIPT)

    async def _read(self, session_id: str, known: int) -> Raw | None:
        refresh = _ms(self.ttl) if self.ttl_on_read else 0
        session_keys = keys(self.prefix, session_id)
        if not known:
            async with self.client.pipeline(transaction=True) as pipe:
                queue_read(pipe, session_keys, refresh)
                return raw_of_replies(await pipe.execute())
        return raw_of(await self._read_script(keys=session_keys, args=[known, refresh]))

    async def _write(self, session_id: str, delta: Delta) -> int:
        reply = await self._write_script(
            keys=keys(self.prefix, session_id), args=write_args(delta, self.ttl)
        )
        return conflict(session_id, delta, reply)

    async def _read_index(self, session_id: str, terms: list[str]) -> IndexRead | None:
        async with self.client.pipeline(transaction=True) as pipe:
            queue_index_read(pipe, keys(self.prefix, session_id), terms)
            return index_of_replies(await pipe.execute(), terms)

    async def _read_rounds(
        self, session_id: str, found: list[tuple[int, int]]
    ) -> list[bytes | None]:
        rounds = keys(self.prefix, session_id)[4]
        got = await self.client.hmget(rounds, round_fields(found))
        return [None if b is None else bytes(b) for b in got]

    async def _read_archive(self, session_id: str) -> list[bytes]:
        meta, _, archive, *_ = keys(self.prefix, session_id)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.exists(meta)
            pipe.lrange(archive, 0, -1)
            exists, records = await pipe.execute()
        return [bytes(r) for r in records] if exists else []

    async def _delete(self, session_id: str) -> bool:
        meta, *rest = keys(self.prefix, session_id)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(meta)
            pipe.delete(*rest)
            found, _ = await pipe.execute()
        return bool(found)

    async def _purge(self) -> int:
        return 0  # Redis expires sessions itself

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self.client.aclose()
