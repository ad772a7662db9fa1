"""Provider adapters: wire formats, cache markers, token counting.

Pick the adapter of the API you call and pass it to ``PromptConfig``:

>>> from stableprefix.adapters import AnthropicAdapter, OpenAIAdapter
>>> OpenAIAdapter().name, AnthropicAdapter().name
('openai', 'anthropic')
"""

from ._anthropic import AnthropicAdapter
from ._base import Message, ProviderAdapter, RequestParts
from ._openai import OpenAIAdapter

__all__ = [
    "AnthropicAdapter",
    "Message",
    "OpenAIAdapter",
    "ProviderAdapter",
    "RequestParts",
]
