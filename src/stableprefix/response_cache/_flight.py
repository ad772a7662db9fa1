"""Single-flight: concurrent identical calls share one upstream call.

Approach: the first caller of a key becomes the leader and runs the call;
callers arriving while it runs wait for its outcome, a result or an
exception, and share it. Nothing is remembered after the call ends (that is
the cache's job), so an error is shared by those who waited for it and never
by anyone later. Threads wait on an ``Event``. In asyncio the call runs in a
task of its own that every caller, the leader included, awaits through
``asyncio.shield``: a caller that is cancelled stops waiting, while the call
goes on for the others (and its answer is still stored).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

__all__ = ["AsyncFlights", "Flights"]

T = TypeVar("T")


class _Flight(Generic[T]):
    __slots__ = ("done", "error", "result", "waiters")

    def __init__(self) -> None:
        self.waiters = 0
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


class Flights:
    """Coalesces calls made from threads.

    >>> f = Flights()
    >>> f.run("k", lambda: 42)
    (42, False)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight[Any]] = {}

    def waiting(self, key: str) -> int:
        """How many callers wait for the call in flight for ``key``."""
        with self._lock:
            flight = self._flights.get(key)
            return 0 if flight is None else flight.waiters

    def run(self, key: str, fn: Callable[[], T]) -> tuple[T, bool]:
        """Run ``fn`` unless a call for ``key`` is in flight; then share its outcome.

        Returns:
            ``(result, coalesced)``: ``coalesced`` is true for a caller that waited.

        Raises:
            Whatever ``fn`` raised, in the leader and in every waiter.
        """
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
            else:
                flight.waiters += 1
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.result, True  # type: ignore[return-value]
        try:
            flight.result = fn()
            return flight.result, False
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()


class AsyncFlights:
    """Coalesces calls made from asyncio tasks (of any number of event loops).

    >>> async def answer() -> int:
    ...     return 42
    >>> asyncio.run(AsyncFlights().run("k", answer))
    (42, False)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[tuple[int, str], asyncio.Task[Any]] = {}
        self._waiting: dict[tuple[int, str], int] = {}

    def waiting(self, key: str) -> int:
        """How many callers (in any loop) wait for a call in flight for ``key``."""
        with self._lock:
            return sum(n for (_, k), n in self._waiting.items() if k == key)

    async def run(self, key: str, fn: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """Await ``fn()`` unless a call for ``key`` is in flight; then share its outcome.

        Returns:
            ``(result, coalesced)``.

        Raises:
            Whatever ``fn`` raised; ``CancelledError`` only in a caller that was
            itself cancelled.
        """
        loop = asyncio.get_running_loop()
        slot = (id(loop), key)
        with self._lock:
            task = self._tasks.get(slot)
            coalesced = task is not None
            if task is None:
                task = loop.create_task(_call(fn))
                self._tasks[slot] = task
                task.add_done_callback(lambda _t: self._forget(slot, _t))
            else:
                self._waiting[slot] = self._waiting.get(slot, 0) + 1
        try:
            result: T = await asyncio.shield(task)
        finally:
            if coalesced:
                with self._lock:
                    self._waiting[slot] -= 1
                    if not self._waiting[slot]:
                        del self._waiting[slot]
        return result, coalesced

    def _forget(self, slot: tuple[int, str], task: asyncio.Task[Any]) -> None:
        with self._lock:
            if self._tasks.get(slot) is task:
                del self._tasks[slot]
        if not task.cancelled():
            task.exception()  # mark it retrieved: every waiter may have gone


async def _call(fn: Callable[[], Awaitable[T]]) -> T:
    return await fn()
