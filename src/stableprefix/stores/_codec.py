"""What a store writes: a session as a log of small changes.

Approach: a stored session is a *live list* of entries (one per message,
committed then recent, each ``[token_count, message]`` as compact JSON), a
small *meta* document (the version, where committed ends, the pending tool
calls, the context, the history hash, the compaction count) and an
*archive* of compressed records of what compaction removed. A save never
rewrites the list: ``diff`` compares the new state with the stored version
(which the store remembers from its last load or save) and finds the one
shape every change of this library has::

    new = head + old[drop : len(old) - cut] + tail

An append is ``tail`` alone; a transition moves the committed/recent split
(or, with a transition hook, ``cut`` + ``tail``); a compaction is ``drop``
(those entries go to the archive) plus ``head`` for a summary. So the bytes
written per turn are the new messages plus a meta of constant size, however
long the conversation. Messages are compared by identity first (the library
never mutates a message, so an unchanged one is the same object) and by
canonical JSON otherwise. ``digest`` fingerprints a change so that a retried
save of the same change is recognised and not applied twice.

The meta of a state the library checked for an adapter also carries a
*seal*: a SHA-256 over the live entries (as one running hash, extended by
each append) and the meta fields, which include the fingerprint of that
adapter (``adapter_fingerprint``: the core's counting tag, i.e. the library
version, the adapter's class and every setting). A load whose entries and
meta still match their seal, with an equal adapter, reads rows exactly as
this library wrote them from a state that passed the check for that
adapter: it is that checked state again, as ``check_state`` does not check
twice a state it checked. Any other load (a row edited by anything else
breaks the seal, another adapter, a new library version, an adapter with
its own token counter) is checked in full. Keeping the running hash makes
an append cost O(new entries); a compaction or rewrite hashes the live
list again.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._errors import InvalidStateError
from .._json import canonical
from .._state import STATE_VERSION, State, counting_tag
from ..adapters._base import Message
from ._index import RecordIndex, index_removed

__all__ = [
    "Delta",
    "Seen",
    "adapter_fingerprint",
    "decode_archive",
    "decode_entries",
    "decode_entry",
    "decode_joined",
    "diff",
    "encode_entry",
    "hash_entries",
    "is_sealed",
    "seal",
    "state_from",
]

_META_KEYS = ("format", "key", "pending", "context", "history_hash", "compactions")


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def encode_entry(message: Message, count: int) -> bytes:
    """One live entry: ``[count, message]`` as compact UTF-8 JSON.

    >>> encode_entry({"role": "user", "content": "hi"}, 3)
    b'[3,{"role":"user","content":"hi"}]'
    """
    return _dumps([count, message])


def decode_entry(blob: bytes | str) -> tuple[Message, int]:
    """The message and its token count stored in an entry.

    Raises:
        ValueError: the entry is not what ``encode_entry`` writes.

    >>> decode_entry(b'[3,{"role":"user","content":"hi"}]')
    ({'role': 'user', 'content': 'hi'}, 3)
    """
    value = json.loads(blob)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], int)
        or not isinstance(value[1], dict)
    ):
        raise ValueError("a stored message entry is not [count, message]")
    return value[1], value[0]


def decode_entries(
    entries: list[bytes], joined: bytes | None = None
) -> tuple[list[Message], list[int]]:
    """Messages and counts of many entries, decoded in one pass of the JSON parser.

    Args:
        entries: the stored entries.
        joined: ``b",".join(entries)`` if the caller has it already.

    Raises:
        ValueError: an entry is not what ``encode_entry`` writes.

    >>> decode_entries([b'[1,{"role":"user","content":"a"}]', b'[2,{"role":"assistant"}]'])
    ([{'role': 'user', 'content': 'a'}, {'role': 'assistant'}], [1, 2])
    """
    joined = b",".join(entries) if joined is None else joined
    try:
        return decode_joined(joined, len(entries))
    except ValueError:
        for blob in entries:  # find and name the bad one
            decode_entry(blob)
        raise


def decode_joined(joined: bytes, count: int) -> tuple[list[Message], list[int]]:
    """Messages and counts of ``count`` entries joined by commas (see ``decode_entries``).

    Raises:
        ValueError: the entries are not what ``encode_entry`` writes.

    >>> decode_joined(b'[1,{"role":"user","content":"a"}],[2,{"role":"assistant"}]', 2)
    ([{'role': 'user', 'content': 'a'}, {'role': 'assistant'}], [1, 2])
    """
    if not count:
        if joined:
            raise ValueError("the stored session holds entries it does not count")
        return [], []
    # Decoding the UTF-8 first is faster than handing json bytes (which
    # guesses the encoding and decodes with surrogatepass).
    pairs = json.loads("[" + joined.decode("utf-8") + "]")
    if not isinstance(pairs, list) or len(pairs) != count:
        raise ValueError(f"the stored entries do not hold {count} values, one per entry")
    # The shape of every pair, checked by C loops (map/set) rather than a Python one.
    if set(map(type, pairs)) != {list} or set(map(len, pairs)) != {2}:
        raise ValueError("a stored message entry is not [count, message]")
    counts: list[int] = [pair[0] for pair in pairs]
    messages: list[Message] = [pair[1] for pair in pairs]
    if set(map(type, counts)) != {int} or set(map(type, messages)) != {dict} or min(counts) < 0:
        raise ValueError("a stored message entry is not [count >= 0, message]")
    return messages, counts


@dataclass(slots=True)
class Seen:
    """A stored version of a session as this process last read or wrote it."""

    version: int
    messages: list[Message]
    counts: list[int]
    split: int
    meta: dict[str, Any]
    prev: Seen | None = None  # the version before, when this process saved this one
    entries_hash: Any = None  # running SHA-256 of the live entries (see ``seal``)
    sealed: bool = False  # the stored rows match their seal (written by the library)
    checked: Any = None  # the adapter these messages passed the state check for
    checked_by: str | None = None  # the sealed fingerprint of the adapter they were checked for


EMPTY = Seen(version=0, messages=[], counts=[], split=0, meta={}, entries_hash=hashlib.sha256())

_SEAL = b',"seal":"'
_SEAL_TAIL = len(_SEAL) + 32 + 2


def seal(meta: bytes, entries_hash: Any) -> bytes:
    """``meta`` (a compact JSON object) with the seal of it and the entries added last.

    >>> import hashlib
    >>> seal(b'{"split":0}', hashlib.sha256()).startswith(b'{"split":0,"seal":"')
    True
    """
    value = hashlib.sha256(entries_hash.digest() + meta).hexdigest()[:32].encode()
    return meta[:-1] + _SEAL + value + b'"}'


def is_sealed(meta: bytes, entries_hash: Any) -> bool:
    """Whether ``meta`` carries the seal of itself and of the entries hashed into ``entries_hash``.

    >>> import hashlib
    >>> h = hashlib.sha256(b"[1,{}]")
    >>> is_sealed(seal(b'{"split":0}', h), h), is_sealed(b'{"split":0}', h)
    (True, False)
    """
    if len(meta) <= _SEAL_TAIL or meta[-_SEAL_TAIL:-34] != _SEAL:
        return False
    return seal(meta[:-_SEAL_TAIL] + b"}", entries_hash) == meta


def adapter_fingerprint(adapter: Any) -> str | None:
    """What a seal records of the adapter a state was checked for (None: nothing to seal).

    A hash of the core's counting tag (the library version, the adapter's
    class and every setting), so a new library version or another adapter
    re-checks what was sealed; an adapter with its own token counter has
    no tag (its identity does not survive the process) and is never sealed.

    >>> from stableprefix.adapters import OpenAIAdapter
    >>> adapter_fingerprint(OpenAIAdapter()) == adapter_fingerprint(OpenAIAdapter())
    True
    >>> adapter_fingerprint(OpenAIAdapter()) == adapter_fingerprint(OpenAIAdapter(model="x"))
    False
    """
    tag = counting_tag(adapter)
    if tag is None:
        return None
    return hashlib.sha256(tag.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def hash_entries(
    entries: list[bytes] | tuple[bytes, ...], into: Any = None, *, after: int = 0
) -> Any:
    """The running hash of ``entries`` joined by commas (``into`` extended, if given).

    ``after`` is how many entries ``into`` already holds (a comma goes before the next).
    """
    if into is None:
        return hashlib.sha256(b",".join(entries))
    out = into.copy()
    if entries:
        out.update(b"," if after else b"")
        out.update(b",".join(entries))
    return out


@dataclass(frozen=True, slots=True)
class Delta:
    """One save: how to turn stored version ``base`` into the next version."""

    base: int
    drop: int
    head: tuple[bytes, ...]
    cut: int
    tail: tuple[bytes, ...]
    meta: bytes
    archive: bytes | None
    digest: str
    fresh: tuple[int, int] = (0, 0)  # new messages: [0, fresh[0]) and [fresh[1], end)
    entries_hash: Any = None  # the running hash of the entries after this change
    sealed: bool = False  # the meta carries a seal
    index: RecordIndex | None = None  # what the archive record adds to the recall index

    @property
    def written(self) -> int:
        """Bytes this change writes (entries, meta and archive record)."""
        size = sum(map(len, self.head)) + sum(map(len, self.tail)) + len(self.meta)
        return size + (len(self.archive) if self.archive else 0)

    @property
    def is_noop(self) -> bool:
        """Nothing but (possibly) the same meta: no entry moves."""
        return not (self.drop or self.head or self.cut or self.tail or self.archive)


def meta_of(state: State) -> dict[str, Any]:
    """The small per-session fields of ``state`` (plus the committed/recent split)."""
    meta: dict[str, Any] = {k: state[k] for k in _META_KEYS}  # type: ignore[literal-required]
    meta["split"] = len(state["committed"])
    return meta


def _align(old: list[Message], new: list[Message]) -> tuple[int, int, int]:
    """(head, drop, keep) such that new[head:head+keep] == old[drop:drop+keep]."""
    n = len(old)
    if len(new) >= n and new[:n] == old:
        return 0, 0, n
    where: dict[int, list[int]] = {}
    for i, m in enumerate(old):
        where.setdefault(id(m), []).append(i)
    found = _first_match(new, lambda m: where.get(id(m)))
    if found is None:  # no message object is shared: compare by content
        keyed: dict[str, list[int]] = {}
        for i, o in enumerate(old):
            keyed.setdefault(canonical(o), []).append(i)
        found = _first_match(new, lambda m: keyed.get(canonical(m)))
    if found is None:
        return len(new), n, 0
    h, candidates = found
    best_drop, best_keep = 0, 0
    for d in candidates:
        k = 0
        while d + k < n and h + k < len(new) and _same(old[d + k], new[h + k]):
            k += 1
        if k > best_keep:
            best_drop, best_keep = d, k
    return h, best_drop, best_keep


def _first_match(
    new: list[Message], look: Callable[[Message], list[int] | None]
) -> tuple[int, list[int]] | None:
    for h, m in enumerate(new):
        found = look(m)
        if found:
            return h, found
    return None


def _same(a: Message, b: Message) -> bool:
    return a is b or canonical(a) == canonical(b)


def diff(
    old: Seen,
    state: State,
    *,
    now: float | None = None,
    sealed: bool = False,
    checked_by: str | None = None,
) -> Delta:
    """The change that turns stored version ``old`` into ``state``.

    ``sealed``: ``state``'s derived fields were computed by the library (it
    is a checked state), so its meta gets a seal (see the module's notes);
    ``checked_by``: the fingerprint of the adapter it was checked for, if any.

    >>> s = {"version": 1, "format": None, "key": None, "committed": [],
    ...      "committed_counts": [], "committed_tokens": 0,
    ...      "recent": [{"role": "user", "content": "hi"}], "recent_counts": [2],
    ...      "recent_tokens": 2, "pending": [], "context": None,
    ...      "history_hash": "0" * 64, "compactions": 0}
    >>> d = diff(EMPTY, s)
    >>> d.base, d.drop, d.cut, d.tail
    (0, 0, 0, (b'[2,{"role":"user","content":"hi"}]',))
    """
    new = [*state["committed"], *state["recent"]]
    counts = [*state["committed_counts"], *state["recent_counts"]]
    h, drop, keep = _align(old.messages, new)
    if keep and counts[h : h + keep] != old.counts[drop : drop + keep]:
        h, drop, keep = len(new), len(old.messages), 0  # recounted: rewrite all
    cut = len(old.messages) - drop - keep
    head = tuple(encode_entry(new[i], counts[i]) for i in range(h))
    tail = tuple(encode_entry(new[i], counts[i]) for i in range(h + keep, len(new)))
    if old.entries_hash is not None and not (drop or cut or head):
        entries_hash = hash_entries(tail, old.entries_hash, after=len(old.messages))
    else:  # the front or the middle changed: hash the live list again
        kept = [encode_entry(new[i], counts[i]) for i in range(h, h + keep)]
        entries_hash = hash_entries([*head, *kept, *tail])
    if sealed:
        meta = seal(_dumps({**meta_of(state), "checked": checked_by}), entries_hash)
    else:
        meta = _dumps(meta_of(state))
    archive, index = None, None
    if drop:
        record = {
            "base": old.version,
            "removed": old.messages[:drop],
            "counts": old.counts[:drop],
            "added": len(head),
            "compactions": state["compactions"],
            "at": now,
        }
        archive = zlib.compress(_dumps(record), 4)
        index = index_removed(old.messages[:drop], old.version + 1)
    digest = hashlib.sha256()
    digest.update(f"{old.version}:{drop}:{cut}:{len(head)}:{len(tail)}:".encode())
    for blob in (*head, *tail, meta, archive or b""):
        digest.update(len(blob).to_bytes(8, "big"))
        digest.update(blob)
    return Delta(
        old.version,
        drop,
        head,
        cut,
        tail,
        meta,
        archive,
        digest.hexdigest()[:32],
        (h, h + keep),
        entries_hash,
        sealed,
        index,
    )


def state_from(
    meta_blob: bytes | str,
    entries: list[bytes] | None = None,
    *,
    joined: bytes | None = None,
    count: int = 0,
) -> tuple[State, Seen]:
    """Rebuild a state (and what was seen) from a stored meta and live entries.

    The entries come as a list, or already joined by commas (``joined``,
    ``count`` of them) when the database concatenated them.

    The state is not checked here: ``check_loaded`` does that once. The
    returned ``Seen.sealed`` says whether the entries and meta match their
    seal (the rows are exactly as the library wrote them).

    Raises:
        ValueError: the stored data cannot be decoded.
        InvalidStateError: the committed/recent split is outside the entries.
    """
    meta = json.loads(meta_blob)
    if not isinstance(meta, dict) or not all(k in meta for k in (*_META_KEYS, "split")):
        raise ValueError("the stored session meta is not a meta document")
    if joined is None:
        entries = entries or []
        joined = b",".join(entries)
    entries_hash = hashlib.sha256(joined)
    blob = meta_blob.encode() if isinstance(meta_blob, str) else bytes(meta_blob)
    sealed = meta.pop("seal", None) is not None and is_sealed(blob, entries_hash)
    checked_by = meta.pop("checked", None)
    if not sealed or not isinstance(checked_by, str):
        checked_by = None
    if entries is not None:
        messages, counts = decode_entries(entries, joined)
    else:
        messages, counts = decode_joined(joined, count)
    split = meta["split"]
    if not isinstance(split, int) or not 0 <= split <= len(messages):
        raise InvalidStateError(f"split {split!r} outside the {len(messages)} stored messages")
    state: State = {
        "version": STATE_VERSION,
        "format": meta["format"],
        "key": meta["key"],
        "committed": messages[:split],
        "committed_counts": counts[:split],
        "committed_tokens": sum(counts[:split]),
        "recent": messages[split:],
        "recent_counts": counts[split:],
        "recent_tokens": sum(counts[split:]),
        "pending": meta["pending"],
        "context": meta["context"],
        "history_hash": meta["history_hash"],
        "compactions": meta["compactions"],
    }
    seen = Seen(0, messages, counts, split, meta, entries_hash=entries_hash, sealed=sealed)
    seen.checked_by = checked_by
    return state, seen


def decode_archive(blob: bytes) -> dict[str, Any]:
    """One archive record: ``removed`` messages, their ``counts`` and the compaction's details.

    Raises:
        ValueError: the record is not what ``diff`` writes (zlib.error is a ValueError here).
    """
    try:
        record = json.loads(zlib.decompress(blob))
    except zlib.error as exc:
        raise ValueError(f"an archive record is not zlib data ({exc})") from exc
    if not isinstance(record, dict) or not isinstance(record.get("removed"), list):
        raise ValueError("an archive record has no list of removed messages")
    return record
