"""The real llama.cpp server, in-process, for tests and benchmarks.

The engine runner lives in the library (``stableprefix.benchmark._engine``:
starting xllamacpp on 127.0.0.1, ``/apply-template`` + ``/tokenize``,
greedy replies with their token ids) and so does the layout experiment's
workload (``stableprefix.benchmark._truth``: a ~500-token static system
prompt, eight user messages and a clock line that changes every turn), so
``python -m stableprefix.benchmark --truth-check``, ``tests/test_engine.py``
and ``benchmarks/engine_layouts.py`` measure exactly the same thing. This
module gathers those names for the tests and keeps the eight-message
conversation as the default of ``play_conversation``.

Nothing here needs the engine at import time: ``xllamacpp`` and the SDKs are
imported when a server is started or a client is made.
"""

from __future__ import annotations

from collections.abc import Sequence

from stableprefix.benchmark._engine import (
    MODEL_FILE,
    MODEL_PACKAGE,
    Engine,
    EngineError,
    Layout,
    Turn,
    cached_share,
    flat_prompt,
    missing_reason,
    model_path,
    start_engine,
)
from stableprefix.benchmark._engine import play_conversation as _play
from stableprefix.benchmark._truth import (
    STATIC_SYSTEM_PROMPT,
    USER_MESSAGES,
    clock_line,
    naive_layout,
    stableprefix_layout,
)

__all__ = [
    "MODEL_FILE",
    "MODEL_PACKAGE",
    "STATIC_SYSTEM_PROMPT",
    "USER_MESSAGES",
    "Engine",
    "EngineError",
    "Layout",
    "Turn",
    "cached_share",
    "clock_line",
    "flat_prompt",
    "missing_reason",
    "model_path",
    "naive_layout",
    "play_conversation",
    "stableprefix_layout",
    "start_engine",
]


def play_conversation(
    engine: Engine,
    layout: Layout,
    *,
    user_messages: Sequence[str] = USER_MESSAGES,
    max_tokens: int = 8,
) -> list[Turn]:
    """Play one conversation (by default the eight library-desk questions).

    >>> len(USER_MESSAGES)
    8
    """
    return _play(engine, layout, user_messages=user_messages, max_tokens=max_tokens)
