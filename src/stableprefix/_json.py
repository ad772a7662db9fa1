"""Plain-JSON helpers: copy-with-validation, canonical bytes and hashing.

Approach: a message enters the library exactly once, through ``copy_json``,
which walks it, rejects anything that is not plain JSON (non-string keys,
NaN and infinities, sets, arbitrary objects, text that cannot be encoded as
UTF-8 such as a lone surrogate, nesting deeper than ``MAX_DEPTH`` levels,
which also catches a value that contains itself) and returns a fresh
structure nobody else holds. ``check_plain`` applies the same rules to a
value without copying it (a state read from JSON), iteratively, so neither
needs stack room beyond the caller's. After that the library never copies it again; it only
shares it. ``canonical`` gives the bytes we hash for fingerprints and cache
keys: sorted keys, no insignificant white space, UTF-8; ``compact_json``
the text a state document is written in. For reading documents,
``DECODER`` refuses non-finite numbers, and ``no_surrogates`` (on the text)
with ``all_flat`` (on the parsed messages) let a typical document skip the
walk ``check_plain`` does.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from collections.abc import Callable, Mapping
from itertools import chain, repeat
from typing import Any, TypeVar

__all__ = [
    "DECODER",
    "MAX_DEPTH",
    "JSONPathError",
    "all_flat",
    "canonical",
    "chain_hash",
    "check_plain",
    "check_text",
    "compact_json",
    "copy_json",
    "finite_float",
    "no_surrogates",
    "reject_constant",
    "sha256_hex",
    "sorted_json",
    "utf8_error",
    "with_stack_room",
]

EMPTY_HASH = "0" * 64

#: Deepest nesting of lists and objects accepted inside one message, tool
#: definition or state field. Real messages nest a few levels (a tool call's
#: arguments object, a tool result's content blocks); the limit keeps every
#: document the library writes readable whatever the reader's stack depth.
MAX_DEPTH = 64

_TOO_DEEP = (
    f"is nested deeper than {MAX_DEPTH} levels (or contains itself); "
    "flatten it or pass it as a JSON string"
)


def utf8_error(text: str) -> str | None:
    """Why ``text`` cannot be encoded as UTF-8, or ``None`` when it can.

    >>> utf8_error("ok é"), utf8_error("bad \\ud800") is not None
    (None, True)
    """
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        return (
            f"text holds {bad!r} at character {exc.start}, a lone surrogate that cannot be "
            "encoded as UTF-8; decode the source bytes correctly (or replace it)"
        )
    return None


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
        return with_stack_room(_copy, value, 0)
    except _NotJSON as exc:
        raise JSONPathError(str(exc), path + "".join(reversed(exc.parts))) from None
    except RecursionError:
        raise JSONPathError("is nested too deeply for the stack", path) from None


_T = TypeVar("_T")
#: Extra frames granted when a walk runs out of stack: the library's walks
#: nest at most ``MAX_DEPTH`` levels (plus a few for the state around a
#: message), so this always suffices for a value the library accepts.
_STACK_ROOM = 400


def with_stack_room(fn: Callable[..., _T], *args: Any) -> _T:
    """Run ``fn(*args)``; if the caller's stack was too deep for it, retry with more room.

    Values the library accepts nest at most ``MAX_DEPTH`` levels, so the
    retry always succeeds for them; a second ``RecursionError`` propagates.

    >>> with_stack_room(sum, [1, 2])
    3
    """
    try:
        return fn(*args)
    except RecursionError:
        pass
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(old + _STACK_ROOM)
    try:
        return fn(*args)
    finally:
        sys.setrecursionlimit(old)


def check_text(text: str | None, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` if ``text`` cannot be encoded as UTF-8.

    >>> check_text("fine", "dynamic_system_prompt")
    >>> check_text("\\ud800", "dynamic_system_prompt")
    Traceback (most recent call last):
    ...
    ValueError: dynamic_system_prompt: text holds '\\ud800' at character 0, ...
    """
    if text is not None:
        problem = utf8_error(text)
        if problem is not None:
            raise ValueError(f"{name}: {problem}")


# Runs once for every value of every message that enters the library, so it
# checks exact types first and builds the error path only when one occurs.
def _copy(value: Any, depth: int) -> Any:
    kind = type(value)
    if kind is str:
        if not value.isascii():
            problem = utf8_error(value)
            if problem is not None:
                raise _NotJSON(problem)
        return value
    if value is None or kind is bool or kind is int:
        return value
    if kind is dict or (kind is not list and isinstance(value, Mapping)):
        if depth >= MAX_DEPTH:
            raise _NotJSON(_TOO_DEEP)
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotJSON(f"object key {key!r} is not a string")
            try:
                if not key.isascii() and utf8_error(key) is not None:
                    raise _NotJSON(f"object key: {utf8_error(key)}")
                out[key] = item if type(item) is str and item.isascii() else _copy(item, depth + 1)
            except _NotJSON as exc:
                exc.parts.append(f".{key}")
                raise
        return out
    if kind is list or kind is tuple:
        if depth >= MAX_DEPTH:
            raise _NotJSON(_TOO_DEEP)
        items: list[Any] = []
        for i, item in enumerate(value):
            try:
                items.append(
                    item if type(item) is str and item.isascii() else _copy(item, depth + 1)
                )
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
        return _copy(str(value) if isinstance(value, str) else list(value), depth)
    raise _NotJSON(f"{type(value).__name__} is not a JSON value")


def check_plain(value: Any, path: str = "$", depth: int = 0) -> None:
    """Raise ``JSONPathError`` unless ``value`` is plain JSON ``copy_json`` would accept.

    Exact ``dict``/``list``/``str``/``int``/``float``/``bool``/``None`` only
    (what ``json.loads`` returns), finite numbers, UTF-8 text, at most
    ``MAX_DEPTH`` levels below ``depth``. Iterative: no recursion.

    >>> check_plain({"a": [1, "x"]})
    >>> check_plain({"a": [float("nan")]})
    Traceback (most recent call last):
    ...
    stableprefix._json.JSONPathError: number nan is not finite; JSON has no NaN/Infinity
    """
    if _plain_fast(value, depth):
        return
    stack: list[tuple[Any, int, str]] = [(value, depth, path)]
    while stack:
        item, level, where = stack.pop()
        kind = type(item)
        if kind is str:
            if not item.isascii():
                problem = utf8_error(item)
                if problem is not None:
                    raise JSONPathError(problem, where)
        elif kind is dict:
            if level >= MAX_DEPTH:
                raise JSONPathError(_TOO_DEEP, where)
            for key, sub in item.items():
                if type(key) is not str:
                    raise JSONPathError(f"object key {key!r} is not a string", where)
                if type(sub) is str and sub.isascii() and key.isascii():
                    continue
                if not key.isascii() and utf8_error(key) is not None:
                    raise JSONPathError(f"object key: {utf8_error(key)}", where)
                stack.append((sub, level + 1, f"{where}.{key}"))
        elif kind is list:
            if level >= MAX_DEPTH:
                raise JSONPathError(_TOO_DEEP, where)
            for i, sub in enumerate(item):
                if type(sub) is not str or not sub.isascii():
                    stack.append((sub, level + 1, f"{where}[{i}]"))
        elif kind is float:
            if not math.isfinite(item):
                raise JSONPathError(
                    f"number {item!r} is not finite; JSON has no NaN/Infinity", where
                )
        elif not (item is None or kind is bool or kind is int):
            raise JSONPathError(f"{kind.__name__} is not a JSON value", where)


def _plain_fast(value: Any, depth: int) -> bool:
    """``check_plain`` without paths: True when ``value`` passes (the usual case)."""
    stack: list[tuple[Any, int]] = [(value, depth)]
    while stack:
        item, level = stack.pop()
        kind = type(item)
        if kind is dict:
            if level >= MAX_DEPTH:
                return False
            for key, sub in item.items():
                if type(key) is not str or (not key.isascii() and utf8_error(key)):
                    return False
                sub_kind = type(sub)
                if sub_kind is str:
                    if not sub.isascii() and utf8_error(sub):
                        return False
                elif sub_kind is dict or sub_kind is list or sub_kind is float:
                    stack.append((sub, level + 1))
                elif not (sub is None or sub_kind is int or sub_kind is bool):
                    return False
        elif kind is list:
            if level >= MAX_DEPTH:
                return False
            for sub in item:
                if type(sub) is str:
                    if not sub.isascii() and utf8_error(sub):
                        return False
                else:
                    stack.append((sub, level + 1))
        elif kind is str:
            if not item.isascii() and utf8_error(item):
                return False
        elif kind is float:
            if not math.isfinite(item):
                return False
        elif not (item is None or kind is int or kind is bool):
            return False
    return True


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
# The C encoder is about twice as fast with ensure_ascii=True, and for text
# that holds no escape at all its output is the same byte for byte (control
# characters, DEL and anything beyond ASCII are written as \u escapes).
_COMPACT_ASCII = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_ESCAPE = re.compile(r"\\u")


def compact_json(value: Any, ascii_hint: bool = True) -> str:
    """Compact JSON text with unicode kept, keys in their order (``dumps``'s form).

    The same text as ``json.dumps(value, separators=(",", ":"),
    ensure_ascii=False, allow_nan=False)``, faster for ASCII text.

    Args:
        value: a JSON value.
        ascii_hint: whether ``value`` is likely all ASCII (try the faster
            encoder first); False when a look at it found other text. Only
            speed depends on it.

    Raises:
        TypeError: a value is not JSON-serialisable.
        ValueError: a number is not finite, or a value contains itself.

    >>> compact_json({"b": [1, 2], "a": "é"})
    '{"b":[1,2],"a":"é"}'
    """
    if not ascii_hint:
        return str(_COMPACT.encode(value))
    text: str = _COMPACT_ASCII.encode(value)
    # A backslash is found at memchr speed; only text with one is searched for "\\u".
    if "\\" in text and _ESCAPE.search(text):  # non-ASCII or control characters: keep them
        text = _COMPACT.encode(value)
    return text


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


def reject_constant(name: str) -> Any:
    """``parse_constant`` for ``json.loads``: refuse NaN and the infinities."""
    raise ValueError(f"{name} is not allowed in a state document")


def finite_float(text: str) -> float:
    """``parse_float`` for ``json.loads``: refuse a literal that overflows (``1e400``)."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range (not a finite float)")
    return value


#: ``json.loads`` for state documents: no NaN/Infinity, no overflowing floats.
DECODER = json.JSONDecoder(parse_constant=reject_constant, parse_float=finite_float)
#: A ``\uD800``-``\uDFFF`` escape: the only way JSON text that encodes as
#: UTF-8 can produce a lone surrogate. (A false alarm, e.g. an escaped
#: backslash followed by "ud800", only costs the slower check.)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def no_surrogates(text: str) -> bool:
    """True when no string parsed from ``text`` can hold a lone surrogate."""
    if not text.isascii() and utf8_error(text) is not None:
        return False
    return "\\" not in text or _SURROGATE_ESCAPE.search(text) is None


_SCALARS = frozenset({str, int, float, bool, type(None)})


def all_flat(messages: list[Any]) -> bool:
    """Every message an object with a string role and only scalar values.

    For messages parsed from JSON with no lone surrogate this is all the
    structure check needs (they cannot nest, nor hold anything but plain
    JSON); computed by C-level iteration (``map``/``set``) over the list.

    >>> all_flat([{"role": "user", "content": "hi"}]), all_flat([{"role": "user", "x": []}])
    (True, False)
    """
    if not set(map(type, messages)) <= _DICT:
        return False
    if not set(map(type, map(dict.get, messages, repeat("role")))) <= _STR:
        return False
    if set(map(len, messages)) <= _TWO and (
        set(map(type, map(dict.get, messages, repeat("content")))) <= _STR
    ):
        return True  # only {"role": ..., "content": text}: the usual chat message
    return set(map(type, chain.from_iterable(map(dict.values, messages)))) <= _SCALARS


_DICT = frozenset({dict})
_STR = frozenset({str})
_TWO = frozenset({2})
