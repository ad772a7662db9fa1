"""Redis clients, made the same way for every store that needs one.

Approach: ``redis`` is an optional extra, imported only when a Redis client
is made, and a missing package is an ImportError that says which extra to
install. Clients get finite socket timeouts (a silent network must turn into
an error, not a hung request handler) and return bytes: stores decode what
they read themselves and treat anything undecodable as a store failure.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_SOCKET_TIMEOUT", "async_redis_client", "import_redis", "redis_client"]

DEFAULT_SOCKET_TIMEOUT = 5.0
_HINT = "install the redis extra: pip install 'stableprefix[redis]'"


def import_redis() -> Any:
    """The ``redis`` module.

    Raises:
        ImportError: redis-py is not installed (the message names the extra).

    >>> import_redis().__name__
    'redis'
    """
    try:
        import redis
    except ImportError as exc:
        raise ImportError(f"Redis stores need the redis package; {_HINT}") from exc
    return redis


def redis_client(url: str, *, timeout: float | None = None, **options: Any) -> Any:
    """A ``redis.Redis`` client for ``url`` (not connected until first used).

    Args:
        url: ``redis://host:port/db`` or ``rediss://...`` (as
            ``BackendURL.client_url`` gives it).
        timeout: socket and connect timeout in seconds (default 5).
        options: more ``redis.Redis.from_url`` keyword arguments.

    Returns:
        The client.

    Raises:
        ImportError: redis-py is not installed.
        ValueError: redis-py cannot read the URL.

    >>> redis_client("redis://127.0.0.1:6379/0").connection_pool.connection_kwargs["db"]
    0
    """
    redis = import_redis()
    return redis.Redis.from_url(url, **_options(timeout, options))


def async_redis_client(url: str, *, timeout: float | None = None, **options: Any) -> Any:
    """A ``redis.asyncio.Redis`` client for ``url`` (see ``redis_client``).

    Raises:
        ImportError: redis-py is not installed.
        ValueError: redis-py cannot read the URL.

    >>> type(async_redis_client("redis://127.0.0.1:6379/0")).__module__
    'redis.asyncio.client'
    """
    import_redis()
    import redis.asyncio

    return redis.asyncio.Redis.from_url(url, **_options(timeout, options))


def _options(timeout: float | None, options: dict[str, Any]) -> dict[str, Any]:
    seconds = DEFAULT_SOCKET_TIMEOUT if timeout is None else timeout
    out: dict[str, Any] = {
        "socket_timeout": seconds,
        "socket_connect_timeout": seconds,
        "decode_responses": False,
    }
    out.update(options)
    return out
