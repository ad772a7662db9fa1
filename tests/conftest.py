"""Shared pytest fixtures; each section belongs to the tests that use it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

# ------------------------------------------------------------------ engine
# The real llama.cpp server (see tests/engine.py). Started once per session,
# on first use, and only by tests that ask for it.


@pytest.fixture(scope="session")
def llama_engine() -> Iterator[Any]:
    """A running llama.cpp server with SmolLM2 on 127.0.0.1 (``engine.Engine``)."""
    import engine

    reason = engine.missing_reason()
    if reason is not None:
        pytest.skip(reason)
    server = engine.start_engine()
    try:
        yield server
    finally:
        server.close()


# -------------------------------------------------------------- end engine
