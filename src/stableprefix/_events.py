"""Events: things that happened, reported through one channel.

Approach: everything the library reports to the caller while it works (a
compaction, later a store conflict or a provider-cache bust) is a frozen
dataclass deriving from ``Event``. Callers subscribe once (``on_event``) and
pick the kinds they care about with ``isinstance``; adding a kind of event
never adds a new callback argument.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Event"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base class of every event stableprefix reports.

    Subclasses are frozen, keyword-only dataclasses that add their own fields.

    >>> from stableprefix import CompactionEvent
    >>> issubclass(CompactionEvent, Event)
    True
    >>> Event().kind
    'Event'
    """

    @property
    def kind(self) -> str:
        """The event's class name, e.g. ``"CompactionEvent"``."""
        return type(self).__name__
