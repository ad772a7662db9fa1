"""Recall: the archived rounds most relevant to a query.

Approach: compaction removes whole rounds (a user message and everything
answering it, tool calls with their results), so recall ranks and returns
whole rounds too, never a tool call without its result. Relevance is BM25
over the words of each round (standard library only: lower-cased words
split at whitespace and ASCII punctuation, k1=1.2, b=0.75), or, when the
caller passes an ``embed`` function, cosine similarity of embeddings. A compaction hook or a handler
can then send "recent + relevant": the rounds the conversation still holds
plus the few archived ones that matter to the new question.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .._config import PromptConfig
from .._sequence import round_starts
from ..adapters._base import Message, ProviderAdapter

__all__ = ["Embed", "RecalledRound", "rank_rounds", "recall_hook", "round_text", "split_rounds"]

Embed = Callable[[str], Sequence[float]]
_K1, _B = 1.2, 0.75


@dataclass(frozen=True, slots=True, kw_only=True)
class RecalledRound:
    """One archived round and how well it matched.

    Attributes:
        index: the round's position among all archived rounds (0 = oldest);
            sort by it to put recalled rounds back in conversation order.
        messages: the round's messages, tool calls with their results.
        score: the BM25 score or cosine similarity (higher is more relevant).

    >>> RecalledRound(index=0, messages=(), score=1.5).score
    1.5
    """

    index: int
    messages: tuple[Message, ...]
    score: float


def _is_round_start(message: Message) -> bool:
    # Without an adapter: a user message that is not a tool result starts a round.
    if message.get("role") != "user":
        return False
    content = message.get("content")
    if isinstance(content, list):
        return not any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
    return True


def split_rounds(
    messages: Sequence[Message], config: PromptConfig | None = None
) -> list[list[Message]]:
    """Cut a message list into rounds (with ``config``, by its adapter's rules).

    >>> msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
    ...         {"role": "user", "content": "c"}]
    >>> [len(r) for r in split_rounds(msgs)]
    [2, 1]
    """
    if not messages:
        return []
    if config is not None:
        starts = round_starts(messages, config.adapter)
    else:
        starts = [i for i, m in enumerate(messages) if i == 0 or _is_round_start(m)]
    ends = [*starts[1:], len(messages)]
    return [list(messages[a:b]) for a, b in zip(starts, ends, strict=True)]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in ("role", "type", "id", "tool_call_id", "tool_use_id", "call_id"):
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def round_text(messages: Sequence[Message]) -> str:
    """The words of a round: every string in its messages but ids and roles."""
    return "\n".join(s for m in messages for s in _strings(m))


_SPACES = str.maketrans({c: " " for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~\t\n\r"})


def _bm25(texts: list[str], query: list[str]) -> list[float]:
    # Only the query's terms matter: split each round into words once (in C)
    # and count just those terms.
    terms = sorted(set(query))
    words = [t.translate(_SPACES).split() for t in texts]
    hits = [{term: c for term in terms if (c := w.count(term))} for w in words]
    n = len(texts)
    avg = sum(map(len, words)) / n or 1.0
    df = {term: sum(1 for h in hits if term in h) for term in terms}
    scores = []
    for tf, w in zip(hits, words, strict=True):
        score = 0.0
        for term, f in tf.items():
            idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
            score += idf * f * (_K1 + 1) / (f + _K1 * (1 - _B + _B * len(w) / avg))
        scores.append(score)
    return scores


def check_query(query: Any, k: Any) -> None:
    """Refuse a ``query`` that is not a str and a ``k`` that is not an int >= 1.

    Raises:
        TypeError: ``query`` is not a str.
        ValueError: ``k`` < 1.

    >>> check_query("invoice", 3)
    """
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, got {type(query).__name__}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def rank_rounds(
    messages: Sequence[Message],
    query: str,
    *,
    k: int = 3,
    embed: Embed | None = None,
    config: PromptConfig | None = None,
) -> list[RecalledRound]:
    """The ``k`` rounds of ``messages`` most relevant to ``query``, best first.

    Rounds with no word of the query in common (BM25 score 0) are left out.

    Args:
        messages: archived messages, oldest first (``store.archive``'s ``removed``).
        query: what the conversation is about now (e.g. the new user message).
        k: how many rounds at most.
        embed: text -> vector; when given, rank by cosine similarity instead.
        config: split rounds by this config's adapter (default: by user messages).

    Raises:
        TypeError: ``query`` is not a str.
        ValueError: ``k`` < 1.

    >>> msgs = [{"role": "user", "content": "my invoice is wrong"},
    ...         {"role": "assistant", "content": "let me check the invoice"},
    ...         {"role": "user", "content": "what is the weather"},
    ...         {"role": "assistant", "content": "sunny"}]
    >>> [r.index for r in rank_rounds(msgs, "invoice total", k=1)]
    [0]
    """
    check_query(query, k)
    rounds = split_rounds(messages, config)
    if not rounds:
        return []
    texts = [round_text(r) for r in rounds]
    if embed is not None:
        q = embed(query)
        scores = [_cosine(q, embed(t)) for t in texts]
    else:
        query_words = query.lower().translate(_SPACES).split()
        scores = _bm25([t.lower() for t in texts], query_words)
    order = sorted(range(len(rounds)), key=lambda i: (-scores[i], i))
    picked: list[int] = []
    seen: set[str] = set()
    for i in order:
        if len(picked) == k or (embed is None and scores[i] <= 0):
            break
        if texts[i] not in seen:  # a round recalled into history and archived again
            seen.add(texts[i])
            picked.append(i)
    return [RecalledRound(index=i, messages=tuple(rounds[i]), score=scores[i]) for i in picked]


def recall_hook(
    store: Any, session_id: str, *, k: int = 2, share: float = 0.25, embed: Embed | None = None
) -> Callable[[list[Message], int, ProviderAdapter], list[Message]]:
    """A compaction hook keeping "recent + relevant" history.

    On each compaction it keeps the newest rounds (like the default) plus up
    to ``k`` archived rounds most relevant to the newest round, taking at
    most ``share`` of the target for them. Recalled rounds go first, in
    conversation order, so history still starts with a user message and
    tool calls keep their results.

    Args:
        store: a (sync) store holding the session's archive.
        session_id: the session whose archive to search.
        k: how many archived rounds at most.
        share: the part of the compaction target recalled rounds may use.
        embed: rank by this embedding instead of BM25.

    Raises:
        ValueError: ``share`` not in (0, 1) or ``k`` < 1.

    >>> from stableprefix import PromptConfig
    >>> from stableprefix.stores import MemoryStore
    >>> store = MemoryStore()
    >>> cfg = PromptConfig(history_max_tokens=2000,
    ...                    compaction_hook=recall_hook(store, "chat-1"))
    >>> cfg.compaction_hook is not None
    True
    """
    from .._compaction import truncate_oldest
    from .._json import canonical

    if not 0 < share < 1:
        raise ValueError(f"share must be between 0 and 1, got {share!r}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")

    def hook(messages: list[Message], target: int, adapter: ProviderAdapter) -> list[Message]:
        present = {canonical(m) for m in messages}
        query = round_text(split_rounds(messages)[-1]) if messages else ""
        room, picked = int(target * share), []
        for found in store.recall(session_id, query, k=k, embed=embed):
            if all(canonical(m) in present for m in found.messages):
                continue  # already back in history
            cost = sum(adapter.count_tokens(m) for m in found.messages)
            if cost <= room:
                room -= cost
                picked.append(found)
        used = int(target * share) - room
        recent = truncate_oldest(messages, target - used, adapter)
        back = [m for r in sorted(picked, key=lambda r: r.index) for m in r.messages]
        return [*back, *recent]

    return hook
