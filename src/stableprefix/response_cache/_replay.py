"""Record and replay SDK calls for tests, in a JSON-lines file.

Approach: recording is a response-cache backend that also writes every
stored entry as one line ``{"key", "request", "entry"}`` of a file you
commit next to your tests; replaying loads the file into memory and answers
from it, matched on the canonical key (so a request spelled differently
still matches, and one that changed in any output-relevant way does not).
Streams are recorded as their events and replay as SDK event objects.
Secrets never reach the file: fields named like credentials (``api_key``,
``authorization``, ``x-api-key``, ``x-goog-api-key``, ...) and strings that
look like provider keys are replaced by ``"[scrubbed]"``; request headers
are not part of a key in the first place.

Modes: ``"replay"`` answers only from the file and raises
``ReplayMissError`` for anything else (strict); ``"record"`` starts the file
afresh and records every call; ``"auto"`` replays what the file holds and
records what it does not.
"""

from __future__ import annotations

import json
import os
import re
import threading
from typing import Any

from .._errors import ReplayMissError, ResponseCacheError

__all__ = ["MODES", "ReplayBackend", "scrub"]

MODES = ("replay", "record", "auto")
SCRUBBED = "[scrubbed]"
_SECRET_FIELD = re.compile(
    r"(^|[-_])(api[-_]?key|authorization|auth[-_]?token|access[-_]?token|secret|password)$",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"\b(sk-(?:ant-|proj-)?[A-Za-z0-9_-]{8,}|AIza[0-9A-Za-z_-]{20,}|Bearer\s+\S{8,})"
)


def scrub(value: Any) -> Any:
    """A copy of ``value`` with credentials replaced by ``"[scrubbed]"``.

    >>> scrub({"x-api-key": "abc", "text": "key sk-proj-ABCDEFGH12 here", "n": 1})
    {'x-api-key': '[scrubbed]', 'text': 'key [scrubbed] here', 'n': 1}
    """
    if isinstance(value, dict):
        return {k: SCRUBBED if _SECRET_FIELD.search(str(k)) else scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return _SECRET_VALUE.sub(SCRUBBED, value)
    return value


class ReplayBackend:
    """A response-cache backend backed by a JSON-lines recording.

    Args:
        path: the recording file.
        mode: ``"replay"`` (strict), ``"record"`` or ``"auto"``.

    Raises:
        ValueError: ``mode`` is unknown.
        ResponseCacheError: the file cannot be read or holds a malformed line.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "calls.jsonl")
    >>> ReplayBackend(path, mode="record").set("k", b'{"v": 1}', ttl=None, partition=None)
    >>> ReplayBackend(path, mode="replay").get("k")
    b'{"v":1}'
    """

    keeps_requests = True

    def __init__(self, path: str | os.PathLike[str], *, mode: str = "replay") -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.path = os.fspath(path)
        self.mode = mode
        self._lock = threading.Lock()
        self._entries: dict[str, bytes] = {}
        if mode == "record":
            with open(self.path, "w", encoding="utf-8"):
                pass
        elif os.path.exists(self.path) or mode == "replay":
            self._load()

    def _load(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as f:
                lines = f.readlines()
        except OSError as exc:
            raise ResponseCacheError(
                f"cannot read the recording {self.path} ({exc}); record it first with "
                "mode='record' or mode='auto'"
            ) from exc
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                key, entry = item["key"], item["entry"]
            except (ValueError, KeyError, TypeError) as exc:
                raise ResponseCacheError(
                    f"{self.path}:{n}: not a recorded call ({exc}); re-record the file"
                ) from exc
            self._entries[key] = json.dumps(entry, separators=(",", ":")).encode()

    def get(self, key: str) -> bytes | None:
        """The recorded entry, or (strict replay) ``ReplayMissError``."""
        with self._lock:
            found = self._entries.get(key)
        if found is None and self.mode == "replay":
            raise ReplayMissError(
                "this request was never recorded (or changed since); record it again with "
                "mode='record' or mode='auto', or look at ResponseCache.explain_key(request)",
                key=key,
                path=self.path,
            )
        return found

    def set(self, key: str, value: bytes, *, ttl: float | None, partition: str | None) -> None:
        """Record an entry (replay mode records nothing)."""
        if self.mode == "replay":
            return
        entry = scrub(json.loads(value))
        request = entry.pop("request", None)
        line = json.dumps({"key": key, "request": request, "entry": entry}, ensure_ascii=False)
        with self._lock:
            self._entries[key] = json.dumps(entry, separators=(",", ":")).encode()
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def delete(self, key: str) -> None:
        """Forget ``key`` in memory (the file keeps its line)."""
        with self._lock:
            self._entries.pop(key, None)

    def partition(self, name: str, limit: int) -> list[str]:
        """Recordings have no semantic partitions."""
        return []

    def clear(self) -> None:
        """Forget everything in memory (the file is left alone)."""
        with self._lock:
            self._entries.clear()

    def close(self) -> None:
        """Nothing to release."""
