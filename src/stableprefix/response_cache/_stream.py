"""Streams that record as they pass events on, and streams that replay a hit.

Approach: ``RecordingStream`` iterates the SDK's stream, hands every event to
the caller unchanged and keeps its JSON. Only when the upstream stream ends
normally *and* the events add up to a finished answer (``_assemble``) is the
entry stored; a stream abandoned, closed early or broken by an error stores
nothing. ``ReplayStream`` yields the stored events rebuilt as the SDK's event
types. Both support what callers do with SDK streams: iterate, use as a
context manager, ``close()``; the async twins do the same with ``async``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from ._assemble import assemble
from ._entries import to_json

if TYPE_CHECKING:
    from ._cache import ResponseCache

__all__ = ["AsyncRecordingStream", "AsyncReplayStream", "RecordingStream", "ReplayStream"]


class _Recorder:
    """What both recording streams share: collect events, store when finished."""

    def __init__(
        self, cache: ResponseCache, key: str, request: Any, endpoint: str, upstream: Any
    ) -> None:
        self._cache = cache
        self._key = key
        self._request = request
        self._endpoint = endpoint
        self._events: list[Any] = []
        self._finished = False
        self.upstream = upstream
        # SDK streams expose extras (``response``, ``get_final_message``...).

    def __getattr__(self, name: str) -> Any:
        return getattr(self.upstream, name)

    def _keep(self, event: Any) -> Any:
        self._events.append(to_json(event))
        return event

    def _finished_answer(self) -> Any:
        """The answer to store once the stream ended, or ``None`` (counted as not stored)."""
        if self._finished:
            return None
        self._finished = True
        response = assemble(self._endpoint, self._events)
        if response is None:  # the stream never finished its answer
            self._cache._entries.not_stored(self._key, self._endpoint, "incomplete stream")
        return response

    def _finish(self) -> None:
        response = self._finished_answer()
        if response is not None:
            self._cache._entries.store(
                self._key, self._request, self._endpoint, response=response, events=self._events
            )

    async def _afinish(self) -> None:
        response = self._finished_answer()
        if response is not None:
            await self._cache._entries.astore(
                self._key, self._request, self._endpoint, response=response, events=self._events
            )


class RecordingStream(_Recorder):
    """Passes the upstream stream's events on; stores them once it completed."""

    def __iter__(self) -> Iterator[Any]:
        for event in self.upstream:
            yield self._keep(event)
        self._finish()

    def __next__(self) -> Any:
        try:
            return self._keep(next(self.upstream))
        except StopIteration:
            self._finish()
            raise

    def __enter__(self) -> RecordingStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the upstream stream (an unfinished one is not stored)."""
        closer = getattr(self.upstream, "close", None)
        if callable(closer):
            closer()


class AsyncRecordingStream(_Recorder):
    """The asyncio twin of ``RecordingStream``."""

    async def __aiter__(self) -> AsyncIterator[Any]:
        async for event in self.upstream:
            yield self._keep(event)
        await self._afinish()

    async def __anext__(self) -> Any:
        try:
            return self._keep(await self.upstream.__anext__())
        except StopAsyncIteration:
            await self._afinish()
            raise

    async def __aenter__(self) -> AsyncRecordingStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the upstream stream (an unfinished one is not stored)."""
        closer = getattr(self.upstream, "close", None)
        if callable(closer):
            result = closer()
            if hasattr(result, "__await__"):
                await result


class ReplayStream:
    """A stored stream replayed as SDK event objects."""

    def __init__(self, events: list[Any], load: Callable[[Any], Any]) -> None:
        self._events = iter([load(e) for e in events])

    def __iter__(self) -> Iterator[Any]:
        return self._events

    def __next__(self) -> Any:
        return next(self._events)

    def __enter__(self) -> ReplayStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop replaying."""
        self._events = iter(())


class AsyncReplayStream:
    """The asyncio twin of ``ReplayStream``."""

    def __init__(self, events: list[Any], load: Callable[[Any], Any]) -> None:
        self._events = iter([load(e) for e in events])

    def __aiter__(self) -> AsyncReplayStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._events)
        except StopIteration:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> AsyncReplayStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop replaying."""
        self._events = iter(())
