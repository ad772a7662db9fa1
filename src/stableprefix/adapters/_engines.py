"""Which server an OpenAI-compatible adapter talks to, and what that changes.

Approach: the Chat Completions format is spoken by OpenAI and by local
engines alike, but their caches differ. OpenAI routes by
``prompt_cache_key`` and caches only what it was sent. A local engine keeps
the tokens it generated in its prefix cache (llama.cpp in the slot, vLLM in
full blocks once a request finishes, SGLang in its radix tree), so a small
dynamic context appended to the turn lets the next request reuse the reply
too, and ``prompt_cache_key`` means nothing to it. A llama.cpp server with
several slots picks a slot by prompt similarity; conversations that share a
long system prompt then crowd into one slot and evict each other. Pinning
each conversation to its own slot (``id_slot``), derived from the state's
key, is what ``prompt_cache_key`` is to OpenAI.
"""

from __future__ import annotations

from typing import Any

from .._json import sha256_hex

__all__ = ["ENGINES", "LOCAL_ENGINES", "add_engine_fields", "check_engine", "slot_for"]

#: The servers ``OpenAIAdapter(engine=...)`` knows.
ENGINES = ("openai", "llama.cpp", "vllm", "sglang")
#: The ones that run locally and cache the tokens they generate.
LOCAL_ENGINES = frozenset({"llama.cpp", "vllm", "sglang"})


def check_engine(engine: object, slots: object, *, openai_cache_options: bool) -> None:
    """Validate ``engine`` and ``slots`` (``ValueError`` naming the fix).

    Args:
        engine: the engine name.
        slots: the llama.cpp server's slot count, or ``None``.
        openai_cache_options: whether any OpenAI prompt-cache option is set.

    Raises:
        ValueError: an unknown engine, ``slots`` on another engine or not an
            int >= 1, or OpenAI cache options on a local engine.

    >>> check_engine("llama.cpp", 4, openai_cache_options=False)
    >>> check_engine("vllm", 4, openai_cache_options=False)
    Traceback (most recent call last):
    ...
    ValueError: slots applies to engine='llama.cpp' only (it pins id_slot), got engine='vllm'
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if slots is not None:
        if engine != "llama.cpp":
            raise ValueError(
                f"slots applies to engine='llama.cpp' only (it pins id_slot), got engine={engine!r}"
            )
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise ValueError(f"slots must be the server's slot count (an int >= 1), got {slots!r}")
    if engine in LOCAL_ENGINES and openai_cache_options:
        raise ValueError(
            "prompt_cache_key, cache_key_buckets, prompt_cache_retention, prompt_cache_mode "
            f"and prompt_cache_ttl are OpenAI options; drop them for engine={engine!r}"
            + (" (use slots= for slot affinity)" if engine == "llama.cpp" else "")
        )


def slot_for(conversation_key: str, slots: int) -> int:
    """The llama.cpp slot a conversation is pinned to: stable, spread by hash.

    >>> slot_for("chat-42", 4) == slot_for("chat-42", 4)
    True
    >>> sorted({slot_for(f"chat-{i}", 3) for i in range(30)})
    [0, 1, 2]
    """
    return int(sha256_hex("slot:" + conversation_key)[:12], 16) % slots


def add_engine_fields(
    request: dict[str, Any], engine: str, slots: int | None, conversation_key: str | None
) -> None:
    """Add the engine-specific request fields (llama.cpp: ``id_slot``).

    They go in ``extra_body``, which the ``openai`` SDK merges into the JSON
    body, so ``client.chat.completions.create(**request)`` sends them.

    >>> request = {"messages": []}
    >>> add_engine_fields(request, "llama.cpp", 3, "chat-42")
    >>> request["extra_body"]["id_slot"] in (0, 1, 2)
    True
    """
    if engine == "llama.cpp" and slots is not None and conversation_key is not None:
        request.setdefault("extra_body", {})["id_slot"] = slot_for(conversation_key, slots)
