"""stableprefix: LLM requests whose cacheable prefix stays byte-stable.

>>> from stableprefix import PromptConfig, PromptManager
>>> pm = PromptManager(PromptConfig(static_system_prompt="You are terse."))
>>> pm.append({"role": "user", "content": "Hello"})
>>> pm.build_request()["messages"][0]["content"]
'You are terse.'
"""

from . import adapters, functional, models, pricing, response_cache, sim, stores, tokens
from ._blocks import CacheBlock, FlatRequest
from ._check import check_state
from ._compaction import CompactionEvent, truncate_oldest
from ._config import PromptConfig
from ._errors import (
    CacheMarkerError,
    ConflictError,
    ContextError,
    DiagnosticsError,
    HookError,
    InvalidConfigError,
    InvalidMessageError,
    InvalidStateError,
    LintError,
    PendingToolCallError,
    ReplayMissError,
    RequestKeyError,
    ResponseCacheError,
    SignatureError,
    StablePrefixError,
    StoreError,
    TokenCounterError,
    TransitionError,
    UnknownModelError,
    UnknownProviderError,
    UnsupportedError,
    UsageError,
)
from ._events import Event
from ._manager import PromptManager
from ._state import STATE_VERSION, State, dumps, loads, new_state
from ._usage import CacheUsage
from .adapters import (
    AnthropicAdapter,
    GeminiAdapter,
    OpenAIAdapter,
    OpenAIResponsesAdapter,
    ProviderAdapter,
    TransformersAdapter,
)
from .models import ModelInfo, get_model
from .pricing import ModelPrices, estimate_cost, get_prices
from .response_cache import ResponseCache, ResponseCacheStats
from .stores import AsyncPromptManager

__version__ = "0.1.0"

__all__ = [
    "STATE_VERSION",
    "AnthropicAdapter",
    "AsyncPromptManager",
    "CacheBlock",
    "CacheMarkerError",
    "CacheUsage",
    "CompactionEvent",
    "ConflictError",
    "ContextError",
    "DiagnosticsError",
    "Event",
    "FlatRequest",
    "GeminiAdapter",
    "HookError",
    "InvalidConfigError",
    "InvalidMessageError",
    "InvalidStateError",
    "LintError",
    "ModelInfo",
    "ModelPrices",
    "OpenAIAdapter",
    "OpenAIResponsesAdapter",
    "PendingToolCallError",
    "PromptConfig",
    "PromptManager",
    "ProviderAdapter",
    "ReplayMissError",
    "RequestKeyError",
    "ResponseCache",
    "ResponseCacheError",
    "ResponseCacheStats",
    "SignatureError",
    "StablePrefixError",
    "State",
    "StoreError",
    "TokenCounterError",
    "TransformersAdapter",
    "TransitionError",
    "UnknownModelError",
    "UnknownProviderError",
    "UnsupportedError",
    "UsageError",
    "__version__",
    "adapters",
    "check_state",
    "dumps",
    "estimate_cost",
    "functional",
    "get_model",
    "get_prices",
    "loads",
    "models",
    "new_state",
    "pricing",
    "response_cache",
    "sim",
    "stores",
    "tokens",
    "truncate_oldest",
]
