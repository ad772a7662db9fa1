"""The conversation state: a versioned JSON document.

Approach: the state is plain data so a serverless handler can keep it in any
database. Each message is stored once, in the provider's wire format, next
to its token count (computed once, when it entered), and running totals make
budget checks O(1). ``history_hash`` is a hash chain over the committed
messages, extended on every commit, so the prefix fingerprint costs nothing
to read. ``loads`` checks every field and names the path of the first bad
one; ``dumps`` writes a canonical form, so ``dumps(loads(x)) == x``.

Layout (version 1)::

    {"version": 1, "format": "openai", "key": null,
     "committed": [...], "committed_counts": [...], "committed_tokens": 0,
     "recent": [...], "recent_counts": [...], "recent_tokens": 0,
     "pending": [],        # tool call ids still awaiting their results
     "context": null,      # last dynamic context kept in the turn ("append")
     "history_hash": "000…", "compactions": 0}
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, TypedDict

from ._adapter import Message
from ._errors import InvalidStateError, SignatureError
from ._json import EMPTY_HASH
from ._signing import MAGIC, sign, verify

__all__ = ["STATE_VERSION", "State", "copy_state", "dumps", "loads", "new_state", "validate_state"]

STATE_VERSION = 1
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


class State(TypedDict):
    """The persisted conversation (see the module docstring for the layout).

    >>> s: State = new_state()
    >>> sorted(s)[:3]
    ['committed', 'committed_counts', 'committed_tokens']
    """

    version: int
    format: str | None
    key: str | None
    committed: list[Message]
    committed_counts: list[int]
    committed_tokens: int
    recent: list[Message]
    recent_counts: list[int]
    recent_tokens: int
    pending: list[str]
    context: str | None
    history_hash: str
    compactions: int


_KEYS = tuple(State.__annotations__)


def new_state(key: str | None = None) -> State:
    """An empty conversation.

    Args:
        key: an id of the conversation (e.g. your chat id). Adapters that
            route cache lookups by a key (OpenAI's ``prompt_cache_key``)
            derive theirs from it, so each conversation stays on the
            machine that holds its prefix.

    >>> s = new_state()
    >>> s["version"], s["committed"], s["recent"]
    (1, [], [])
    >>> new_state(key="chat-42")["key"]
    'chat-42'
    """
    if key is not None and (not isinstance(key, str) or not key):
        raise TypeError(f"key must be a non-empty str or None, got {key!r}")
    return {
        "version": STATE_VERSION,
        "format": None,
        "key": key,
        "committed": [],
        "committed_counts": [],
        "committed_tokens": 0,
        "recent": [],
        "recent_counts": [],
        "recent_tokens": 0,
        "pending": [],
        "context": None,
        "history_hash": EMPTY_HASH,
        "compactions": 0,
    }


def copy_state(state: State) -> State:
    """A new state sharing the (never mutated) messages but owning its lists."""
    out: State = {**state}
    out["committed"] = list(state["committed"])
    out["committed_counts"] = list(state["committed_counts"])
    out["recent"] = list(state["recent"])
    out["recent_counts"] = list(state["recent_counts"])
    out["pending"] = list(state["pending"])
    return out


def dumps(state: State, *, key: str | bytes | None = None) -> str:
    """Serialise a state to compact JSON text.

    Args:
        key: sign the document with this HMAC-SHA256 key (see ``loads(keys=)``),
            for state a client holds and sends back.

    Raises:
        InvalidStateError: the state is malformed.

    >>> dumps(new_state())[:37]
    '{"version":1,"format":null,"key":null'
    >>> dumps(new_state(), key="a-secret-of-32-bytes-or-more-000")[:30]
    'sp-signed.v1.0983548ca87e8cec.'
    """
    validate_state(state)
    try:
        text = json.dumps(state, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        # A message was changed after it entered the state (it is shared with
        # built requests); say so rather than writing a document we cannot read.
        raise InvalidStateError(f"holds a value that is not plain JSON ({exc})") from exc
    return text if key is None else sign(text, key)


def loads(text: str | bytes, *, keys: Sequence[str | bytes] | None = None) -> State:
    """Parse and completely validate a state document.

    Args:
        keys: accept only documents signed (``dumps(key=)``) by one of these
            keys, newest first (older ones keep rotated-out documents valid).

    Raises:
        TypeError: ``text`` is not str or bytes.
        InvalidStateError: the JSON is malformed or a field is wrong; the
            error's ``path`` names the field.
        SignatureError: with ``keys``, the document is unsigned, changed or
            signed by another key; without ``keys``, it is signed.

    >>> k = "a-secret-of-32-bytes-or-more-000"
    >>> loads(dumps(new_state(), key=k), keys=[k]) == new_state()
    True

    >>> loads(dumps(new_state())) == new_state()
    True
    >>> loads('{"version": 99}')
    Traceback (most recent call last):
    ...
    stableprefix._errors.InvalidStateError: invalid state at $.version: unknown state ...
    """
    if not isinstance(text, (str, bytes, bytearray)):
        raise TypeError(f"loads() takes str or bytes, got {type(text).__name__}")
    if keys is not None:
        text = verify(text, keys)
    elif text[: len(MAGIC)] in (MAGIC, MAGIC.encode()):
        raise SignatureError("the document is signed: pass keys= to check and load it")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidStateError(f"not valid JSON ({exc})") from exc
    return validate_state(data)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a state document")


def validate_state(state: Any) -> State:
    """Check every field of ``state``; return it unchanged when valid.

    Raises:
        InvalidStateError: naming the path of the first bad field.
    """
    if not isinstance(state, dict):
        raise InvalidStateError(f"a state must be a JSON object, got {type(state).__name__}")
    version = state.get("version")
    if version != STATE_VERSION or isinstance(version, bool):
        if isinstance(version, int) and not isinstance(version, bool) and version > 0:
            raise InvalidStateError(
                f"unknown state version {version}; this release reads version {STATE_VERSION} "
                "(upgrade stableprefix to read newer states)",
                path="$.version",
            )
        raise InvalidStateError(
            f"version must be {STATE_VERSION}, got {version!r}", path="$.version"
        )
    missing = [k for k in _KEYS if k not in state]
    if missing:
        raise InvalidStateError(f"missing field {missing[0]!r}", path=f"$.{missing[0]}")
    extra = sorted(set(state) - set(_KEYS))
    if extra:
        raise InvalidStateError(f"unknown field {extra[0]!r}", path=f"$.{extra[0]}")
    _check_optional_str(state, "format")
    _check_optional_str(state, "key")
    _check_optional_str(state, "context")
    for part in ("committed", "recent"):
        _check_messages(state, part)
    _check_pending(state["pending"])
    if not isinstance(state["history_hash"], str) or not _HEX64.match(state["history_hash"]):
        raise InvalidStateError("must be 64 lowercase hex digits", path="$.history_hash")
    _check_count(state["compactions"], "$.compactions")
    return state  # type: ignore[return-value]


def _check_optional_str(state: dict[str, Any], key: str) -> None:
    if state[key] is not None and not isinstance(state[key], str):
        raise InvalidStateError(
            f"must be a string or null, got {type(state[key]).__name__}", path=f"$.{key}"
        )


def _check_count(value: Any, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidStateError(f"must be a whole number >= 0, got {value!r}", path=path)


def _check_messages(state: dict[str, Any], part: str) -> None:
    messages, counts = state[part], state[f"{part}_counts"]
    if not isinstance(messages, list):
        raise InvalidStateError("must be a list of messages", path=f"$.{part}")
    if not isinstance(counts, list):
        raise InvalidStateError("must be a list of token counts", path=f"$.{part}_counts")
    if len(counts) != len(messages):
        raise InvalidStateError(
            f"has {len(counts)} entries but {part} has {len(messages)} messages",
            path=f"$.{part}_counts",
        )
    for i, message in enumerate(messages):
        path = f"$.{part}[{i}]"
        if not isinstance(message, dict) or not (
            isinstance(message.get("role"), str) or isinstance(message.get("type"), str)
        ):
            raise InvalidStateError(
                "must be a message object with a string role (or, for an API item such as "
                "a Responses function_call, a string type)",
                path=path,
            )
    for i, count in enumerate(counts):
        _check_count(count, f"$.{part}_counts[{i}]")
    total = state[f"{part}_tokens"]
    _check_count(total, f"$.{part}_tokens")
    if total != sum(counts):
        raise InvalidStateError(
            f"is {total} but {part}_counts add up to {sum(counts)}", path=f"$.{part}_tokens"
        )


def _check_pending(pending: Any) -> None:
    if not isinstance(pending, list):
        raise InvalidStateError("must be a list of tool call ids", path="$.pending")
    for i, item in enumerate(pending):
        if not isinstance(item, str) or not item:
            raise InvalidStateError("must be a non-empty string", path=f"$.pending[{i}]")
