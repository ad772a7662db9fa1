"""Plain-JSON helpers: copy-with-validation, canonical bytes and hashing.

Approach: a message enters the library exactly once, through ``copy_json``,
which walks it, rejects anything that is not plain JSON (non-string keys,
NaN and infinities, sets, arbitrary objects) and returns a fresh structure
nobody else holds. After that the library never copies it again; it only
shares it. ``canonical`` gives the bytes we hash for fingerprints and cache
keys: sorted keys, no insignificant white space, UTF-8.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["JSONPathError", "canonical", "chain_hash", "copy_json", "sha256_hex", "sorted_json"]

EMPTY_HASH = "0" * 64


class JSONPathError(ValueError):
    """A value is not plain JSON; ``path`` says where."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class _NotJSON(Exception):
    """Raised deep inside ``_copy``; collects the path on its way out."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.parts: list[str] = []


def copy_json(value: Any, path: str = "$") -> Any:
    """Return a deep copy of ``value`` that is guaranteed to be plain JSON.

    Tuples become lists; any other non-JSON value raises ``JSONPathError``
    naming where it is (e.g. ``$.content[2].text``).

    >>> copy_json({"a": (1, 2.5, None)})
    {'a': [1, 2.5, None]}
    """
    try:
        return _copy(value)
    except _NotJSON as exc:
        raise JSONPathError(str(exc), path + "".join(reversed(exc.parts))) from None


# Runs once for every value of every message that enters the library, so it
# checks exact types first and builds the error path only when one occurs.
def _copy(value: Any) -> Any:
    kind = type(value)
    if kind is str or value is None or kind is bool or kind is int:
        return value
    if kind is dict or (kind is not list and isinstance(value, Mapping)):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotJSON(f"object key {key!r} is not a string")
            try:
                out[key] = item if type(item) is str else _copy(item)
            except _NotJSON as exc:
                exc.parts.append(f".{key}")
                raise
        return out
    if kind is list or kind is tuple:
        items: list[Any] = []
        for i, item in enumerate(value):
            try:
                items.append(item if type(item) is str else _copy(item))
            except _NotJSON as exc:
                exc.parts.append(f"[{i}]")
                raise
        return items
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotJSON(f"number {value!r} is not finite; JSON has no NaN/Infinity")
        return float(value)
    if isinstance(value, (str, list, tuple)):
        return _copy(str(value) if isinstance(value, str) else list(value))
    raise _NotJSON(f"{type(value).__name__} is not a JSON value")


def sorted_json(value: Any) -> Any:
    """Rebuild dicts with their keys in sorted order, recursively.

    Used for tool definitions so that the SDK serialises them in a canonical
    order whatever order the caller wrote them in.

    >>> list(sorted_json({"b": 1, "a": {"d": 2, "c": 3}}))
    ['a', 'b']
    """
    if isinstance(value, dict):
        return {k: sorted_json(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sorted_json(v) for v in value]
    return value


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(value: Any) -> str:
    """Canonical JSON text: sorted keys, compact separators, unicode kept.

    >>> canonical({"b": [1, 2], "a": "é"})
    '{"a":"é","b":[1,2]}'
    """
    return _CANONICAL.encode(value)


def sha256_hex(text: str) -> str:
    """Hex SHA-256 of the UTF-8 bytes of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chain_hash(previous: str, value: Any) -> str:
    """Extend a hash chain by one JSON value.

    >>> chain_hash(EMPTY_HASH, {"a": 1}) == chain_hash(EMPTY_HASH, {"a": 1})
    True
    """
    return sha256_hex(previous + canonical(value))
