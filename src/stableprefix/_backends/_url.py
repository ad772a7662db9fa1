"""Store URLs: one string picks a backend and its options.

Approach: a deployment names its store in one setting (an environment
variable, a config file). The URL's scheme picks the backend, the rest says
where it lives, and query parameters carry the options every backend
understands (``ttl``, ``ttl_on_read``, ``prefix``). Parameters this library
does not know are kept for the backend's own client (redis-py reads its
connection options from the query string).

Accepted forms::

    memory://                        a store in this process only
    sqlite:///var/lib/app/s.db       an absolute path (three slashes)
    sqlite://data/sessions.db        a path relative to the working directory
    redis://host:6379/0              a Redis database (0 when omitted)
    rediss://:password@host:6380/2   Redis over TLS
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["SCHEMES", "BackendURL", "parse_url"]

SCHEMES = ("memory", "sqlite", "redis", "rediss")
_OURS = ("ttl", "ttl_on_read", "prefix", "timeout")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendURL:
    """A parsed store URL.

    Attributes:
        scheme: ``"memory"``, ``"sqlite"``, ``"redis"`` or ``"rediss"``.
        path: the SQLite file (``""`` for the other schemes).
        client_url: the URL to hand to the Redis client, without the
            options this library consumed (``""`` unless Redis).
        ttl: seconds a session lives after its last write (``None``: forever).
        ttl_on_read: whether a read also refreshes the expiry.
        prefix: a namespace for keys or tables, so several apps can share one
            database (``None``: the backend's default).
        timeout: seconds to wait for a lock or a reply (``None``: default).
        extra: query parameters passed through to the client.

    >>> u = parse_url("sqlite:///tmp/s.db?ttl=3600")
    >>> u.scheme, u.path, u.ttl
    ('sqlite', '/tmp/s.db', 3600.0)
    """

    scheme: str
    path: str = ""
    client_url: str = ""
    ttl: float | None = None
    ttl_on_read: bool = False
    prefix: str | None = None
    timeout: float | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_redis(self) -> bool:
        """Whether the URL names a Redis server (``redis://`` or ``rediss://``)."""
        return self.scheme in ("redis", "rediss")


def parse_url(url: str) -> BackendURL:
    """Parse a store URL (see the module docstring for the forms).

    Args:
        url: e.g. ``"sqlite:///var/lib/app/sessions.db?ttl=86400"``.

    Returns:
        The scheme, location and options.

    Raises:
        TypeError: ``url`` is not a string.
        ValueError: unknown scheme, missing SQLite path, a bad option value;
            the message says which part is wrong and shows a correct form.

    >>> parse_url("redis://127.0.0.1:6379/2?ttl=60&ttl_on_read=1").client_url
    'redis://127.0.0.1:6379/2'
    >>> parse_url("memory://").scheme
    'memory'
    >>> parse_url("postgres://db")
    Traceback (most recent call last):
    ...
    ValueError: store URL 'postgres://db': unknown scheme 'postgres'; use one of memory://, ...
    """
    if not isinstance(url, str):
        raise TypeError(f"a store URL must be a str, got {type(url).__name__}")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        forms = "memory://, sqlite:///ABSOLUTE/PATH.db, redis://HOST:PORT/DB or rediss://..."
        raise ValueError(f"store URL {url!r}: unknown scheme {scheme!r}; use one of {forms}")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    ours = {k: query.pop(k) for k in _OURS if k in query}
    if scheme == "memory":
        return _build(url, ours, scheme=scheme, extra=query)
    if scheme == "sqlite":
        path = parts.netloc + parts.path
        if not path:
            raise ValueError(
                f"store URL {url!r}: no database file; write sqlite:///ABSOLUTE/PATH.db "
                "or sqlite://RELATIVE/PATH.db"
            )
        return _build(url, ours, scheme=scheme, path=path, extra=query)
    if not parts.hostname:
        raise ValueError(f"store URL {url!r}: no host; write {scheme}://HOST:PORT/DB")
    client = urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), ""))
    return _build(url, ours, scheme=scheme, client_url=client, extra=query)


def _build(
    url: str,
    ours: dict[str, str],
    *,
    scheme: str,
    path: str = "",
    client_url: str = "",
    extra: dict[str, str],
) -> BackendURL:
    ttl = _seconds(url, "ttl", ours["ttl"]) if "ttl" in ours else None
    timeout = _seconds(url, "timeout", ours["timeout"]) if "timeout" in ours else None
    on_read = ours.get("ttl_on_read", "0").lower()
    if on_read not in _TRUE + _FALSE:
        raise ValueError(f"store URL {url!r}: ttl_on_read must be 1/0 or true/false")
    prefix = ours.get("prefix")
    if prefix == "":
        raise ValueError(f"store URL {url!r}: prefix must not be empty")
    return BackendURL(
        scheme=scheme,
        path=path,
        client_url=client_url,
        ttl=ttl,
        ttl_on_read=on_read in _TRUE,
        prefix=prefix,
        timeout=timeout,
        extra=extra,
    )


def _seconds(url: str, name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ValueError(f"store URL {url!r}: {name} must be a number of seconds > 0, got {text!r}")
    return value
