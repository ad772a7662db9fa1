"""Errors raised by stableprefix.

Every error the library raises on purpose derives from one base class, so a
caller can catch them all, and each subclass names a cause. Where it helps,
the error carries the offending detail as an attribute (the message index,
the role, the path inside the state, the hook) instead of a new subclass.

::

    StablePrefixError
     +-- InvalidMessageError   (also ValueError)  a message you appended is malformed
     +-- InvalidStateError     (also ValueError)  a state document is malformed
     +-- InvalidConfigError    (also ValueError)  a PromptConfig field is wrong
     +-- TransitionError                         the operation is not allowed right now
     |    +-- PendingToolCallError               ... because tool calls await results
     +-- ContextError                            the dynamic context was not recorded
     +-- HookError                               a hook raised or broke an invariant
     +-- UnsupportedError                        the provider cannot do what was asked
     +-- CacheMarkerError      (also ValueError)  your own cache markers break a provider rule
     +-- StoreError                              a store failed (down, full, garbage)
     |    +-- ConflictError                      ... someone else saved the session first
     +-- TokenCounterError                       a counter's tokenizer server failed
     +-- SignatureError        (also ValueError)  a signed state is unsigned, forged, unknown-keyed
     +-- ResponseCacheError                      the response cache failed (backend down, bad entry)
     |    +-- RequestKeyError   (also ValueError)  a request cannot be turned into a cache key
     |    +-- ReplayMissError   (also LookupError) strict replay met a request never recorded
     +-- UsageError            (also ValueError)  a provider's usage report is malformed
     +-- DiagnosticsError      (also ValueError)  a request or log the diagnostics read is malformed
     |    +-- LintError                          strict lint found cache-busting problems
     +-- CacheRuleError        (also ValueError)  a request breaks a provider cache rule (sim)
     +-- UnknownModelError     (also LookupError) no rules or no price for a model id (models)
     +-- UnknownProviderError  (also LookupError) no adapter is registered under that name
     +-- LiveError                               a live benchmark run failed (benchmark)
     +-- EngineError                             the local llama.cpp engine failed (benchmark)

Wrong argument *types* raise the built-in ``TypeError``; everything listed
above is raised with a message that says what was wrong and how to fix it.

Foreign exceptions (``json``, SDK objects, ``sqlite3``, ``redis``) never
escape: code that calls into them wraps the call in ``translate(...)``, which
re-raises them as one of the errors above, chained with ``raise ... from``.
Every class is defined here; the modules that raise them re-export them
where users met them first (``stableprefix.sim.CacheRuleError``,
``stableprefix.pricing.UnknownModelError``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = [
    "CacheMarkerError",
    "CacheRuleError",
    "ConflictError",
    "ContextError",
    "DiagnosticsError",
    "EngineError",
    "HookError",
    "InvalidConfigError",
    "InvalidMessageError",
    "InvalidStateError",
    "LintError",
    "LiveError",
    "PendingToolCallError",
    "ReplayMissError",
    "RequestKeyError",
    "ResponseCacheError",
    "SignatureError",
    "StablePrefixError",
    "StoreError",
    "TokenCounterError",
    "TransitionError",
    "UnknownModelError",
    "UnknownProviderError",
    "UnsupportedError",
    "UsageError",
    "describe",
    "translate",
]


class StablePrefixError(Exception):
    """Base class of every error stableprefix raises on purpose.

    >>> try:
    ...     raise InvalidStateError("bad", path="$.version")
    ... except StablePrefixError as exc:
    ...     print(type(exc).__name__, exc.path)
    InvalidStateError $.version
    """


class InvalidMessageError(StablePrefixError, ValueError):
    """A message given to the library is malformed for the configured provider.

    Attributes:
        index: position of the message in the call's input (0 for a single
            message), or ``None`` when the whole batch is at fault.
        role: the message's role, when it has a readable one.
        path: where inside the message the problem is, e.g. ``$.content[1].type``.
    """

    def __init__(
        self,
        message: str,
        *,
        index: int | None = None,
        role: str | None = None,
        path: str = "$",
    ) -> None:
        where = f"message {index}" if index is not None else "message"
        detail = f" at {path}" if path != "$" else ""
        super().__init__(f"{where}{detail}: {message}")
        self.index = index
        self.role = role
        self.path = path


class InvalidStateError(StablePrefixError, ValueError):
    """A state document failed validation.

    Attributes:
        path: JSON path of the offending field, e.g. ``$.committed[3]``.
    """

    def __init__(self, message: str, *, path: str = "$") -> None:
        super().__init__(f"invalid state at {path}: {message}")
        self.path = path


class InvalidConfigError(StablePrefixError, ValueError):
    """A ``PromptConfig`` field has a value that cannot work.

    Attributes:
        field: the name of the offending field.
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(f"PromptConfig.{field}: {message}")
        self.field = field


class TransitionError(StablePrefixError):
    """The operation is not allowed in the conversation's current phase."""


class PendingToolCallError(TransitionError):
    """Tool calls are still waiting for their results.

    Attributes:
        pending: the ids of the tool calls that have no result yet.
    """

    def __init__(self, message: str, *, pending: Sequence[str]) -> None:
        ids = ", ".join(pending)
        super().__init__(f"{message} (tool calls awaiting results: {ids})")
        self.pending = tuple(pending)


class ContextError(StablePrefixError):
    """The dynamic context cannot be used the way it was passed."""


class HookError(StablePrefixError):
    """A user hook raised, or returned something that breaks an invariant.

    Attributes:
        hook: the config field holding the hook, e.g. ``"compaction_hook"``.
        state: for an ``on_event`` callback that raised, the state with the
            change applied (events report only applied changes); else ``None``.
    """

    def __init__(self, message: str, *, hook: str, state: Any = None) -> None:
        super().__init__(f"{hook}: {message}")
        self.hook = hook
        self.state = state


class UnsupportedError(StablePrefixError):
    """The configured provider cannot do what was asked.

    Attributes:
        provider: the adapter's provider name.
    """

    def __init__(self, message: str, *, provider: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider


class CacheMarkerError(StablePrefixError, ValueError):
    """Cache markers you placed yourself break a rule the provider enforces.

    The library adapts its own markers around yours; this is raised only
    when yours alone would make the provider reject the request (more
    markers than allowed, or a longer TTL after a shorter one).

    Attributes:
        rule: a short name of the rule, e.g. ``"max_markers"`` or ``"ttl_order"``.
        path: where the offending marker sits in the request,
            e.g. ``$.messages[3].content[0]``.

    >>> str(CacheMarkerError("too many", rule="max_markers", path="$.tools[0]"))
    'max_markers at $.tools[0]: too many'
    """

    def __init__(self, message: str, *, rule: str, path: str) -> None:
        super().__init__(f"{rule} at {path}: {message}")
        self.rule = rule
        self.path = path


class StoreError(StablePrefixError):
    """A store (session store, response cache backend) failed.

    Attributes:
        session_id: the session (or cache key) the operation was for, if any.
        operation: what was being done, e.g. ``"save"`` or ``"load"``.

    >>> str(StoreError("redis at 127.0.0.1:6379 refused the connection",
    ...                session_id="chat-1", operation="save"))
    "save of session 'chat-1': redis at 127.0.0.1:6379 refused the connection"
    """

    def __init__(
        self, message: str, *, session_id: str | None = None, operation: str | None = None
    ) -> None:
        where = operation or ""
        if session_id is not None:
            where = f"{where} of session {session_id!r}" if where else f"session {session_id!r}"
        super().__init__(f"{where}: {message}" if where else message)
        self.session_id = session_id
        self.operation = operation


class ConflictError(StoreError):
    """Someone else saved the session since the version this save expected.

    Reload the session (``store.load``), re-apply the change, and save again.

    Attributes:
        expected_version: the version the save was based on.
        actual_version: the version the store holds now (0: no such session).
    """

    def __init__(
        self,
        message: str,
        *,
        session_id: str | None = None,
        operation: str | None = "save",
        expected_version: int | None = None,
        actual_version: int | None = None,
    ) -> None:
        super().__init__(message, session_id=session_id, operation=operation)
        self.expected_version = expected_version
        self.actual_version = actual_version


class SignatureError(StablePrefixError, ValueError):
    """A signed state document is unsigned, tampered with, or signed by an unknown key.

    Attributes:
        key_id: the key id the document names, when it names one.
    """

    def __init__(self, message: str, *, key_id: str | None = None) -> None:
        super().__init__(message)
        self.key_id = key_id


class UnknownModelError(StablePrefixError, LookupError):
    """A model id has no entry to answer a question about it.

    Raised by ``get_model`` when neither the registry nor a model family
    knows the id, and by ``get_prices`` when the model has no published
    price (an unknown id resolves to its family's cache rules, but a price
    is never guessed).

    Attributes:
        model: the id that was looked up.
        known: the names the table does know, sorted.

    >>> err = UnknownModelError("gpt-0", ("gpt-5",))
    >>> err.model, err.known
    ('gpt-0', ('gpt-5',))
    """

    def __init__(self, model: str, known: Sequence[str], *, reason: str = "") -> None:
        what = reason or f"no entry for model {model!r}"
        super().__init__(
            f"{what}; known models: {', '.join(known)}. Pass table={{**PRICES, name: "
            "ModelPrices(...)}} to get_prices (or {**MODELS, **load_models(rows)} to get_model) "
            "to add it"
        )
        self.model = model
        self.known = tuple(known)


class DiagnosticsError(StablePrefixError, ValueError):
    """A request, response or log given to the diagnostics cannot be read.

    Attributes:
        path: where the problem is, e.g. ``$.messages[2]`` or ``log.jsonl:7``.
    """

    def __init__(self, message: str, *, path: str = "$") -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class LintError(DiagnosticsError):
    """``lint(..., strict=True)`` found problems that bust the provider cache.

    Attributes:
        findings: the findings, most expensive first.
    """

    def __init__(self, message: str, *, findings: Sequence[object]) -> None:
        super().__init__(message, path="lint")
        self.findings = tuple(findings)


class TokenCounterError(StablePrefixError):
    """A token counter that asks a server (``LlamaCppServerCounter``) got no count.

    The message names the server and what it answered; check that it is
    running and reachable.
    """


class UsageError(StablePrefixError, ValueError):
    """A usage report lacks a field or holds an impossible count.

    Attributes:
        provider: the format that was being read (e.g. ``"anthropic"``).
        field: the offending field, as a dotted path (e.g.
            ``"usage.prompt_tokens_details.cached_tokens"``).

    >>> from stableprefix import OpenAIAdapter
    >>> try:
    ...     OpenAIAdapter.parse_usage({"usage": {"prompt_tokens": 10}})
    ... except UsageError as exc:
    ...     print(exc.field)
    usage.completion_tokens
    """

    def __init__(self, message: str, *, provider: str, field: str) -> None:
        super().__init__(f"{provider} usage: {field}: {message}")
        self.provider = provider
        self.field = field


class CacheRuleError(StablePrefixError, ValueError):
    """A request breaks a rule the provider enforces with an error (HTTP 400).

    Attributes:
        rule: a short name of the broken rule, e.g. ``"max_markers"``.

    >>> from stableprefix import CacheBlock, FlatRequest
    >>> from stableprefix.sim import AnthropicCache
    >>> marked = CacheBlock(key="k", tokens=1, kind="text", role="user", cache_ttl="5m")
    >>> AnthropicCache().process(FlatRequest(provider="anthropic", blocks=(marked,) * 5), now=0)
    Traceback (most recent call last):
    ...
    stableprefix._errors.CacheRuleError: max_markers: 5 cache markers ...
    """

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule


class UnknownProviderError(StablePrefixError, LookupError):
    """No provider is registered under a name.

    Attributes:
        provider: the name that was looked up.
        known: the registered names, in registration order.

    >>> from stableprefix.adapters import get_provider
    >>> try:
    ...     get_provider("acme")
    ... except UnknownProviderError as exc:
    ...     print(exc.provider, "openai" in exc.known)
    acme True
    """

    def __init__(self, provider: str, known: Sequence[str]) -> None:
        super().__init__(
            f"no provider named {provider!r} is registered; known: {', '.join(known)}. "
            "Register an adapter with stableprefix.adapters.register_provider(...)"
        )
        self.provider = provider
        self.known = tuple(known)


class LiveError(StablePrefixError):
    """A live benchmark run could not be done (missing key or SDK, or a failed request)."""


class EngineError(StablePrefixError):
    """The local llama.cpp engine did not start or answered with an HTTP error."""


def describe(exc: BaseException) -> str:
    """A foreign exception as one line of text: its type and its message.

    >>> describe(ValueError("Expecting value: line 1 column 1 (char 0)"))
    'ValueError: Expecting value: line 1 column 1 (char 0)'
    >>> describe(RecursionError())
    'RecursionError'
    """
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextmanager
def translate(
    into: Callable[[str], StablePrefixError],
    *foreign: type[BaseException],
    doing: str,
) -> Iterator[None]:
    """Re-raise the ``foreign`` exceptions of a block as a library error.

    The one way the library turns what json, an SDK object, sqlite3 or redis
    raise into its own errors: the message says what was being done and what
    went wrong, and the original stays attached as ``__cause__``. Library
    errors raised inside the block pass through unchanged.

    Args:
        into: builds the library error from a message, e.g.
            ``lambda m: StoreError(m)`` or
            ``lambda m: InvalidStateError(m, path="$")``.
        *foreign: the exception types to translate (at least one).
        doing: what the block does, e.g. ``"reading the state document"``.

    Raises:
        TypeError: no ``foreign`` type was given.
        StablePrefixError: whatever ``into`` builds, when the block raises
            one of ``foreign``.

    >>> import json
    >>> try:
    ...     with translate(lambda m: InvalidStateError(m), ValueError, doing="parsing JSON"):
    ...         json.loads("{")
    ... except InvalidStateError as exc:
    ...     print(exc, "|", type(exc.__cause__).__name__)
    invalid state at $: parsing JSON failed (JSONDecodeError: ...) | JSONDecodeError
    """
    if not foreign:
        raise TypeError("translate() needs at least one foreign exception type to catch")
    try:
        yield
    except StablePrefixError:
        raise
    except foreign as exc:
        raise into(f"{doing} failed ({describe(exc)})") from exc


class ResponseCacheError(StablePrefixError):
    """The response cache could not look up or store an answer.

    Raised only when the cache was asked to fail closed (``fail_open=False``);
    by default a failing backend is counted and the call goes through.
    """


class RequestKeyError(ResponseCacheError, ValueError):
    """A request holds a value that cannot be part of a cache key.

    Attributes:
        path: where in the request the value is, e.g. ``$.messages[2].content``.
    """

    def __init__(self, message: str, *, path: str = "$") -> None:
        super().__init__(f"request at {path}: {message}")
        self.path = path


class ReplayMissError(ResponseCacheError, LookupError):
    """Strict replay met a request that the recording does not hold.

    Attributes:
        key: the request's cache key.
        path: the recording file.
    """

    def __init__(self, message: str, *, key: str, path: str) -> None:
        super().__init__(f"{path}: {message}")
        self.key = key
        self.path = path
