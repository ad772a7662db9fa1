"""Cache simulators: predict what a provider's or engine's prompt cache does.

Every model turns a stream of ``FlatRequest`` objects (from
``adapter.flatten(request)``) sent at given times into one ``CacheUsage``
per request, the same type adapters parse from real responses, so a
simulated run and a live run are read alike. Models are pure: no clock, no
I/O, no randomness; time is the ``now`` you pass.

=========================  ===================================================
``AnthropicCache``         ``cache_control`` markers (explicit or automatic),
                           20-block lookback, TTLs
``OpenAIBreakpointCache``  GPT-5.6 and later: exact prefixes at breakpoints
``OpenAICache``            OpenAI before GPT-5.6: any prefix, 128-token steps
``GeminiCache``            implicit prefix caching above a per-model minimum
``VLLMCache``              16-token blocks with chained hashes, LRU
``RadixCache``             token-level radix tree (the ideal; an upper bound)
``LlamaCppCache``          llama.cpp server: slots, slot choice, RAM cache
=========================  ===================================================

``cache_for_model(model)`` picks the right one from the model registry.

>>> from stableprefix import PromptConfig, PromptManager, OpenAIAdapter
>>> from stableprefix.sim import OpenAICache, simulate
>>> pm = PromptManager(PromptConfig(static_system_prompt="Answer briefly. " * 400))
>>> timed = []
>>> for turn in range(3):
...     pm.append({"role": "user", "content": f"Question {turn}?"})
...     timed.append((OpenAIAdapter().flatten(pm.build_request()), 10.0 * turn))
...     pm.append({"role": "assistant", "content": f"Answer {turn}."})
>>> [u.cache_read_tokens > 0 for u in simulate(OpenAICache(model="gpt-5"), timed)]
[False, True, True]
"""

from .._blocks import settings_fingerprint
from ._anthropic import AnthropicCache
from ._automatic import GeminiCache, OpenAICache
from ._base import CacheModel, CacheRuleError, TimedRequest, simulate
from ._breakpoints import OpenAIBreakpointCache
from ._factory import cache_for_model
from ._local import LlamaCppCache, RadixCache, VLLMCache

__all__ = [
    "AnthropicCache",
    "CacheModel",
    "CacheRuleError",
    "GeminiCache",
    "LlamaCppCache",
    "OpenAIBreakpointCache",
    "OpenAICache",
    "RadixCache",
    "TimedRequest",
    "VLLMCache",
    "cache_for_model",
    "settings_fingerprint",
    "simulate",
]
