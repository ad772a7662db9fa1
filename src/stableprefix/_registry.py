"""The provider registry: adapters, usage parsers and cache models by name.

Approach: a provider is registered once, under its adapter's ``name`` (the
value a state stores in its ``format`` field), with the adapter class and,
optionally, the cache model that simulates it. Everything that used to pick
a provider with an if/elif chain asks the registry instead: usage parsing
(``get_provider(name).parse_usage``), the simulator factory
(``get_provider(family).make_cache(model)``), the benchmark's wires and the
core's default adapter. Adding a provider is one adapter module and one
``register_provider`` call; nothing else changes.

The registry is part of the core and imports no adapter: the built-in
providers are registered by ``stableprefix.adapters`` when the package is
imported (which importing any part of ``stableprefix`` does). Cache models
are named as ``"module:attribute"`` strings and imported only when first
used, so registering a provider never imports the simulator.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._adapter import ProviderAdapter
from ._errors import UnknownProviderError, UnsupportedError
from ._usage import CacheUsage

__all__ = [
    "DEFAULT_PROVIDER",
    "Provider",
    "default_adapter",
    "get_provider",
    "providers",
    "register_provider",
    "unregister_provider",
]

#: The provider whose adapter ``PromptConfig`` uses when none is given.
DEFAULT_PROVIDER = "openai"

_REGISTRY: dict[str, Provider] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class Provider:
    """One registered provider: its adapter class and, optionally, its cache model.

    Attributes:
        name: the provider name (the adapter's ``name``).
        adapter: the adapter class.
        cache_model: the simulator class as ``"module:attribute"`` (or any
            callable taking ``(model, **options)``), or ``None`` when the
            provider has no cache model of its own.
        description: one line for listings.

    >>> from stableprefix.adapters import get_provider
    >>> p = get_provider("anthropic")
    >>> p.adapter.__name__, p.cache_model
    ('AnthropicAdapter', 'stableprefix.sim:AnthropicCache')
    """

    name: str
    adapter: type[ProviderAdapter]
    cache_model: str | Callable[..., Any] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not (isinstance(self.adapter, type) and issubclass(self.adapter, ProviderAdapter)):
            raise TypeError(
                f"Provider.adapter must be a ProviderAdapter subclass, got {self.adapter!r}"
            )
        if inspect.isabstract(self.adapter):
            missing = ", ".join(sorted(self.adapter.__abstractmethods__))
            raise TypeError(
                f"{self.adapter.__name__} cannot be registered: it does not implement {missing}"
            )
        if not isinstance(self.name, str) or self.name != getattr(self.adapter, "name", None):
            raise ValueError(
                f"Provider.name must be the adapter's name "
                f"({getattr(self.adapter, 'name', None)!r}), got {self.name!r}"
            )
        model = self.cache_model
        if isinstance(model, str) and model.count(":") != 1:
            raise ValueError(
                f"Provider.cache_model must look like 'package.module:Class', got {model!r}"
            )
        if model is not None and not isinstance(model, str) and not callable(model):
            raise TypeError(f"Provider.cache_model must be a string or callable, got {model!r}")

    def parse_usage(self, response: Any) -> CacheUsage:
        """Read ``response``'s usage with the adapter's parser.

        Raises:
            UsageError: the usage report is malformed.
            TypeError: ``response`` is neither a mapping nor an object.

        >>> from stableprefix.adapters import get_provider
        >>> get_provider("openai").parse_usage(
        ...     {"usage": {"prompt_tokens": 2006, "completion_tokens": 300,
        ...                "prompt_tokens_details": {"cached_tokens": 1920}}}).cache_read_tokens
        1920
        """
        return self.adapter.parse_usage(response)

    def make_cache(self, model: str | None = None, **options: Any) -> Any:
        """A fresh cache model (``stableprefix.sim``) for ``model`` of this provider.

        Args:
            model: the model name (sets its minimum and prices).
            **options: passed to the cache model (e.g. ``machines=4``).

        Returns:
            The cache model.

        Raises:
            UnsupportedError: the provider has no cache model.

        >>> from stableprefix.adapters import get_provider
        >>> get_provider("gemini").make_cache("gemini-2.5-flash").min_tokens
        2048
        """
        factory = self.cache_model
        if factory is None:
            raise UnsupportedError(
                "no cache model is registered for this provider; pass cache_model= "
                "to register_provider",
                provider=self.name,
            )
        if isinstance(factory, str):
            module, _, attribute = factory.partition(":")
            factory = getattr(importlib.import_module(module), attribute)
        return factory(model, **options)


def register_provider(
    adapter: type[ProviderAdapter],
    *,
    cache_model: str | Callable[..., Any] | None = None,
    description: str = "",
    replace: bool = False,
) -> Provider:
    """Register ``adapter`` under its ``name`` so every part of the library finds it.

    Args:
        adapter: a complete ``ProviderAdapter`` subclass.
        cache_model: its simulator, as ``"module:Class"`` (imported when
            first used) or a callable ``(model, **options) -> cache model``.
        description: one line for listings.
        replace: allow replacing an existing registration of that name.

    Returns:
        The registered ``Provider``.

    Raises:
        TypeError: ``adapter`` is not a complete ``ProviderAdapter`` subclass.
        ValueError: the name is already registered (and ``replace`` is false).

    >>> from stableprefix.adapters import OpenAIAdapter, get_provider, register_provider
    >>> class AcmeAdapter(OpenAIAdapter):
    ...     name = "acme"
    >>> register_provider(AcmeAdapter, description="Acme chat API").name
    'acme'
    >>> get_provider("acme").adapter is AcmeAdapter
    True
    >>> unregister_provider("acme")
    """
    entry = Provider(
        name=getattr(adapter, "name", ""),
        adapter=adapter,
        cache_model=cache_model,
        description=description,
    )
    if entry.name in _REGISTRY and not replace:
        raise ValueError(
            f"a provider named {entry.name!r} is already registered "
            f"({_REGISTRY[entry.name].adapter.__name__}); pass replace=True to replace it"
        )
    _REGISTRY[entry.name] = entry
    return entry


def unregister_provider(name: str) -> None:
    """Remove a registration (for tests and plug-ins that undo themselves).

    Raises:
        UnknownProviderError: nothing is registered under ``name``.

    >>> unregister_provider("acme-missing")
    Traceback (most recent call last):
    ...
    stableprefix._errors.UnknownProviderError: no provider named 'acme-missing' ...
    """
    get_provider(name)
    del _REGISTRY[name]


def get_provider(name: str) -> Provider:
    """The provider registered under ``name``.

    Args:
        name: a provider name, e.g. ``"openai"``, ``"anthropic"``, ``"gemini"``.

    Returns:
        Its ``Provider`` entry.

    Raises:
        TypeError: ``name`` is not a string.
        UnknownProviderError: nothing is registered under ``name``.

    >>> get_provider("openai").adapter.__name__
    'OpenAIAdapter'
    """
    if not isinstance(name, str):
        raise TypeError(f"a provider name must be a str, got {type(name).__name__}")
    entry = _REGISTRY.get(name)
    if entry is None:
        raise UnknownProviderError(name, tuple(_REGISTRY))
    return entry


def providers() -> tuple[Provider, ...]:
    """Every registered provider, in registration order.

    >>> [p.name for p in providers()][:2]
    ['openai', 'openai_responses']
    """
    return tuple(_REGISTRY.values())


def default_adapter() -> ProviderAdapter:
    """A new adapter of the default provider (``DEFAULT_PROVIDER``).

    This is how the core gets its default adapter without importing any
    adapter module.

    Raises:
        UnknownProviderError: the default provider is not registered.

    >>> default_adapter().name
    'openai'
    """
    return get_provider(DEFAULT_PROVIDER).adapter()
