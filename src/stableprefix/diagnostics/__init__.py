"""Cache-break diagnostics: why a request missed the provider's prompt cache.

``explain(previous, current, adapter=...)`` compares two requests in the
provider's cache order and says where they first differ, how many cached
tokens were lost and what that cost, the cause, and one fix per cause.

>>> from stableprefix.diagnostics import explain
>>> prev = {"model": "gpt-5", "messages": [
...     {"role": "system", "content": "Now: 2026-12-01T10:00:00Z. " + "Be exact. " * 400},
...     {"role": "user", "content": "Hi"}]}
>>> cur = {"model": "gpt-5", "messages": [
...     {"role": "system", "content": "Now: 2026-12-01T10:05:00Z. " + "Be exact. " * 400},
...     {"role": "user", "content": "Hi"}]}
>>> e = explain(prev, cur, adapter="openai")
>>> e.cause, e.divergence.path, e.reusable_tokens
('volatile_value', '$.messages[0].content[0]', 0)
"""

from ._attribution import Attribution, attribute
from ._cli import main
from ._explain import explain
from ._lint import Finding, lint
from ._monitor import CacheBustEvent, CacheBustWarning, CacheMonitor, MonitorStats
from ._provider import parse_diagnostics, reconcile, request_diagnostics
from ._report import Cause, Divergence, Explanation, ProviderDiagnosis
from ._rules import CacheRules, rules_for
from ._volatile import VolatileValue, find_volatile

__all__ = [
    "Attribution",
    "CacheBustEvent",
    "CacheBustWarning",
    "CacheMonitor",
    "CacheRules",
    "Cause",
    "Divergence",
    "Explanation",
    "Finding",
    "MonitorStats",
    "ProviderDiagnosis",
    "VolatileValue",
    "attribute",
    "explain",
    "find_volatile",
    "lint",
    "main",
    "parse_diagnostics",
    "reconcile",
    "request_diagnostics",
    "rules_for",
]
