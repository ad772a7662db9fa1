"""Provider adapters: wire formats, cache markers, token counting, usage.

Pick the adapter of the API you call and pass it to ``PromptConfig``:

>>> from stableprefix.adapters import AnthropicAdapter, OpenAIAdapter
>>> OpenAIAdapter().name, AnthropicAdapter().name
('openai', 'anthropic')
"""

from ._anthropic import AnthropicAdapter
from ._base import Message, ProviderAdapter, RequestParts, TextCounter
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
    "AnthropicAdapter",
    "ChatTokenizer",
    "GeminiAdapter",
    "Message",
    "OpenAIAdapter",
    "OpenAIResponsesAdapter",
    "PrefixCheck",
    "ProviderAdapter",
    "RequestParts",
    "TextCounter",
    "TransformersAdapter",
    "cacheable_message_count",
    "derive_cache_key",
]
