"""The semantic cache reuses an answer only for a similar last question asked after the
same conversation, with the same model, settings and namespace."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import pytest

from stableprefix import ResponseCache
from stableprefix.response_cache import MemoryBackend


def embed(text: str) -> list[float]:
    """A bag-of-words embedding: hashed word counts, normalised."""
    vector = [0.0] * 64
    for word in text.lower().replace("?", " ").replace(",", " ").split():
        vector[hashlib.sha256(word.encode()).digest()[0] % 64] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def chat(history: list[str], question: str, model: str = "gpt-4o-mini") -> dict[str, Any]:
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": t}
                for i, t in enumerate(history)]
    return {"model": model, "temperature": 0,
            "messages": [*messages, {"role": "user", "content": question}]}


PARIS = ["Let's talk about France.", "Sure, what about it?"]
ITALY = ["Let's talk about Italy.", "Sure, what about it?"]


def test_a_similar_question_after_the_same_conversation_hits() -> None:
    cache = ResponseCache(namespace="t", embed=embed, similarity=0.8)
    cache.put(chat(PARIS, "What is the capital city?"), {"answer": "Paris"})
    assert cache.get(chat(PARIS, "what is the capital city")) == {"answer": "Paris"}
    assert cache.stats.semantic_hits == 1 and cache.stats.hits == 1


def test_the_same_question_in_another_conversation_never_hits() -> None:
    cache = ResponseCache(namespace="t", embed=embed, similarity=0.5)
    cache.put(chat(PARIS, "What is the capital city?"), {"answer": "Paris"})
    assert cache.get(chat(ITALY, "What is the capital city?")) is None
    assert cache.get(chat([], "What is the capital city?")) is None
    assert cache.get(chat(PARIS, "What is the capital city?", model="gpt-5")) is None
    other_tenant = ResponseCache(namespace="u", embed=embed, similarity=0.5,
                                 backend=cache.backend)
    assert other_tenant.get(chat(PARIS, "What is the capital city?")) is None
    assert cache.stats.semantic_hits == 0


def test_a_different_question_in_the_same_conversation_misses() -> None:
    cache = ResponseCache(namespace="t", embed=embed, similarity=0.9)
    cache.put(chat(PARIS, "What is the capital city?"), {"answer": "Paris"})
    assert cache.get(chat(PARIS, "How many people live there?")) is None


def test_multi_turn_set_has_no_false_hits() -> None:
    topics = ["France", "Italy", "Spain", "Japan", "Peru", "Kenya"]
    questions = ["What is the capital?", "What language is spoken?", "What currency is used?"]
    cache = ResponseCache(namespace="t", embed=embed, similarity=0.7)
    for topic in topics:
        for q in questions:
            cache.put(chat([f"Tell me about {topic}.", "Gladly."], q), {"a": f"{topic}:{q}"})
    for topic in topics:
        for q in questions:
            paraphrase = q.lower().replace("?", "") + " there?"
            got = cache.get(chat([f"Tell me about {topic}.", "Gladly."], paraphrase))
            assert got == {"a": f"{topic}:{q}"}  # right conversation, right question
    assert cache.stats.semantic_hits == len(topics) * len(questions)


def test_search_is_bounded_per_partition() -> None:
    backend = MemoryBackend()
    cache = ResponseCache(namespace="t", embed=embed, similarity=0.8, semantic_limit=2,
                          backend=backend)
    cache.put(chat(PARIS, "What is the capital city?"), {"answer": "Paris"})
    for i in range(2):
        cache.put(chat(PARIS, f"unrelated question number {i}"), {"answer": i})
    # the matching entry is now the third newest: outside the bound of 2
    assert cache.get(chat(PARIS, "what is the capital city")) is None


def test_bad_embeddings_and_settings() -> None:
    with pytest.raises(ValueError, match="similarity"):
        ResponseCache(namespace="t", embed=embed, similarity=1.5)
    with pytest.raises(TypeError, match="embed must be callable"):
        ResponseCache(namespace="t", embed="nope")  # type: ignore[arg-type]
    cache = ResponseCache(namespace="t", embed=lambda text: [])
    with pytest.raises(TypeError, match="non-empty list"):
        cache.get(chat(PARIS, "x"))


def test_a_failing_embedder_fails_open() -> None:
    def down(text: str) -> list[float]:
        raise ConnectionError("embedding service down")

    cache = ResponseCache(namespace="t", embed=down)
    req = chat(PARIS, "What is the capital city?")
    assert cache.get(req) is None
    assert cache.put(req, {"a": 1}) and cache.get(req) == {"a": 1}  # exact hits still work
    assert cache.stats.backend_errors == 2
