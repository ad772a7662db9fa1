"""The recall index: what a store writes beside each archive record so recall reads little.

Approach: ranking archived rounds by BM25 needs, per query term, which
rounds hold it and how often, each round's length in words, and the
number of rounds and words in all. All of it is known when compaction
archives the rounds, so the save that writes an archive record also
writes, in the same transaction, (1) each removed round's messages as its
own small JSON document, (2) for every word of those rounds a *posting*
per round holding it, ``[record, round, count, length, text hash]``,
appended to that word's postings (comma-joined, so appending is a
concatenation in the database), and (3) the record's round and word
totals. A recall then reads the postings of the query's words only, ranks
in Python, and reads the messages of the few rounds it returns: its cost
follows the query's words, not the archive's size. The record id is the
session version the archiving save created, unique within a session.

Rounds are split per archive record at user messages (not tool results),
as ``split_rounds`` does without a config; the ranking is ``rank_rounds``'
BM25 (same tokens, same formula, same order of summation, same ties and
duplicate rule), so every store ranks alike.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..adapters._base import Message
from ._recall import _B, _K1, _SPACES, RecalledRound, round_text, split_rounds

__all__ = [
    "Candidate",
    "IndexRead",
    "RecordIndex",
    "index_removed",
    "query_terms",
    "rank_indexed",
    "rank_read",
    "recalled",
]


class IndexRead(NamedTuple):
    """The recall index a backend read for some query words."""

    records: int  # archive records stored
    stats: list[tuple[int, int, int]]  # (record, rounds, words) of the indexed ones
    postings: dict[str, Any]  # word -> its stored postings (str or bytes)


@dataclass(frozen=True, slots=True)
class RecordIndex:
    """What one archive record adds to the recall index."""

    record: int
    rounds: tuple[bytes, ...]  # each round's messages, as JSON
    postings: dict[str, str]  # word -> its postings in this record, comma-joined
    words: int  # the words of all its rounds

    @property
    def stats(self) -> str:
        """``"rounds,words"`` of this record."""
        return f"{len(self.rounds)},{self.words}"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A ranked round: where it is and how it scored."""

    record: int
    round: int
    index: int  # its position among all archived rounds
    score: float


def _words(text: str) -> list[str]:
    return text.lower().translate(_SPACES).split()


def query_terms(query: str) -> list[str]:
    """The distinct words of ``query`` that ranking uses, sorted.

    >>> query_terms("The invoice, the TAX!")
    ['invoice', 'tax', 'the']
    """
    return sorted(set(_words(query)))


def index_removed(removed: Sequence[Message], record: int) -> RecordIndex:
    """The index entries of one archive record (``record``: its id).

    >>> ix = index_removed([{"role": "user", "content": "tax tax invoice"},
    ...                     {"role": "assistant", "content": "ok"}], 7)
    >>> ix.postings["tax"].startswith("[7,0,2,4,"), ix.stats
    (True, '1,4')
    """
    rounds: list[bytes] = []
    postings: dict[str, list[str]] = {}
    total = 0
    for j, messages in enumerate(split_rounds(list(removed))):
        text = round_text(messages)
        words = _words(text)
        total += len(words)
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        for word, count in Counter(words).items():
            postings.setdefault(word, []).append(f'[{record},{j},{count},{len(words)},"{digest}"]')
        body = json.dumps(messages, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        rounds.append(body.encode("utf-8", "surrogatepass"))
    joined = {word: ",".join(items) for word, items in postings.items()}
    return RecordIndex(record=record, rounds=tuple(rounds), postings=joined, words=total)


def rank_indexed(
    stats: Sequence[tuple[int, int, int]],
    postings: dict[str, Any],
    terms: Sequence[str],
    k: int,
) -> list[Candidate]:
    """The ``k`` best rounds by BM25 from the index, best first (ties: older first).

    Args:
        stats: ``(record, rounds, words)`` of every archive record.
        postings: the stored postings (str or bytes) of the words in ``terms``.
        terms: the query's words (``query_terms``).
        k: how many rounds at most.

    Raises:
        ValueError: the stored postings are not what ``index_removed`` writes.

    >>> ix = index_removed([{"role": "user", "content": "tax invoice"},
    ...                     {"role": "user", "content": "weather"}], 1)
    >>> [(c.record, c.round) for c in rank_indexed([(1, 2, 3)], ix.postings, ["tax"], 3)]
    [(1, 0)]
    """
    ordered = sorted(stats)
    n = sum(rounds for _, rounds, _ in ordered)
    if not n:
        return []
    avg = sum(words for _, _, words in ordered) / n or 1.0
    first: dict[int, int] = {}  # record -> the index of its first round
    start = 0
    for record, rounds, _ in ordered:
        first[record] = start
        start += rounds
    scores: dict[tuple[int, int], float] = {}
    hashes: dict[tuple[int, int], str] = {}
    for term in sorted(set(terms)):
        raw = postings.get(term)
        if not raw:
            continue
        text = raw.decode() if isinstance(raw, (bytes, bytearray)) else str(raw)
        entries = json.loads("[" + text + "]")
        df = len(entries)
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        memo: dict[tuple[int, int], float] = {}  # (count, length) -> this term's score
        for record, j, f, length, digest in entries:
            part = memo.get((f, length))
            if part is None:
                part = idf * f * (_K1 + 1) / (f + _K1 * (1 - _B + _B * length / avg))
                memo[(f, length)] = part
            key = (record, j)
            before = scores.get(key)
            if before is None:
                scores[key] = 0.0 + part
                hashes[key] = digest
            else:
                scores[key] = before + part

    def rank(key: tuple[int, int]) -> tuple[float, int]:
        return -scores[key], first.get(key[0], 0) + key[1]

    # The best few by a heap; all of them sorted only if duplicates used those up.
    ordered_keys = heapq.nsmallest(4 * k, scores, key=rank)
    picked = _pick(ordered_keys, scores, hashes, rank, k)
    if len(picked) < k and len(ordered_keys) < len(scores):
        picked = _pick(sorted(scores, key=rank), scores, hashes, rank, k)
    return picked


def _pick(
    keys: list[tuple[int, int]],
    scores: dict[tuple[int, int], float],
    hashes: dict[tuple[int, int], str],
    rank: Any,
    k: int,
) -> list[Candidate]:
    picked: list[Candidate] = []
    seen: set[str] = set()
    for key in keys:
        if len(picked) == k or scores[key] <= 0:
            break
        if hashes[key] not in seen:  # a round recalled into history and archived again
            seen.add(hashes[key])
            picked.append(Candidate(key[0], key[1], rank(key)[1], scores[key]))
    return picked


def rank_read(read: IndexRead | None, terms: list[str], k: int) -> list[Candidate] | None:
    """The best rounds by the index, or None when it does not cover the archive."""
    if read is None:
        return []
    if read.records != len(read.stats):  # records archived before the index existed
        return None
    return rank_indexed(read.stats, read.postings, terms, k)


def recalled(found: list[Candidate], bodies: list[bytes | None]) -> list[RecalledRound]:
    """The recalled rounds: the ranked candidates with their stored messages.

    Raises:
        ValueError: a round is missing or is not a list of messages.
    """
    out = []
    for candidate, body in zip(found, bodies, strict=True):
        if body is None:
            raise ValueError("the recall index names a round the store does not hold")
        messages = json.loads(body)
        if not isinstance(messages, list):
            raise ValueError("a stored round is not a list of messages")
        out.append(
            RecalledRound(index=candidate.index, messages=tuple(messages), score=candidate.score)
        )
    return out
