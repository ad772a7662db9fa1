"""``ResponseCache``: identical requests answered once.

Approach: a request is reduced to its key (``_key``); ``_entries`` reads
and writes the entries (policy, fail-open, counters, events, sync and
async); ``call``/``acall`` add single-flight (``_flight``) and the
cross-process lease (``_calls``) around a miss, and are what the SDK
wrappers use. This module holds the public surface: configuration, keys,
``get``/``put`` and the wrapper entry points.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from .._errors import ResponseCacheError, StablePrefixError
from .._events import Event
from .._manager import PromptManager
from ._backend import ResponseBackend
from ._calls import run_acall, run_call
from ._entries import Entries, to_json
from ._flight import AsyncFlights, Flights
from ._key import KeyExplanation, hash_document, request_key, turn_key
from ._open import open_backend
from ._policy import ENDPOINTS
from ._semantic import SemanticIndex
from ._stats import ResponseCacheStats

__all__ = ["ResponseCache"]

T = TypeVar("T")
_SAMPLED = ("cache", "bypass")


class ResponseCache:
    """Stores answers to requests and replays them for identical requests.

    Args:
        url: where entries live: ``"memory://"`` (default), ``"sqlite:///path.db"``
            or ``"redis://host:port/db"``.
        namespace: the tenant; part of every key, so two namespaces never
            share an answer. Required.
        ttl: seconds an entry lives (``None``: until evicted).
        key_fn: replaces the canonical request document: ``key_fn(request)``
            returns a string that is hashed with the namespace and endpoint.
        sampled: ``"cache"`` (default) stores and replays answers to sampled
            requests (temperature other than 0, the provider default
            included) like any other; ``"bypass"`` always calls upstream for
            them and stores nothing.
        store_truncated: also store answers cut off by the token limit.
        store_refused: also store refusals and safety stops.
        fail_open: on a backend failure, count it and call upstream (default);
            ``False`` raises ``ResponseCacheError`` instead.
        backend: a ready ``ResponseBackend`` (overrides ``url``).
        max_entries: bound of the memory backend.
        max_bytes: bound of the memory backend.
        clock: seconds as a float for the memory backend's TTLs.
        embed: turns on the semantic cache: ``embed(text) -> list[float]``
            embeds the last user message; an exact miss then reuses the
            answer of the most similar question asked with the same
            namespace, model, settings and conversation before it.
        similarity: the cosine similarity a semantic match needs (0 < s <= 1).
        semantic_limit: how many of a partition's newest entries a semantic
            lookup compares (brute force over a bounded set).
        lease: with a Redis backend, also coalesce identical calls across
            processes: the first process to ask holds a lease on the key
            and the others wait for its answer. The holder renews the lease
            every third of this many seconds while its call runs, so this is
            how long waiters wait before taking over from a holder that died.
        on_event: receives a ``ResponseCacheHitEvent``, ``...MissEvent``,
            ``...StoreEvent``, ``...CoalescedEvent`` or
            ``...BackendErrorEvent`` (all ``stableprefix.Event``) for what
            the cache does. If it raises, the call is not affected: the
            error is counted in ``stats.event_errors`` and shown as a
            ``RuntimeWarning``.

    Raises:
        TypeError: ``namespace`` is not a non-empty string, or ``key_fn``
            or ``on_event`` is not callable.
        ValueError: ``url`` or ``sampled`` is not one of the accepted forms.

    >>> cache = ResponseCache(namespace="docs")
    >>> req = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}
    >>> cache.put(req, {"answer": 42})
    True
    >>> cache.get(dict(reversed(req.items())))
    {'answer': 42}
    >>> cache.stats.hits
    1
    """

    def __init__(
        self,
        url: str = "memory://",
        *,
        namespace: str,
        ttl: float | None = None,
        key_fn: Callable[[Mapping[str, Any]], str] | None = None,
        sampled: str = "cache",
        store_truncated: bool = False,
        store_refused: bool = False,
        fail_open: bool = True,
        backend: ResponseBackend | None = None,
        max_entries: int = 10_000,
        max_bytes: int = 256 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
        embed: Callable[[str], Sequence[float]] | None = None,
        similarity: float = 0.9,
        semantic_limit: int = 256,
        lease: float | None = None,
        on_event: Callable[[Event], object] | None = None,
    ) -> None:
        if not isinstance(namespace, str) or not namespace:
            raise TypeError(f"namespace must be a non-empty str, got {namespace!r}")
        if key_fn is not None and not callable(key_fn):
            raise TypeError(f"key_fn must be callable, got {type(key_fn).__name__}")
        if sampled not in _SAMPLED:
            raise ValueError(f"sampled must be one of {_SAMPLED}, got {sampled!r}")
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0
        ):
            raise ValueError(f"ttl must be a positive number of seconds or None, got {ttl!r}")
        if lease is not None and (
            isinstance(lease, bool) or not isinstance(lease, (int, float)) or lease <= 0
        ):
            raise ValueError(f"lease must be a positive number of seconds or None, got {lease!r}")
        self.lease = lease
        self.namespace = namespace
        self._key_fn = key_fn
        if backend is not None and not isinstance(backend, ResponseBackend):
            raise TypeError(f"backend must be a ResponseBackend, got {type(backend).__name__}")
        if on_event is not None and not callable(on_event):
            raise TypeError(f"on_event must be callable, got {type(on_event).__name__}")
        if backend is None:
            backend, url_ttl = open_backend(
                url, max_entries=max_entries, max_bytes=max_bytes, clock=clock
            )
            ttl = ttl if ttl is not None else url_ttl
        semantic = (
            None
            if embed is None
            else SemanticIndex(
                embed,
                namespace=namespace,
                backend=backend,
                similarity=similarity,
                limit=semantic_limit,
            )
        )
        policy = {
            "sampled": sampled,
            "store_truncated": store_truncated,
            "store_refused": store_refused,
        }
        self._entries = Entries(
            backend,
            ttl=ttl,
            policy=policy,
            fail_open=fail_open,
            semantic=semantic,
            document=self._document,
            on_event=on_event,
        )
        self._flights = Flights()
        self._aflights = AsyncFlights()

    @classmethod
    def recording(
        cls, path: str | os.PathLike[str], *, mode: str = "auto", namespace: str = "recording"
    ) -> ResponseCache:
        """A cache that records calls to a JSON-lines file and replays them (for tests).

        Args:
            path: the recording, e.g. ``tests/recordings/chat.jsonl``.
            mode: ``"replay"`` answers only from the file and raises
                ``ReplayMissError`` for any other request; ``"record"``
                starts the file afresh; ``"auto"`` replays what it holds and
                records the rest.
            namespace: the namespace the keys were recorded under.

        Every answer is recorded, truncated and refused ones included; errors
        are not (a strict replay of a call that failed raises
        ``ReplayMissError``). Credentials are scrubbed from the file.

        Raises:
            ValueError: ``mode`` is unknown.
            ResponseCacheError: the recording is unreadable.

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "calls.jsonl")
        >>> ResponseCache.recording(path, mode="record").put({"model": "m"}, {"a": 1})
        True
        >>> ResponseCache.recording(path, mode="replay").get({"model": "m"})
        {'a': 1}
        """
        from ._replay import ReplayBackend

        return cls(
            namespace=namespace,
            backend=ReplayBackend(path, mode=mode),
            store_truncated=True,
            store_refused=True,
            fail_open=False,
        )

    # ------------------------------------------------------------------ keys

    def explain_key(self, request: Mapping[str, Any], *, endpoint: str = "any") -> KeyExplanation:
        """What goes into the key of ``request`` (the document hashed, what was left out).

        Raises:
            RequestKeyError: a value of the request cannot be serialised.

        >>> c = ResponseCache(namespace="t")
        >>> c.explain_key({"model": "m", "prompt_cache_key": "chat-1"}).excluded
        ('$.prompt_cache_key',)
        """
        _check_endpoint(endpoint)
        if self._key_fn is None:
            return request_key(request, namespace=self.namespace, endpoint=endpoint)
        custom = self._key_fn(request)
        if not isinstance(custom, str):
            raise TypeError(f"key_fn must return a str, got {type(custom).__name__}")
        return KeyExplanation(
            key=hash_document(self.namespace, endpoint, {"key_fn": custom}),
            namespace=self.namespace,
            endpoint=endpoint,
            document={"key_fn": custom},
            excluded=(),
        )

    def _document(self, request: Mapping[str, Any], endpoint: str) -> dict[str, Any]:
        return self.explain_key(request, endpoint=endpoint).document

    def key(self, request: Mapping[str, Any], *, endpoint: str = "any") -> str:
        """The key of ``request`` (64 hex digits).

        >>> c = ResponseCache(namespace="t")
        >>> c.key({"model": "m", "temperature": 1}) == c.key({"temperature": 1.0, "model": "m"})
        True
        """
        return self.explain_key(request, endpoint=endpoint).key

    def turn_key(
        self,
        manager: PromptManager,
        settings: Mapping[str, Any],
        *,
        endpoint: str = "any",
        dynamic_system_prompt: str | None = None,
    ) -> str:
        """The key of the request a ``PromptManager`` built, from its prefix fingerprint.

        Pass it as ``key=`` to ``get``/``put`` or ``cache_key=`` to a wrapped
        client; it costs O(turn), not O(history). See ``turn_key`` in the
        module docs for what it covers.

        >>> from stableprefix import PromptConfig, PromptManager
        >>> pm = PromptManager(PromptConfig()); pm.append({"role": "user", "content": "Hi"})
        >>> len(ResponseCache(namespace="t").turn_key(pm, {"model": "m"}))
        64
        """
        _check_endpoint(endpoint)
        return turn_key(
            manager,
            settings,
            namespace=self.namespace,
            endpoint=endpoint,
            dynamic_system_prompt=dynamic_system_prompt,
        ).key

    # ------------------------------------------------------------ get / put

    def get(
        self, request: Mapping[str, Any], *, key: str | None = None, endpoint: str = "any"
    ) -> Any | None:
        """The stored response (plain JSON) for ``request``, or ``None``.

        Counts a hit or a miss.

        Raises:
            RequestKeyError: the request cannot be serialised.
            ResponseCacheError: the backend failed and ``fail_open`` is false.
        """
        key = key or self.key(request, endpoint=endpoint)
        entry = self._entries.find(request, key, endpoint)
        if entry is None or entry.get("response") is None:
            self._entries.miss(key, endpoint)
            return None
        self._entries.hit(entry, key, endpoint)
        return entry["response"]

    def put(
        self,
        request: Mapping[str, Any],
        response: Any,
        *,
        key: str | None = None,
        endpoint: str = "any",
    ) -> bool:
        """Store ``response`` (plain JSON or an SDK object) as the answer to ``request``.

        Returns:
            Whether it was stored (policy may refuse: truncated, refused, sampled).

        Raises:
            RequestKeyError: the request cannot be serialised.
            ResponseCacheError: the backend failed and ``fail_open`` is false.
        """
        key = key or self.key(request, endpoint=endpoint)
        return self._entries.store(key, request, endpoint, response=to_json(response))

    async def aget(
        self, request: Mapping[str, Any], *, key: str | None = None, endpoint: str = "any"
    ) -> Any | None:
        """The asyncio twin of ``get``: the backend is read without blocking the loop.

        Raises:
            RequestKeyError: the request cannot be serialised.
            ResponseCacheError: the backend failed and ``fail_open`` is false.

        >>> import asyncio
        >>> cache = ResponseCache(namespace="docs")
        >>> cache.put({"model": "m"}, {"answer": 42})
        True
        >>> asyncio.run(cache.aget({"model": "m"}))
        {'answer': 42}
        """
        key = key or self.key(request, endpoint=endpoint)
        entry = await self._entries.afind(request, key, endpoint)
        if entry is None or entry.get("response") is None:
            self._entries.miss(key, endpoint)
            return None
        self._entries.hit(entry, key, endpoint)
        return entry["response"]

    async def aput(
        self,
        request: Mapping[str, Any],
        response: Any,
        *,
        key: str | None = None,
        endpoint: str = "any",
    ) -> bool:
        """The asyncio twin of ``put``: the backend is written without blocking the loop.

        Raises:
            RequestKeyError: the request cannot be serialised.
            ResponseCacheError: the backend failed and ``fail_open`` is false.

        >>> import asyncio
        >>> asyncio.run(ResponseCache(namespace="docs").aput({"model": "m"}, {"answer": 42}))
        True
        """
        key = key or self.key(request, endpoint=endpoint)
        return await self._entries.astore(key, request, endpoint, response=to_json(response))

    # ------------------------------------------------- calls (single-flight)

    def call(
        self,
        request: Mapping[str, Any],
        upstream: Callable[[], T],
        *,
        endpoint: str,
        load: Callable[[Any], T],
        key: str | None = None,
    ) -> T:
        """Answer from the cache or make one upstream call per key at a time.

        Args:
            request: the call's keyword arguments.
            upstream: makes the real call.
            endpoint: the API (selects the usage parser and the policy).
            load: turns a stored JSON response back into the caller's type.
            key: a precomputed key (e.g. ``turn_key``).

        Raises:
            RequestKeyError: the request cannot be serialised.
            Whatever ``upstream`` raised (nothing is stored then).
        """
        if not self._entries.admissible(request):
            self._entries.miss("", endpoint, "bypassed")
            return upstream()
        key = key or self.key(request, endpoint=endpoint)
        return run_call(self, request, upstream, endpoint=endpoint, load=load, key=key)

    async def acall(
        self,
        request: Mapping[str, Any],
        upstream: Callable[[], Awaitable[T]],
        *,
        endpoint: str,
        load: Callable[[Any], T],
        key: str | None = None,
    ) -> T:
        """The asyncio twin of ``call``; a cancelled caller does not cancel the others."""
        if not self._entries.admissible(request):
            self._entries.miss("", endpoint, "bypassed")
            return await upstream()
        key = key or self.key(request, endpoint=endpoint)
        return await run_acall(self, request, upstream, endpoint=endpoint, load=load, key=key)

    # ---------------------------------------------------------------- misc

    def wrap(self, client: Any) -> Any:
        """The SDK ``client`` with this cache in front of its answer-making methods.

        OpenAI ``chat.completions.create`` and ``responses.create``, Anthropic
        ``messages.create`` and google-genai ``models.generate_content(_stream)``,
        sync and async, streamed or not; hits come back as the SDK's own types.
        Each wrapped method also accepts ``cache_key=`` (see ``turn_key``).

        Raises:
            TypeError: ``client`` is not one of those SDKs' clients.

        >>> import openai
        >>> cache = ResponseCache(namespace="docs")
        >>> client = cache.wrap(openai.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9"))
        >>> client.models is not None  # everything else is the client's own
        True
        """
        from ._wrap import wrap

        return wrap(self, client)

    @property
    def stats(self) -> ResponseCacheStats:
        """A snapshot of the counters (see ``ResponseCacheStats``)."""
        return self._entries.stats.snapshot()

    def reset_stats(self) -> None:
        """Set every counter back to zero."""
        self._entries.stats.reset()

    def clear(self) -> None:
        """Forget every stored answer (of every namespace sharing the backend)."""
        try:
            self.backend.clear()
        except StablePrefixError:
            raise
        except Exception as exc:
            raise ResponseCacheError(f"could not clear the backend ({exc})") from exc

    def close(self) -> None:
        """Release the backend's connections."""
        self.backend.close()

    async def aclose(self) -> None:
        """The asyncio twin of ``close`` (also closes the running loop's async connections)."""
        closer = getattr(self.backend, "aclose", None)
        if closer is not None:
            await closer()
        else:
            self.backend.close()

    @property
    def backend(self) -> ResponseBackend:
        """Where the entries live."""
        return self._entries.backend

    @property
    def ttl(self) -> float | None:
        """Seconds an entry lives (``None``: until evicted)."""
        return self._entries.ttl

    @property
    def fail_open(self) -> bool:
        """Whether a backend failure lets the call through (else ``ResponseCacheError``)."""
        return self._entries.fail_open

    @property
    def sampled(self) -> str:
        """The sampled-request policy, ``"cache"`` or ``"bypass"``."""
        return str(self._entries.sampled)

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_endpoint(endpoint: str) -> None:
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {sorted(ENDPOINTS)}, got {endpoint!r}")
