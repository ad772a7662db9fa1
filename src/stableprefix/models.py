"""The model registry: per-model cache rules and prices, kept as data.

Approach: the built-in table is plain rows in ``_model_data`` (each with its
sources and the date it was checked); ``load_models`` turns rows into frozen
``ModelInfo`` records and is also how a user adds or overrides models (merge
the result with ``MODELS`` and pass it as ``table=``). ``get_model`` resolves
any id a provider or SDK would accept: exact names, aliases (``gpt-5.6``),
``-latest`` and dated suffixes, provider prefixes (``anthropic/``,
``models/``, Bedrock's ``anthropic.`` and ``-v1:0``, Vertex's ``@date``) and
Anthropic names with dots (``claude-sonnet-4.5``). An id the table does not
know resolves to its family's conservative rules (``ModelInfo.exact`` is
False): the family's highest published minimum, its cache semantics and
retention, and no price, so a request can always be built and simulated
while only cost estimation reports the price as unknown.

Cache semantics (``ModelInfo.cache_semantics``):

======================  =====================================================
``anthropic``           explicit ``cache_control`` markers, or one automatic
                        top-level marker; 20-block lookback
``openai-prefix``       OpenAI before GPT-5.6: any cached prefix, 128-token steps
``openai-breakpoints``  GPT-5.6 and later: exact prefixes at breakpoints only
``gemini-implicit``     Gemini implicit caching above a minimum
``local``               an engine's prefix cache (vLLM, llama.cpp, SGLang)
======================  =====================================================
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from . import _model_data as data
from ._errors import UnknownModelError
from ._prices import LongContextTier, ModelPrices

__all__ = [
    "CACHE_SEMANTICS",
    "MODELS",
    "ModelInfo",
    "canonical_model_name",
    "get_model",
    "load_models",
]

CACHE_SEMANTICS = (
    "anthropic",
    "openai-prefix",
    "openai-breakpoints",
    "gemini-implicit",
    "local",
)
_PROVIDERS = ("anthropic", "openai", "gemini", "local")


def _ratio(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"ModelInfo.{name} must be a number >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo:
    """Everything the library knows about one model's prompt cache.

    Attributes:
        name: the registry name (for a family fallback: the id asked for).
        provider: ``"anthropic"``, ``"openai"``, ``"gemini"`` or ``"local"``.
        family: the family the model belongs to (``"claude"``, ``"gpt-5.6+"``…).
        min_cache_tokens: the shortest prefix the provider caches.
        cache_semantics: one of ``CACHE_SEMANTICS``.
        read_multiplier: cache-read price / input price, where published.
        write_multipliers: write price / input price per TTL name
            (``"5m"``/``"1h"`` Anthropic, ``"30m"``/``"12h"`` OpenAI).
        prices: the model's prices; ``None`` when none are published.
        retention: OpenAI's default retention for the model (``"in_memory"``,
            ``"24h"``, ``"30m"``), else ``None``.
        retention_options: the retention values the model accepts.
        cache_step: OpenAI before GPT-5.6: the interval its implicit
            breakpoints fall on (GPT-5.5: 2,048 tokens); ``None`` for the
            documented default of 128-token steps.
        sources: URLs the numbers come from.
        checked: the date (ISO) the row was last compared with its sources.
        note: anything a user should know about the row.
        exact: False when the id was unknown and the family's rules apply.

    >>> info = get_model("claude-sonnet-5-5")
    >>> info.min_cache_tokens, info.read_multiplier, info.prices.cache_read
    (512, 0.05, 0.1)
    """

    name: str
    provider: str
    family: str
    min_cache_tokens: int
    cache_semantics: str
    read_multiplier: float | None = None
    write_multipliers: Mapping[str, float] = field(default_factory=dict)
    prices: ModelPrices | None = None
    retention: str | None = None
    retention_options: tuple[str, ...] = ()
    cache_step: int | None = None
    sources: tuple[str, ...] = ()
    checked: str = ""
    note: str = ""
    exact: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("ModelInfo.name must be a non-empty string")
        if self.provider not in _PROVIDERS:
            raise ValueError(
                f"ModelInfo.provider must be one of {', '.join(_PROVIDERS)}, got {self.provider!r}"
            )
        if self.cache_semantics not in CACHE_SEMANTICS:
            raise ValueError(
                f"ModelInfo.cache_semantics must be one of {', '.join(CACHE_SEMANTICS)}, "
                f"got {self.cache_semantics!r}"
            )
        m = self.min_cache_tokens
        if isinstance(m, bool) or not isinstance(m, int) or m < 0:
            raise ValueError(f"ModelInfo.min_cache_tokens must be an int >= 0, got {m!r}")
        if self.read_multiplier is not None:
            _ratio("read_multiplier", self.read_multiplier)
        for ttl, x in self.write_multipliers.items():
            _ratio(f"write_multipliers[{ttl!r}]", x)
        step = self.cache_step
        if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 1):
            raise ValueError(f"ModelInfo.cache_step must be an int >= 1 or None, got {step!r}")
        if self.prices is not None and not isinstance(self.prices, ModelPrices):
            raise TypeError(
                f"ModelInfo.prices must be ModelPrices or None, got {type(self.prices).__name__}"
            )
        object.__setattr__(
            self, "write_multipliers", MappingProxyType(dict(self.write_multipliers))
        )

    def with_overrides(self, **changes: Any) -> ModelInfo:
        """A copy with some fields replaced (e.g. ``min_cache_tokens=1024``).

        Args:
            **changes: field names and their new values.

        Returns:
            The new record, validated like any other.

        Raises:
            TypeError: a field does not exist.
            ValueError: a new value is out of range.

        >>> get_model("gpt-5.6-sol").with_overrides(min_cache_tokens=2048).min_cache_tokens
        2048
        """
        return replace(self, **changes)


# ------------------------------------------------------------------ loading


def _price(
    row: Mapping[str, Any], key: str, base: float, mult: Mapping[str, float]
) -> float | None:
    explicit = row.get(key)
    if explicit is not None:
        return float(explicit)
    return round(base * mult[key], 6) if key in mult else None


def _tier(
    t: Mapping[str, Any], mult: Mapping[str, float], short: str, long: str
) -> LongContextTier:
    inp = round(float(t["input"]), 6)
    read = t.get("cache_read")
    return LongContextTier(
        above_tokens=int(t["above"]),
        input=inp,
        output=round(float(t["output"]), 6),
        cache_read=float(read) if read is not None else round(inp * mult.get("read", 1.0), 6),
        cache_write_5m=round(inp * mult[short], 6) if short in mult else None,
        cache_write_1h=round(inp * mult[long], 6) if long in mult else None,
    )


def _prices_of(row: Mapping[str, Any], mult: Mapping[str, float]) -> ModelPrices | None:
    inp, out = row.get("input"), row.get("output")
    if inp is None or out is None:
        return None
    inp = float(inp)
    short, long = ("30m", "12h") if "30m" in mult else ("5m", "1h")
    writes = dict(row.get("cache_write") or {})
    w_short = writes.get("5m", writes.get("30m"))
    w_long = writes.get("1h", writes.get("12h"))
    read = row.get("cache_read")
    return ModelPrices(
        provider=row["provider"],
        min_cache_tokens=int(row["min_cache_tokens"]),
        input=inp,
        output=float(out),
        cache_read=float(read) if read is not None else round(inp * mult.get("read", 1.0), 6),
        cache_write_5m=float(w_short) if w_short is not None else _price({}, short, inp, mult),
        cache_write_1h=float(w_long) if w_long is not None else _price({}, long, inp, mult),
        cache_storage_per_hour=row.get("storage_per_hour"),
        long_context=tuple(_tier(t, mult, short, long) for t in row.get("long_context", ())),
    )


def _source(key: str) -> str:
    """A source key's URL (or its description when it has none); other text as is."""
    if key not in data.SOURCES:
        return key
    url, what = data.SOURCES[key]
    return url or what


def _info_of(row: Mapping[str, Any]) -> ModelInfo:
    mult: Mapping[str, float] = row.get("multipliers") or {}
    prices = _prices_of(row, mult)
    read = mult.get("read")
    if read is None and prices is not None and prices.input:
        read = prices.read_multiplier
    return ModelInfo(
        name=row["name"],
        provider=row["provider"],
        family=row.get("family") or _family_name(row["name"]) or row["name"],
        min_cache_tokens=int(row["min_cache_tokens"]),
        cache_semantics=row["cache_semantics"],
        read_multiplier=read,
        write_multipliers={k: v for k, v in mult.items() if k != "read"},
        prices=prices,
        retention=row.get("retention"),
        retention_options=tuple(row.get("retention_options", ())),
        cache_step=row.get("cache_step"),
        sources=tuple(_source(s) for s in row.get("sources", ())),
        checked=row.get("checked", ""),
        note=row.get("note", ""),
    )


def load_models(rows: Iterable[Mapping[str, Any]]) -> dict[str, ModelInfo]:
    """Turn registry rows (plain dicts, e.g. from your own JSON file) into records.

    A row has ``name``, ``provider``, ``cache_semantics``, ``min_cache_tokens``
    and optionally ``input``/``output`` prices (USD per million tokens),
    ``multipliers`` (``{"read": 0.1, "5m": 1.25, "1h": 2.0}``), explicit
    ``cache_read``/``cache_write`` prices, ``long_context`` tiers
    (``[{"above": 200000, "input": 2.5, "output": 15}]``), ``retention``,
    ``retention_options``, ``sources``, ``checked`` and ``note``.

    Args:
        rows: the rows.

    Returns:
        ``{name: ModelInfo}``; merge it with ``MODELS`` to extend the registry.

    Raises:
        ValueError: a row is incomplete or has a value out of range (the
            message names the row).

    >>> mine = load_models([{"name": "my-claude", "provider": "anthropic",
    ...     "cache_semantics": "anthropic", "min_cache_tokens": 1024,
    ...     "input": 3.0, "output": 15.0, "multipliers": {"read": 0.1, "5m": 1.25}}])
    >>> get_model("my-claude", {**MODELS, **mine}).prices.cache_write_5m
    3.75
    """
    out: dict[str, ModelInfo] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"model row {i} must be a mapping, got {type(row).__name__}")
        try:
            info = _info_of(row)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"model row {i} ({row.get('name')!r}) is invalid: {exc}") from exc
        out[info.name] = info
    return out


# ---------------------------------------------------------------- resolving

_DATED = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8}|@latest|-latest|-v\d+(?::\d+)?)$")
_PREFIXES = {
    "anthropic": "anthropic",
    "openai": "openai",
    "google": "gemini",
    "gemini": "gemini",
    "vertex_ai": "",
    "bedrock": "",
    "azure": "openai",
    "models": "",
}
_REGION = re.compile(r"^(?:(?:us|eu|apac|global)\.)?(anthropic)\.")
_CLAUDE_DOT = re.compile(r"(?<=\d)\.(?=\d)")


def canonical_model_name(model: str) -> tuple[str, str | None]:
    """The registry spelling of a model id, and the provider its prefix names.

    Args:
        model: an id as an SDK, router or cloud would spell it.

    Returns:
        ``(name, provider)``; ``provider`` is ``None`` when no prefix said.

    Raises:
        TypeError: ``model`` is not a string.

    >>> canonical_model_name("anthropic/claude-sonnet-4.5-20250929")
    ('claude-sonnet-4-5', 'anthropic')
    >>> canonical_model_name("us.anthropic.claude-opus-4-8-v1:0")
    ('claude-opus-4-8', 'anthropic')
    """
    if not isinstance(model, str):
        raise TypeError(f"model must be a str, got {type(model).__name__}")
    name = model.strip().lower()
    provider: str | None = None
    while "/" in name:
        head, name = name.split("/", 1)
        provider = provider or _PREFIXES.get(head) or None
    m = _REGION.match(name)
    if m:
        provider, name = "anthropic", name[m.end() :]
    name = name.removesuffix("[1m]")
    while True:
        stripped = _DATED.sub("", name)
        if stripped == name:
            break
        name = stripped
    if name.startswith("claude-"):
        name = _CLAUDE_DOT.sub("-", name)
    return name, provider


def _version(rest: str) -> tuple[int, int] | None:
    m = re.match(r"(\d+)(?:\.(\d+))?", rest)
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2) or 0)


def _family_row(name: str, provider: str | None) -> Mapping[str, Any] | None:
    for fam in data.FAMILIES:
        if not name.startswith(fam["prefix"]):
            continue
        since = fam.get("since")
        if since is not None:
            v = _version(name[len(fam["prefix"]) :])
            if v is None or v < tuple(since):
                continue
        return fam
    if provider is not None and provider in data.PROVIDER_FAMILIES:
        wanted = data.PROVIDER_FAMILIES[provider]
        return next(f for f in data.FAMILIES if f["family"] == wanted)
    return None


def _family_name(name: str) -> str | None:
    fam = _family_row(name, None)
    return None if fam is None else str(fam["family"])


def _fallback(model: str, fam: Mapping[str, Any]) -> ModelInfo:
    return ModelInfo(
        name=model,
        provider=fam["provider"],
        family=fam["family"],
        min_cache_tokens=int(fam["min_cache_tokens"]),
        cache_semantics=fam["cache_semantics"],
        retention=fam.get("retention"),
        retention_options=tuple(fam.get("retention_options", ())),
        note=f"unknown model: the {fam['family']} family's conservative rules apply",
        exact=False,
    )


#: The built-in registry, read-only; copy it into a dict to change it.
MODELS: Mapping[str, ModelInfo] = MappingProxyType(load_models(data.MODEL_ROWS))


def get_model(
    model: str,
    table: Mapping[str, ModelInfo] | None = None,
    *,
    provider: str | None = None,
) -> ModelInfo:
    """Resolve a model id to its cache rules and prices.

    Args:
        model: any id a provider accepts (aliases, dated, prefixed).
        table: the registry to use (default ``MODELS``).
        provider: the provider the id is sent to, when known (an adapter
            knows it); an id no family recognises then gets that
            provider's default family.

    Returns:
        The model's ``ModelInfo``, or its family's conservative rules with
        ``exact=False`` and no prices.

    Raises:
        TypeError: ``model`` is not a string.
        UnknownModelError: neither the table, the families nor ``provider``
            identify the id.

    >>> get_model("gpt-5.6").name, get_model("claude-opus-9").min_cache_tokens
    ('gpt-5.6-sol', 4096)
    >>> get_model("gpt-7-nova").cache_semantics
    'openai-breakpoints'
    """
    if not isinstance(model, str):
        raise TypeError(f"model must be a str, got {type(model).__name__}")
    if provider is not None and provider not in _PROVIDERS:
        raise ValueError(f"provider must be one of {', '.join(_PROVIDERS)}, got {provider!r}")
    models = MODELS if table is None else table
    found = models.get(model)
    if found is not None:
        return found
    name, hinted = canonical_model_name(model)
    name = data.ALIASES.get(name, name)
    found = models.get(name)
    if found is not None:
        return found
    fam = _family_row(name, provider or hinted)
    if fam is None:
        raise UnknownModelError(model, tuple(sorted(models)))
    return _fallback(model, fam)
