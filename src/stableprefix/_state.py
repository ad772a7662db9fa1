"""The conversation state: a versioned JSON document.

Approach: the state is plain data so a serverless handler can keep it in any
database. Each message is stored once, in the provider's wire format, next
to its token count (computed once, when it entered), and running totals make
budget checks O(1). ``history_hash`` is a hash chain over the committed
messages, extended on every commit, so the prefix fingerprint costs nothing
to read. ``loads`` checks the structure of every field (types, plain JSON,
UTF-8 text, finite numbers, nesting depth) and names the path of the first
bad one; ``check_state`` adds what needs the provider's adapter (messages,
their order, token counts, the hash). ``dumps`` writes a canonical form, so
``dumps(loads(x)) == x``.

Layout (version 1)::

    {"version": 1, "format": "openai", "key": null,
     "committed": [...], "committed_counts": [...], "committed_tokens": 0,
     "recent": [...], "recent_counts": [...], "recent_tokens": 0,
     "pending": [],        # tool call ids still awaiting their results
     "context": null,      # last dynamic context kept in the turn ("append")
     "history_hash": "000…", "compactions": 0}
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any, TypedDict, TypeVar

from ._adapter import Message
from ._errors import InvalidStateError, SignatureError
from ._json import (
    DECODER,
    EMPTY_HASH,
    JSONPathError,
    all_flat,
    check_plain,
    compact_json,
    copy_json,
    finite_float,
    no_surrogates,
    reject_constant,
    utf8_error,
)
from ._json import with_stack_room as _with_room
from ._seal import DIGEST, counting_tag, seal_digest, seal_of
from ._signing import MAGIC, sign, verify

__all__ = [
    "STATE_VERSION",
    "CheckedState",
    "MessageTexts",
    "State",
    "copy_state",
    "counting_tag",
    "deep_copy_state",
    "dump_valid",
    "dumps",
    "is_intact",
    "loads",
    "new_state",
    "seal_digest",
    "signature",
    "validate_state",
    "with_stack_room",
]

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


class CheckedState(dict):  # type: ignore[type-arg]
    """A state that passed ``check_state`` (or was built from one by the library)."""

    __slots__ = ("_adapter", "_derived", "_seal", "_sig")
    _adapter: Any  # the adapter it was checked for (None: read by loads only)
    _derived: bool  # its derived fields are known to agree with its messages
    _sig: tuple[Any, ...]
    # For a document ``loads`` read: (SHA-256 of the document without its
    # digest, the digest); ``check_state`` compares it for its adapter.
    _seal: tuple[Any, str] | None

    def __reduce__(self) -> Any:
        # Pickles (and deep copies) as the plain dict it is: the mark is
        # only meaningful for the object the library handed out.
        return (dict, (dict(self),))


def signature(state: Any) -> tuple[Any, ...]:
    c, cc, r, rc, p = (
        state["committed"],
        state["committed_counts"],
        state["recent"],
        state["recent_counts"],
        state["pending"],
    )
    return (
        len(state),
        id(c),
        len(c),
        id(cc),
        len(cc),
        state["committed_tokens"],
        id(r),
        len(r),
        id(rc),
        len(rc),
        state["recent_tokens"],
        id(p),
        len(p),
        state["history_hash"],
        state["format"],
        state["key"],
        state["context"],
        state["compactions"],
        state["version"],
    )


def is_intact(state: Any) -> bool:
    """Whether ``state`` is a ``CheckedState`` unchanged since it was checked."""
    if type(state) is not CheckedState:
        return False
    try:
        return bool(state._sig == signature(state))
    except (KeyError, AttributeError):
        return False


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
    if key is not None and utf8_error(key) is not None:
        raise ValueError(f"key: {utf8_error(key)}")
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


def deep_copy_state(state: State) -> State:
    """A copy of a valid state that shares nothing with it (messages copied too)."""
    out = copy_state(state)
    out["committed"] = [copy_json(m) for m in state["committed"]]
    out["recent"] = [copy_json(m) for m in state["recent"]]
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
    >>> dumps(new_state(), key="a-secret-of-32-bytes-or-more-000")[:13]
    'sp-signed.v1.'
    """
    if not is_intact(state):
        validate_state(state)
    text = dump_valid(state)
    return text if key is None else sign(text, key)


#: The JSON text of messages already written, by ``id`` of the message: the
#: entry holds the message itself, so the id cannot be reused while cached.
MessageTexts = dict[int, tuple[Message, str]]


def dump_valid(
    state: State, texts: MessageTexts | None = None, adapter: Any = None
) -> str:
    """``dumps`` for a state known to be valid (skips the structure check).

    Args:
        state: a valid state.
        texts: the JSON of messages written by an earlier call, for an owner
            (a ``PromptManager``) whose messages nobody changes: they are not
            encoded again. Updated in place to hold this state's messages.
        adapter: the adapter whose token counts and hash the state holds
            (known to agree with its messages); default: the one ``state``
            was checked for, if it is a checked state.
    """
    return with_stack_room(_encode, state, texts, adapter)


def _encode(state: State, texts: MessageTexts | None, adapter: Any) -> str:
    if DIGEST in state:  # a parsed document handed back as a dict
        state = {k: state[k] for k in _KEYS}  # type: ignore[literal-required,assignment]
    try:
        body = (
            compact_json(state, _looks_ascii(state))
            if texts is None
            else _assemble(state, texts)
        )
        digest = _digest_for(state, hashlib.sha256(body.encode()), adapter)
    except (TypeError, ValueError) as exc:
        # A message was changed after it entered the state (it is shared with
        # built requests); say so rather than writing a document we cannot read.
        raise InvalidStateError(f"holds a value that is not plain JSON ({exc})") from exc
    if digest is None:
        return body
    return f'{body[:-1]},"{DIGEST}":"{digest}"}}'


def _digest_for(state: State, body: Any, adapter: Any) -> str | None:
    """The digest to end the document with; ``None`` when nothing vouches for it."""
    if adapter is None and is_intact(state):
        if state._derived:  # type: ignore[attr-defined]
            adapter = state._adapter  # type: ignore[attr-defined]
        seal = getattr(state, "_seal", None)
        if adapter is None and seal is not None and seal[0].hexdigest() == body.hexdigest():
            return str(seal[1])  # read by loads, unchanged: the digest it came with
    tag = counting_tag(adapter)
    return None if tag is None else seal_digest(body, tag)


def _looks_ascii(state: State) -> bool:
    """False when a message's text content is not ASCII (``str.isascii`` is O(1)).

    A hint for ``compact_json``: only the speed of ``dumps`` depends on it.
    """
    try:
        for part in ("committed", "recent"):
            messages = state[part]  # type: ignore[literal-required,unused-ignore]
            contents = list(map(dict.get, messages, repeat("content")))
            if set(map(type, contents)) <= _STR and not all(map(str.isascii, contents)):  # type: ignore[arg-type]
                return False
    except TypeError:  # not a list of dicts: leave it to the encoder
        pass
    return True


_STR = frozenset({str})


def _assemble(state: State, texts: MessageTexts) -> str:
    """``compact_json(state)`` (fields in ``_KEYS`` order), reusing message texts."""
    # One join of all the pieces: concatenating with ``+`` copies the whole
    # document again for every piece added.
    fresh: MessageTexts = {}
    pieces = ["{"]
    for name in _KEYS:
        pieces.append(f'"{name}":')
        if name != "committed" and name != "recent":
            pieces.append(compact_json(state[name]))  # type: ignore[literal-required]
            pieces.append(",")
            continue
        pieces.append("[")
        for message in state[name]:  # type: ignore[literal-required]
            key = id(message)
            hit = texts.get(key)
            if hit is None or hit[0] is not message:
                content = message.get("content")
                ascii_hint = type(content) is not str or content.isascii()
                hit = (message, compact_json(message, ascii_hint))
            fresh[key] = hit
            pieces.append(hit[1])
            pieces.append(",")
        if pieces[-1] == ",":
            pieces.pop()
        pieces.append("],")
    pieces[-1] = "}"
    texts.clear()  # only the messages of this state stay cached
    texts.update(fresh)
    return "".join(pieces)


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
    return with_stack_room(_parse, text)


def _parse(text: str | bytes) -> State:
    raw: bytes | bytearray | None = None  # the UTF-8 bytes, when given them
    if isinstance(text, (bytes, bytearray)) and json.detect_encoding(text) == "utf-8":
        # json.loads would let encoded lone surrogates through; decode strictly
        # (a document that fails is left to json.loads and the full check).
        with contextlib.suppress(UnicodeDecodeError):
            decoded = text.decode("utf-8")
            raw, text = text, decoded
    plain = isinstance(text, str) and no_surrogates(text)
    try:
        data = DECODER.decode(text) if plain else json.loads(  # type: ignore[arg-type]
            text, parse_constant=reject_constant, parse_float=finite_float
        )
    except RecursionError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidStateError(f"not valid JSON ({exc})") from exc
    seal = None
    if type(data) is dict and DIGEST in data:
        seal = seal_of(text if raw is None else raw, data.pop(DIGEST))
    state = validate_state(data, parsed=plain)
    if seal is None:
        return state
    out = CheckedState(state)
    out._adapter, out._derived, out._seal = None, False, seal
    out._sig = signature(out)
    return out  # type: ignore[return-value]


_T = TypeVar("_T")


def with_stack_room(fn: Callable[..., _T], *args: Any) -> _T:
    """``_json.with_stack_room``, refusing with ``InvalidStateError`` what stays too deep."""
    try:
        return _with_room(fn, *args)
    except RecursionError as exc:
        raise InvalidStateError(
            "is nested too deeply to read (a state the library wrote nests at most "
            "a few levels more than a message may)"
        ) from exc


def validate_state(state: Any, *, parsed: bool = False) -> State:
    """Check every field of ``state``; return it unchanged when valid.

    Args:
        state: the state to check.
        parsed: ``state`` is what ``json.loads`` made of text with no lone
            surrogate in it (so every value is plain JSON with UTF-8 text:
            only the nesting of messages needs walking).

    Raises:
        InvalidStateError: naming the path of the first bad field.
    """
    if not isinstance(state, dict):
        raise InvalidStateError(f"a state must be a JSON object, got {type(state).__name__}")
    for key in state:
        if type(key) is not str:
            raise InvalidStateError(f"field names must be strings, got {key!r}")
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
    extra = sorted(set(state) - set(_KEYS) - {DIGEST})
    if extra:
        _check_text(extra[0], "$")
        raise InvalidStateError(f"unknown field {extra[0]!r}", path=f"$.{extra[0]}")
    for name in ("format", "key", "context"):
        _check_optional_str(state, name)
    for part in ("committed", "recent"):
        _check_messages(state, part, parsed)
    _check_pending(state["pending"])
    if not isinstance(state["history_hash"], str) or not _HEX64.match(state["history_hash"]):
        raise InvalidStateError("must be 64 lowercase hex digits", path="$.history_hash")
    _check_count(state["compactions"], "$.compactions")
    return state  # type: ignore[return-value]


def _check_optional_str(state: dict[str, Any], key: str) -> None:
    value = state[key]
    if value is None:
        return
    if type(value) is not str:
        raise InvalidStateError(
            f"must be a string or null, got {type(value).__name__}", path=f"$.{key}"
        )
    _check_text(value, f"$.{key}")


def _check_text(value: str, path: str) -> None:
    problem = utf8_error(value)
    if problem is not None:
        raise InvalidStateError(problem, path=path)


def _check_count(value: Any, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidStateError(f"must be a whole number >= 0, got {value!r}", path=path)


def _check_messages(state: dict[str, Any], part: str, parsed: bool) -> None:
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
    if not (parsed and all_flat(messages)):
        _check_each_message(messages, part, parsed)
    if not (set(map(type, counts)) <= _INT and (not counts or min(counts) >= 0)):
        for i, count in enumerate(counts):
            if type(count) is not int or count < 0:
                _check_count(count, f"$.{part}_counts[{i}]")
    total = state[f"{part}_tokens"]
    _check_count(total, f"$.{part}_tokens")
    if total != sum(counts):
        raise InvalidStateError(
            f"is {total} but {part}_counts add up to {sum(counts)}", path=f"$.{part}_tokens"
        )


_INT = frozenset({int})


def _check_each_message(messages: list[Any], part: str, parsed: bool) -> None:
    for i, message in enumerate(messages):
        if type(message) is not dict or not (
            type(message.get("role")) is str or type(message.get("type")) is str
        ):
            raise InvalidStateError(
                "must be a message object with a string role (or, for an API item such as "
                "a Responses function_call, a string type)",
                path=f"$.{part}[{i}]",
            )
        if parsed:
            # Parsed, surrogate-free JSON is plain: a message holding only
            # strings, numbers and nulls cannot nest too deep either.
            for value in message.values():
                if type(value) is dict or type(value) is list:
                    break
            else:
                continue
        try:
            check_plain(message, "")
        except JSONPathError as exc:
            raise InvalidStateError(str(exc), path=f"$.{part}[{i}]{exc.path}") from None


def _check_pending(pending: Any) -> None:
    if not isinstance(pending, list):
        raise InvalidStateError("must be a list of tool call ids", path="$.pending")
    for i, item in enumerate(pending):
        if type(item) is not str or not item:
            raise InvalidStateError("must be a non-empty string", path=f"$.pending[{i}]")
        _check_text(item, f"$.pending[{i}]")
