"""Live runs: send a strategy's requests to a real provider and read its usage.

Approach: a live run plays a workload exactly as a simulated run does, but
each request goes to the provider through its official SDK (imported only
here, only when used) and the usage the provider reports is read by the
library's usage parsers. The model's own answers are ignored: the
workload's scripted answers are appended instead, so every strategy sends
the same conversation and the numbers compare layouts, not luck. Output is
capped (``max_output_tokens``) to keep a run cheap.

Runs must not share cache entries with each other or with earlier runs, or
the second strategy would read what the first one wrote. Each run therefore
puts a random run id at the start of its static prompt and in the first
tool's description. The requests are sent back to back (no idle gaps are
waited out), so cache lifetimes matter less than in simulation; the
ideal-cache column is computed on the stream that was actually sent.

Against a local llama.cpp server (``openai-compatible``), every request's
exact prompt token ids come from the server itself (``/apply-template`` and
``/tokenize``, see ``LlamaCppServerCounter``), so the ideal-cache column
compares the engine's counts with an ideal cache on the same tokens, not
with estimates; the requests are laid out as for
``OpenAIAdapter(engine="llama.cpp")``.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .._blocks import FlatRequest
from .._errors import LiveError
from .._usage import CacheUsage
from ..adapters import get_provider
from ..pricing import UnknownModelError, get_prices
from ._run import SessionFactory
from ._score import Run, ideal_reads, score
from ._strategies import play
from ._wire import Wire, make_wire
from ._workloads import Workload

__all__ = [
    "LIVE_PROVIDERS",
    "LiveError",
    "LiveProvider",
    "live_run",
    "llama_cpp_prompt_ids",
    "make_sender",
]

Sender = Callable[[dict[str, Any]], CacheUsage]
PromptIds = Callable[[dict[str, Any]], Sequence[int]]
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class LiveProvider:
    """A real API: its wire format, key variable(s), default model and SDK extra."""

    name: str
    wire: str
    key_vars: tuple[str, ...]
    default_model: str
    extra: str
    #: The SDK's endpoint when no ``--base-url`` is given (named in errors).
    default_url: str | None = None


LIVE_PROVIDERS: dict[str, LiveProvider] = {
    p.name: p
    for p in (
        LiveProvider(
            "anthropic",
            "anthropic",
            ("ANTHROPIC_API_KEY",),
            "claude-sonnet-5-5",
            "anthropic",
            "https://api.anthropic.com",
        ),
        LiveProvider(
            "openai",
            "openai",
            ("OPENAI_API_KEY",),
            "gpt-5.6-terra",
            "openai",
            "https://api.openai.com/v1",
        ),
        LiveProvider(
            "gemini",
            "gemini",
            ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
            "gemini-3.8-flash",
            "gemini",
            "https://generativelanguage.googleapis.com",
        ),
        LiveProvider("openai-compatible", "openai", (), "local", "openai"),
    )
}


def api_key(provider: LiveProvider, environ: dict[str, str] | None = None) -> str | None:
    """The first of the provider's key variables that is set (``None``: none is).

    >>> api_key(LIVE_PROVIDERS["openai"], {"OPENAI_API_KEY": "sk-x"})
    'sk-x'
    """
    env = os.environ if environ is None else environ
    for var in provider.key_vars:
        if env.get(var):
            return env[var]
    return None


def live_wire(provider: LiveProvider, model: str, *, engine: str = "openai") -> Wire:
    """The wire of a live provider: the same adapter, set up for ``model``, as simulated runs.

    ``engine`` is the server behind an OpenAI-format endpoint (see
    ``OpenAIAdapter(engine=...)``). An unlisted model gets its family's
    conservative rules (the model registry's fallback).

    >>> live_wire(LIVE_PROVIDERS["anthropic"], "claude-haiku-4-5").adapter.min_cache_tokens
    4096
    >>> live_wire(LIVE_PROVIDERS["openai"], "gpt-5.6-terra").adapter.model
    'gpt-5.6-terra'
    """
    return make_wire(provider.wire, model, engine=engine)


def llama_cpp_prompt_ids(base_url: str) -> PromptIds | None:
    """Exact prompt ids of a request from a llama.cpp server, or ``None`` when it has none.

    Args:
        base_url: the server's OpenAI base URL (``/v1`` may be included).

    Returns:
        A function from a built request to its prompt token ids, when the
        server answers ``/apply-template`` and ``/tokenize`` (llama.cpp);
        ``None`` for other servers (their counts are then estimated).

    >>> llama_cpp_prompt_ids("http://127.0.0.1:1/v1") is None
    True
    """
    from .._errors import TokenCounterError
    from ..tokens import LlamaCppServerCounter

    counter = LlamaCppServerCounter(base_url, timeout=60)
    try:
        counter.prompt_ids([{"role": "user", "content": "ping"}])
    except TokenCounterError:
        return None
    return lambda req: counter.prompt_ids(req["messages"], req.get("tools") or ())


def _import(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"the live benchmark needs the {module.split('.')[0]} package: "
            f"pip install 'stableprefix[{extra}]'"
        ) from exc


def _anthropic_sender(
    provider: LiveProvider, model: str, key: str | None, base_url: str | None, cap: int
) -> Sender:
    parse = get_provider(provider.wire).parse_usage
    sdk = _import("anthropic", provider.extra)
    client = sdk.Anthropic(api_key=key, base_url=base_url, max_retries=2)
    return lambda req: parse(client.messages.create(model=model, max_tokens=cap, **req))


def _gemini_sender(
    provider: LiveProvider, model: str, key: str | None, base_url: str | None, cap: int
) -> Sender:
    parse = get_provider(provider.wire).parse_usage
    genai = _import("google.genai", provider.extra)
    options = genai.types.HttpOptions(base_url=base_url) if base_url else None
    client = genai.Client(api_key=key, http_options=options)

    def send(req: dict[str, Any]) -> CacheUsage:
        config = {**req.get("config", {}), "max_output_tokens": cap}
        return parse(
            client.models.generate_content(model=model, contents=req["contents"], config=config)
        )

    return send


def _openai_sender(
    provider: LiveProvider, model: str, key: str | None, base_url: str | None, cap: int
) -> Sender:
    parse = get_provider(provider.wire).parse_usage
    sdk = _import("openai", provider.extra)
    client = sdk.OpenAI(api_key=key or "not-needed", base_url=base_url, max_retries=2)
    # OpenAI's own models take max_completion_tokens; local servers know max_tokens.
    name = "max_tokens" if provider.name == "openai-compatible" else "max_completion_tokens"
    return lambda req: parse(client.chat.completions.create(model=model, **{name: cap}, **req))


#: The SDK call of each wire format: the one place a new format's sender goes.
SENDERS: dict[str, Callable[[LiveProvider, str, str | None, str | None, int], Sender]] = {
    "anthropic": _anthropic_sender,
    "gemini": _gemini_sender,
    "openai": _openai_sender,
}


def make_sender(
    provider: LiveProvider,
    model: str,
    *,
    key: str | None,
    base_url: str | None = None,
    max_output_tokens: int = 64,
) -> Sender:
    """A function that sends one built request and returns its parsed usage.

    Args:
        provider: the live provider.
        model: the model to call.
        key: the API key (``None`` only for ``openai-compatible``).
        base_url: passed to the SDK's client as is (OpenAI: include ``/v1``).
        max_output_tokens: cap on generated tokens per request.

    Raises:
        ImportError: the provider's SDK is not installed (names the extra).
        ValueError: no sender is known for the provider's wire format.
    """
    factory = SENDERS.get(provider.wire)
    if factory is None:
        raise ValueError(
            f"no live sender for wire format {provider.wire!r}; known: {', '.join(SENDERS)}"
        )
    return factory(provider, model, key, base_url, max_output_tokens)


def _fresh(workload: Workload) -> Workload:
    """The workload with a run id that no other run's prefix shares."""
    tag = secrets.token_hex(6)
    tools = list(workload.tools)
    if tools:
        tools[0] = dataclasses.replace(tools[0], description=f"[run {tag}] {tools[0].description}")
    return dataclasses.replace(
        workload, static_prompt=f"Run {tag}.\n{workload.static_prompt}", tools=tuple(tools)
    )


def live_run(
    workload: Workload,
    strategy: str,
    factory: SessionFactory,
    *,
    provider: LiveProvider,
    model: str,
    wire: Wire,
    send: Sender,
    progress: Progress | None = None,
    prompt_ids: PromptIds | None = None,
    url: str | None = None,
) -> Run:
    """Play ``strategy`` through ``workload`` against the provider; score what it reported.

    A strategy that cannot build a request gives a ``Run`` with ``error``
    set (nothing more is sent for it); a request the provider refuses ends
    the whole benchmark. With ``prompt_ids`` (``llama_cpp_prompt_ids``) the
    ideal-cache column is computed on the exact prompt ids of each request.
    ``url`` (the endpoint, default the provider's) is named when a request fails.

    Raises:
        LiveError: a request failed (the provider's message and the URL are included).
    """
    url = url or provider.default_url
    workload = _fresh(workload)
    session = factory(workload, wire)
    usages: list[CacheUsage] = []
    flats: list[tuple[FlatRequest, float]] = []
    convs: list[str] = []
    start = time.monotonic()
    total = len(workload.steps)
    steps = play(workload, session)
    for i in range(total):
        try:
            step, request = next(steps)
        except Exception as exc:  # the strategy cannot build this request: report the run
            return Run(
                workload=workload.name,
                strategy=strategy,
                provider=provider.name,
                model=model,
                usage=CacheUsage(),
                requests=0,
                ideal_read=0,
                cost=None,
                cost_uncached=None,
                error=f"{type(exc).__name__}: {exc}",
            )
        try:
            usage = send(request)
        except ImportError:
            raise
        except Exception as exc:  # any SDK or HTTP failure ends the run with its message
            raise LiveError(_failure(provider, url, f"{i + 1}/{total}", workload.name,
                                     strategy, exc)) from exc  # fmt: skip
        usages.append(usage)
        flat = wire.adapter.flatten(request) if prompt_ids is None else _exact(prompt_ids, request)
        flats.append((flat, time.monotonic() - start))
        convs.append(step.conversation)
        if progress is not None:
            read = sum(u.cache_read_tokens for u in usages)
            seen = sum(u.input_tokens for u in usages)
            progress(
                f"{provider.name} {model} | {workload.name} | {strategy}: request "
                f"{i + 1}/{total}, {100 * read / max(seen, 1):.0f}% of prompt tokens cached"
            )
    return score(
        workload=workload.name,
        strategy=strategy,
        provider=provider.name,
        model=model,
        usages=usages,
        ideal=ideal_reads(flats),
        conversations=convs,
        times=[t for _f, t in flats],
        priced=known_model(model),
    )


def _refused(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a failure to connect at all."""
    seen: BaseException | None = exc
    for _ in range(8):  # SDK errors wrap the transport's, which wrap the socket's
        if seen is None:
            return False
        if isinstance(seen, ConnectionError) or "connect" in type(seen).__name__.lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _failure(
    provider: LiveProvider, url: str | None, which: str, workload: str, strategy: str,
    exc: BaseException,
) -> str:  # fmt: skip
    where = f" to {url}" if url else ""
    text = (
        f"{provider.name} request {which} ({workload}, {strategy}){where} failed: "
        f"{type(exc).__name__}: {exc}"
    )
    if _refused(exc):
        text += f" (could not connect to {url}: is the server running and the URL right?)"
    return text


def _exact(prompt_ids: PromptIds, request: dict[str, Any]) -> FlatRequest:
    from ._engine import flat_prompt

    flat: FlatRequest = flat_prompt(prompt_ids(request))
    return flat


def known_model(model: str) -> bool:
    """Whether the price table knows ``model``.

    >>> known_model("gpt-5-mini"), known_model("my-local-model")
    (True, False)
    """
    try:
        get_prices(model)
    except UnknownModelError:
        return False
    return True
