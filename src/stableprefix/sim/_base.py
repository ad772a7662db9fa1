"""The cache-model contract, the simulation loop and the errors of ``sim``."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

from .._blocks import CacheBlock, FlatRequest
from .._errors import CacheRuleError, StablePrefixError
from .._usage import CacheUsage
from ..models import ModelInfo, get_model
from ..pricing import ModelPrices, get_prices

__all__ = ["CacheModel", "CacheRuleError", "TimedRequest", "simulate"]

#: ``(request, now)``, ``(request, now, output_tokens)`` or
#: ``(request, now, output_tokens, response_delay)``: ``response_delay`` is
#: the seconds from sending the request to the first byte of its response,
#: when the provider makes what the request wrote readable (hosted models).
TimedRequest = (
    tuple[FlatRequest, float]
    | tuple[FlatRequest, float, int]
    | tuple[FlatRequest, float, int, float]
)


@runtime_checkable
class CacheModel(Protocol):
    """What every cache model offers: process requests in time order, reset.

    A model is a small state machine: ``process`` predicts the usage of one
    request and updates the cache as the provider or engine would. ``now``
    is a time in seconds on any clock, non-decreasing across calls.

    >>> from stableprefix.sim import RadixCache
    >>> isinstance(RadixCache(), CacheModel)
    True
    """

    def process(self, request: FlatRequest, *, now: float, output_tokens: int = 0) -> CacheUsage:
        """Predict the usage of ``request`` sent at ``now`` and update the cache."""
        ...

    def reset(self) -> None:
        """Forget everything cached."""
        ...


def simulate(model: CacheModel, requests: Iterable[TimedRequest]) -> list[CacheUsage]:
    """Feed timed requests to ``model`` in order and collect the usages.

    The model keeps its state between calls; ``reset()`` it to start over.

    Args:
        model: any ``CacheModel``.
        requests: ``(request, now)``, ``(request, now, output_tokens)`` or
            ``(request, now, output_tokens, response_delay)`` tuples in time
            order. A ``response_delay`` (hosted models only) makes what the
            request writes readable only that many seconds after ``now``,
            when its response begins: requests sent in parallel on a cold
            prefix then all write it, as the providers document.

    Returns:
        One ``CacheUsage`` per request, in order.

    Raises:
        TypeError: an item is not such a tuple.
        ValueError: time runs backwards.
        CacheRuleError: a request breaks a provider rule.

    >>> from stableprefix import CacheBlock, FlatRequest
    >>> from stableprefix.sim import RadixCache
    >>> req = FlatRequest(provider="local", blocks=(
    ...     CacheBlock(key="sys", tokens=100, kind="system", role="system"),))
    >>> [u.cache_read_tokens for u in simulate(RadixCache(), [(req, 0.0), (req, 1.0)])]
    [0, 99]
    """
    out: list[CacheUsage] = []
    for item in requests:
        if not isinstance(item, tuple) or len(item) not in (2, 3, 4):
            raise TypeError(
                "simulate() takes (request, now), (request, now, output_tokens) or "
                f"(request, now, output_tokens, response_delay) tuples, got {item!r:.80}"
            )
        output = item[2] if len(item) >= 3 else 0
        if len(item) == 4:
            out.append(
                model.process(  # type: ignore[call-arg]
                    item[0], now=item[1], output_tokens=output, response_delay=item[3]
                )
            )
        else:
            out.append(model.process(item[0], now=item[1], output_tokens=output))
    return out


class Clock:
    """Checks the arguments of ``process`` and that time never runs backwards."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last = -math.inf

    def advance(self, request: object, now: object, output_tokens: object) -> float:
        if not isinstance(request, FlatRequest):
            raise TypeError(f"request must be a FlatRequest, got {type(request).__name__}")
        if isinstance(now, bool) or not isinstance(now, (int, float)) or not math.isfinite(now):
            raise TypeError(f"now must be a finite number of seconds, got {now!r}")
        if (
            isinstance(output_tokens, bool)
            or not isinstance(output_tokens, int)
            or output_tokens < 0
        ):
            raise ValueError(f"output_tokens must be an int >= 0, got {output_tokens!r}")
        if now < self.last:
            raise ValueError(
                f"time ran backwards: now={now} after a request at {self.last}; "
                "feed requests in time order (or reset() the model)"
            )
        self.last = float(now)
        return self.last


class PrefixEntries:
    """Cache entries keyed by prefix, for the models that cache whole block prefixes.

    Each distinct prefix of blocks gets a small int id (interned through the
    pair (id of the prefix before, key of the last block)), and an entry maps
    that id to (expiry time, TTL in seconds, time it becomes readable).

    >>> from stableprefix._blocks import CacheBlock
    >>> table = PrefixEntries()
    >>> a, b = (CacheBlock(key=k, tokens=1, kind="text", role="user") for k in "ab")
    >>> table.prefix_ids([a, b]), table.prefix_ids([a])
    ([0, 1], [0])
    >>> table.entries[1] = (60.0, 60.0, 2.0)
    >>> table.readable(1, now=1.0), table.readable(1, now=3.0), table.readable(1, now=61.0)
    (False, True, False)
    """

    __slots__ = ("entries", "ids")

    def __init__(self) -> None:
        self.ids: dict[tuple[int, str], int] = {}
        self.entries: dict[int, tuple[float, float, float]] = {}

    def prefix_ids(self, blocks: Iterable[CacheBlock]) -> list[int]:
        """The id of every prefix of ``blocks`` (ending at each block, in order)."""
        ids = self.ids
        out: list[int] = []
        prev = -1
        for b in blocks:
            pair = (prev, b.key)
            prev = ids.get(pair, -2)
            if prev == -2:
                prev = ids[pair] = len(ids)
            out.append(prev)
        return out

    def readable(self, pid: int, now: float) -> bool:
        """Whether the entry of prefix ``pid`` exists, is alive and readable at ``now``
        (an expired entry is dropped)."""
        entry = self.entries.get(pid)
        if entry is None:
            return False
        if now > entry[0]:
            del self.entries[pid]
            return False
        return entry[2] <= now

    def refresh(self, pid: int, now: float) -> None:
        """A read keeps the entry alive for another TTL from ``now``."""
        _, ttl, since = self.entries[pid]
        self.entries[pid] = (now + ttl, ttl, since)


#: A registry (``{name: ModelInfo}``) or a legacy price table (``{name: ModelPrices}``).
ModelTable = Mapping[str, ModelInfo] | Mapping[str, ModelPrices]

_DEFAULT_SEMANTICS = {
    "anthropic": "anthropic",
    "openai": "openai-prefix",
    "gemini": "gemini-implicit",
    "local": "local",
}


def model_rules(model: str | None, table: ModelTable | None, provider: str) -> ModelInfo | None:
    """The registry record of ``model`` (a family fallback for unknown ids).

    A legacy price table (``{name: ModelPrices}``) is still accepted: the
    model must be in it, and its cache semantics are the registry's where
    the registry knows the id, else the provider's default.
    """
    if model is None:
        return None
    if table is not None and all(isinstance(v, ModelPrices) for v in table.values()):
        p = get_prices(model, table)
        try:
            semantics = get_model(model, provider=p.provider).cache_semantics
        except StablePrefixError:
            semantics = _DEFAULT_SEMANTICS[p.provider]
        return ModelInfo(
            name=model,
            provider=p.provider,
            family=p.provider,
            min_cache_tokens=p.min_cache_tokens,
            cache_semantics=semantics,
            prices=p,
            read_multiplier=p.read_multiplier,
        )
    return get_model(model, table, provider=provider)  # type: ignore[arg-type]


def resolve_minimum(min_tokens: int | None, default: int, info: ModelInfo | None) -> int:
    """The minimum cacheable prefix: explicit, else the model's, else ``default``."""
    if min_tokens is not None:
        if isinstance(min_tokens, bool) or not isinstance(min_tokens, int) or min_tokens < 0:
            raise ValueError(f"min_tokens must be an int >= 0, got {min_tokens!r}")
        return min_tokens
    return default if info is None else info.min_cache_tokens


def check_positive(name: str, value: object, *, allow_none: bool = True) -> None:
    """Raise ValueError unless ``value`` is a positive number (or None when allowed)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}")


def check_count(name: str, value: object, *, allow_none: bool = True) -> None:
    """Raise ValueError unless ``value`` is an int >= 1 (or None when allowed)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")


# Roles that do not start each scope: a setting's scope begins at the first
# block whose role is not listed.
_BEFORE_SCOPE: dict[str, tuple[str, ...]] = {
    "tools": (),
    "system": ("tools",),
    "messages": ("tools", "system", "developer"),
}


def settled_blocks(request: FlatRequest) -> tuple[CacheBlock, ...]:
    """The request's blocks with its settings folded into the prefix.

    Each ``(scope, fingerprint)`` setting is mixed into the key of the first
    block of its scope (the first block at all, the first non-tool block,
    the first message block), so a changed setting changes the identity of
    every prefix from there on, exactly as a changed byte would. That block
    loses its ``token_ids``: a token-level model then cannot match into it.
    """
    if not request.settings:
        return request.blocks
    blocks = list(request.blocks)
    mixes: dict[int, list[str]] = {}
    for scope, fingerprint in request.settings:
        skip = _BEFORE_SCOPE[scope]
        start = next((i for i, b in enumerate(blocks) if b.role not in skip), None)
        if start is not None:
            mixes.setdefault(start, []).append(f"{scope}={fingerprint}")
    for i, parts in mixes.items():
        b = blocks[i]
        digest = hashlib.sha256("|".join([b.key, *sorted(parts)]).encode()).hexdigest()
        blocks[i] = CacheBlock(
            key=digest,
            tokens=b.tokens,
            kind=b.kind,
            role=b.role,
            cache_ttl=b.cache_ttl,
            message_end=b.message_end,
        )
    return tuple(blocks)


def check_delay(response_delay: object) -> float:
    """Validate the seconds from sending a request to its first response byte."""
    if (
        isinstance(response_delay, bool)
        or not isinstance(response_delay, (int, float))
        or not math.isfinite(response_delay)
        or response_delay < 0
    ):
        raise ValueError(f"response_delay must be a finite number >= 0, got {response_delay!r}")
    return float(response_delay)
