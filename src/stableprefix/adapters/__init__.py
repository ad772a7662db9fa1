"""Provider adapters: wire formats, cache markers, token counting, usage.

Pick the adapter of the API you call and pass it to ``PromptConfig``:

>>> from stableprefix.adapters import AnthropicAdapter, OpenAIAdapter
>>> OpenAIAdapter().name, AnthropicAdapter().name
('openai', 'anthropic')

Every adapter is registered by its name, so the library (usage parsing, the
simulator, the benchmark) finds it without knowing the class:

>>> [p.name for p in providers()]
['openai', 'openai_responses', 'anthropic', 'gemini']
>>> get_provider("anthropic").parse_usage({"usage": {"input_tokens": 7,
...     "output_tokens": 1}}).input_tokens
7

To add a provider, write one module with a ``ProviderAdapter`` subclass
(every abstract method filled in), register it with ``register_provider``
(below, for a built-in one), and add it to the contract suite's formats
(``docs/design.md``, "Adding a provider").
"""

from .._adapter import Message, ProviderAdapter, RequestParts, TextCounter
from .._registry import (
    DEFAULT_PROVIDER,
    Provider,
    default_adapter,
    get_provider,
    providers,
    register_provider,
    unregister_provider,
)
from ._anthropic import AnthropicAdapter
from ._gemini import GeminiAdapter
from ._openai import OpenAIAdapter, derive_cache_key
from ._responses import OpenAIResponsesAdapter
from ._transformers import (
    ChatTokenizer,
    PrefixCheck,
    TransformersAdapter,
    cacheable_message_count,
)

__all__ = [
    "DEFAULT_PROVIDER",
    "AnthropicAdapter",
    "ChatTokenizer",
    "GeminiAdapter",
    "Message",
    "OpenAIAdapter",
    "OpenAIResponsesAdapter",
    "PrefixCheck",
    "Provider",
    "ProviderAdapter",
    "RequestParts",
    "TextCounter",
    "TransformersAdapter",
    "cacheable_message_count",
    "default_adapter",
    "derive_cache_key",
    "get_provider",
    "providers",
    "register_provider",
    "unregister_provider",
]

# The built-in providers: one entry each. The state's ``format`` field and
# ``get_provider`` use these names; cache models are imported when first used.
register_provider(
    OpenAIAdapter,
    cache_model="stableprefix.sim._factory:openai_cache",
    description="OpenAI Chat Completions (also llama.cpp, vLLM and SGLang servers)",
)
register_provider(
    OpenAIResponsesAdapter,
    cache_model="stableprefix.sim._factory:openai_cache",
    description="OpenAI Responses API",
)
register_provider(
    AnthropicAdapter,
    cache_model="stableprefix.sim:AnthropicCache",
    description="Anthropic Messages",
)
register_provider(
    GeminiAdapter,
    cache_model="stableprefix.sim:GeminiCache",
    description="Gemini generate_content",
)
