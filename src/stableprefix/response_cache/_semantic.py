"""The semantic response cache: a similar last question in the *same* conversation.

Approach: a request is split into its question (the text of the last user
message) and everything else: model, settings, tools, system prompt and the
whole conversation before that message. The canonical hash of everything
else names a *partition*; an answer can only be reused by a request of the
same partition, so the same question asked in two different conversations
(or with other settings, or by another tenant) never shares an answer unless
their prefixes are equal. Within a partition the question's embedding (from
a user-supplied ``embed(text) -> list[float]``) is compared by cosine
similarity with the newest stored ones (at most ``limit``: brute force over
a bounded set) and the best one above the threshold is a hit. Vectors are
stored in the entries themselves, in whatever backend the cache uses.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._backend import ResponseBackend
from ._key import canonical_request, hash_document

__all__ = ["SemanticIndex", "cosine", "question", "split_request"]

_FIELDS = ("messages", "input", "contents")
_PLACEHOLDER = "\x00question\x00"


def _text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, Mapping)]
        joined = "\n".join(t for t in texts if isinstance(t, str))
        return joined or None
    return None


def question(message: Any) -> str | None:
    """The text of a user message in any supported wire format (``None`` if not one)."""
    if not isinstance(message, Mapping) or message.get("role", "user") != "user":
        return None
    if "content" in message:
        return _text(message["content"])
    return _text(message.get("parts"))


def split_request(document: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """``(everything but the question, question)`` of a canonical request, or ``None``.

    >>> rest, q = split_request({"model": "m", "messages": [
    ...     {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
    ...     {"role": "user", "content": "Capital of France?"}]})
    >>> q, "content" in rest["messages"][2], rest["messages"][:2] == [
    ...     {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    ('Capital of France?', False, True)
    """
    for field in _FIELDS:
        value = document.get(field)
        if isinstance(value, str):
            return {**document, field: _PLACEHOLDER}, value
        if not isinstance(value, list):
            continue
        for i in range(len(value) - 1, -1, -1):
            text = question(value[i])
            if text is not None:
                stripped = {k: v for k, v in value[i].items() if k not in ("content", "parts")}
                items = [*value[:i], {**stripped, "question": _PLACEHOLDER}, *value[i + 1 :]]
                return {**document, field: items}, text
        return None
    return None


def partition_and_question(
    request: Mapping[str, Any], namespace: str, endpoint: str
) -> tuple[str, str] | None:
    """The partition name and the question of ``request`` (``None``: no user question)."""
    document, _ = canonical_request(request)
    split = split_request(document)
    if split is None:
        return None
    rest, text = split
    return "sem:" + hash_document(namespace, endpoint, rest), text


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0.0 when either is zero or lengths differ).

    >>> round(cosine([1.0, 0.0], [1.0, 1.0]), 3)
    0.707
    """
    if len(a) != len(b):
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def embed_checked(embed: Callable[[str], Sequence[float]], text: str) -> list[float]:
    """Call the user's ``embed`` and check it returned a non-empty list of finite numbers.

    Raises:
        TypeError: ``embed`` returned something else.
    """
    vector = embed(text)
    if not isinstance(vector, Sequence) or not vector:
        raise TypeError(f"embed() must return a non-empty list of floats, got {vector!r:.80}")
    out = [float(x) for x in vector]
    if not all(math.isfinite(x) for x in out):
        raise TypeError("embed() returned a vector holding NaN or infinity")
    return out


class SemanticIndex:
    """Similar-question lookups for one response cache.

    Args:
        embed: the user's ``embed(text) -> list[float]``.
        namespace: the cache's namespace (part of every partition).
        backend: where the entries (and their vectors) live.
        similarity: the cosine similarity a match needs, in (0, 1].
        limit: how many of a partition's newest entries are compared.

    Raises:
        TypeError: ``embed`` is not callable.
        ValueError: ``similarity`` or ``limit`` is out of range.
    """

    def __init__(
        self,
        embed: Callable[[str], Sequence[float]],
        *,
        namespace: str,
        backend: ResponseBackend,
        similarity: float,
        limit: int,
    ) -> None:
        if not callable(embed):
            raise TypeError(f"embed must be callable, got {type(embed).__name__}")
        if (
            isinstance(similarity, bool)
            or not isinstance(similarity, (int, float))
            or not (0 < similarity <= 1)
        ):
            raise ValueError(f"similarity must be in (0, 1], got {similarity!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise ValueError(f"semantic_limit must be a positive int, got {limit!r}")
        self._embed = embed
        self.namespace = namespace
        self.backend = backend
        self.similarity = float(similarity)
        self.limit = limit
        self._lock = threading.Lock()
        # vectors computed by a lookup, kept for the store that follows its miss
        self._pending: dict[str, tuple[str, list[float]]] = {}

    def _compute(self, request: Mapping[str, Any], endpoint: str) -> tuple[str, list[float]] | None:
        split = partition_and_question(request, self.namespace, endpoint)
        if split is None:
            return None
        return split[0], embed_checked(self._embed, split[1])

    def search(
        self,
        request: Mapping[str, Any],
        key: str,
        endpoint: str,
        lookup: Callable[[str], dict[str, Any] | None],
    ) -> dict[str, Any] | None:
        """The stored entry whose question is most similar (above the threshold), or ``None``."""
        found = self._compute(request, endpoint)
        if found is None:
            return None
        with self._lock:
            if len(self._pending) > 4096:
                self._pending.clear()  # lookups whose answers were never stored
            self._pending[key] = found
        partition, vector = found
        best: dict[str, Any] | None = None
        best_score = self.similarity
        for candidate in self.backend.partition(partition, self.limit):
            entry = lookup(candidate)
            if entry is None or not isinstance(entry.get("vector"), list):
                continue
            score = cosine(vector, entry["vector"])
            if score >= best_score:
                best, best_score = entry, score
        return best

    def vector_for(
        self, request: Mapping[str, Any], key: str, endpoint: str
    ) -> tuple[str, list[float]] | None:
        """``(partition, vector)`` to store with the answer to ``request``."""
        with self._lock:
            found = self._pending.pop(key, None)
        return found or self._compute(request, endpoint)
