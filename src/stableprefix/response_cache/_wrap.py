"""``cache.wrap(client)``: the official SDK clients with a response cache in front.

Approach: a thin proxy walks attribute access down the client
(``client.chat.completions``) and swaps in a cached twin only for the
methods that create a model answer; everything else (``with_raw_response``,
files, batches, ...) is the client's own object. A hit is rebuilt with the
SDK's own pydantic types (``ChatCompletion``, ``Message``,
``GenerateContentResponse``, their stream events), so calling code cannot
tell a hit from a call. SDKs are imported lazily, only when a hit has to be
rebuilt. Each cached method also takes ``cache_key=`` (e.g. from
``ResponseCache.turn_key``); it is removed before the SDK sees the call.

Wrapped methods: OpenAI ``chat.completions.create`` and ``responses.create``,
Anthropic ``messages.create`` (each with ``stream=True``), google-genai
``models.generate_content`` and ``models.generate_content_stream``, and
their async twins (``AsyncOpenAI``, ``AsyncAnthropic``, ``client.aio``).
Streamed calls are not coalesced (each caller needs its own stream). A
streamed call replays an entry a plain call stored (its answer unfolded into
the API's events, ``_unfold``) and a plain call is answered from an entry a
streamed call stored (its events assembled, ``_assemble``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._stream import AsyncRecordingStream, AsyncReplayStream, RecordingStream, ReplayStream
from ._unfold import unfold

if TYPE_CHECKING:
    from ._cache import ResponseCache

__all__ = ["wrap"]


def _openai(name: str) -> Any:
    import openai.types.chat as chat
    import openai.types.responses as responses

    return {
        "chat": chat.ChatCompletion,
        "chunk": chat.ChatCompletionChunk,
        "response": responses.Response,
        "events": responses.ResponseStreamEvent,
    }[name]


def _anthropic(name: str) -> Any:
    import anthropic.types as types

    return {"message": types.Message, "events": types.RawMessageStreamEvent}[name]


def _gemini(name: str) -> Any:
    from google.genai import types

    return types.GenerateContentResponse


@functools.cache
def _loader(module: str, name: str) -> Callable[[Any], Any]:
    from pydantic import TypeAdapter

    kind = {"openai": _openai, "anthropic": _anthropic, "gemini": _gemini}[module](name)
    validate = getattr(kind, "model_validate", None)
    if validate is not None:
        return validate  # type: ignore[no-any-return]
    return TypeAdapter(kind).validate_python


@dataclass(frozen=True)
class _Method:
    endpoint: str
    module: str
    response: str
    event: str
    always_streams: bool = False


_CHAT = _Method("openai.chat", "openai", "chat", "chunk")
_RESPONSES = _Method("openai.responses", "openai", "response", "events")
_MESSAGES = _Method("anthropic.messages", "anthropic", "message", "events")
_GEMINI = _Method("gemini.generate_content", "gemini", "", "")
_GEMINI_STREAM = _Method("gemini.generate_content", "gemini", "", "", always_streams=True)

_METHODS: dict[str, dict[tuple[str, ...], _Method]] = {
    "openai": {("chat", "completions", "create"): _CHAT, ("responses", "create"): _RESPONSES},
    "anthropic": {("messages", "create"): _MESSAGES},
    "google": {
        ("models", "generate_content"): _GEMINI,
        ("models", "generate_content_stream"): _GEMINI_STREAM,
        ("aio", "models", "generate_content"): _GEMINI,
        ("aio", "models", "generate_content_stream"): _GEMINI_STREAM,
    },
}


class _Proxy:
    """A client (or one of its resources) whose answer-making methods are cached."""

    def __init__(
        self,
        target: Any,
        cache: ResponseCache,
        methods: dict[tuple[str, ...], _Method],
        path: tuple[str, ...],
        is_async: bool,
    ) -> None:
        self._target = target
        self._cache = cache
        self._methods = methods
        self._path = path
        self._async = is_async

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        path = (*self._path, name)
        method = self._methods.get(path)
        is_async = self._async or path[0] == "aio"
        if method is not None:
            make = _async_method if is_async else _sync_method
            return make(self._cache, value, method)
        if any(p[: len(path)] == path for p in self._methods):
            return _Proxy(value, self._cache, self._methods, path, is_async)
        return value

    def __repr__(self) -> str:
        return f"<cached {self._target!r}>"


def _split(kwargs: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    key = kwargs.pop("cache_key", None)
    if key is not None and not isinstance(key, str):
        raise TypeError(f"cache_key must be a str, got {type(key).__name__}")
    return kwargs, key


def _replayable(
    entry: dict[str, Any] | None, endpoint: str, request: dict[str, Any]
) -> list[Any] | None:
    """A hit's stream: the events stored, or those a plain call's stored answer unfolds to."""
    if entry is None:
        return None
    if entry.get("events"):
        return list(entry["events"])
    return unfold(endpoint, entry.get("response"), request)


def _sync_method(cache: ResponseCache, original: Any, m: _Method) -> Callable[..., Any]:
    @functools.wraps(original)
    def cached(**kwargs: Any) -> Any:
        kwargs, key = _split(kwargs)
        entries = cache._entries
        if not entries.admissible(kwargs):
            entries.miss("", m.endpoint, "bypassed")
            return original(**kwargs)
        if m.always_streams or kwargs.get("stream") is True:
            key = key or cache.key(kwargs, endpoint=m.endpoint)
            entry = entries.find(kwargs, key, m.endpoint)
            events = _replayable(entry, m.endpoint, kwargs)
            if entry is not None and events is not None:
                entries.hit(entry, key, m.endpoint)
                return ReplayStream(events, _loader(m.module, m.event or m.response))
            entries.miss(key, m.endpoint)
            return RecordingStream(cache, key, kwargs, m.endpoint, original(**kwargs))
        return cache.call(
            kwargs,
            lambda: original(**kwargs),
            endpoint=m.endpoint,
            load=_loader(m.module, m.response),
            key=key,
        )

    return cached


def _async_method(cache: ResponseCache, original: Any, m: _Method) -> Callable[..., Any]:
    @functools.wraps(original)
    async def cached(**kwargs: Any) -> Any:
        kwargs, key = _split(kwargs)
        entries = cache._entries
        if not entries.admissible(kwargs):
            entries.miss("", m.endpoint, "bypassed")
            return await original(**kwargs)
        if m.always_streams or kwargs.get("stream") is True:
            key = key or cache.key(kwargs, endpoint=m.endpoint)
            entry = await entries.afind(kwargs, key, m.endpoint)
            events = _replayable(entry, m.endpoint, kwargs)
            if entry is not None and events is not None:
                entries.hit(entry, key, m.endpoint)
                return AsyncReplayStream(events, _loader(m.module, m.event or m.response))
            entries.miss(key, m.endpoint)
            return AsyncRecordingStream(cache, key, kwargs, m.endpoint, await original(**kwargs))

        async def upstream() -> Any:
            return await original(**kwargs)

        return await cache.acall(
            kwargs, upstream, endpoint=m.endpoint, load=_loader(m.module, m.response), key=key
        )

    return cached


def wrap(cache: ResponseCache, client: Any) -> Any:
    """A view of ``client`` whose answer-making methods go through ``cache``.

    Raises:
        TypeError: ``client`` is not an ``openai``, ``anthropic`` or ``google-genai`` client.
    """
    root = type(client).__module__.split(".", 1)[0]
    methods = _METHODS.get(root)
    if methods is None:
        raise TypeError(
            f"cannot wrap a {type(client).__module__}.{type(client).__name__}: wrap() takes "
            "an openai, anthropic or google-genai client; use get()/put() for anything else"
        )
    return _Proxy(client, cache, methods, (), type(client).__name__.startswith("Async"))
