"""Request settings that invalidate a provider's cache, for ``FlatRequest.settings``.

Approach: each table maps a request field (a dotted path into the request
JSON) to the scope from which a change invalidates the cached prefix:
``"tools"`` (the whole prompt), ``"system"`` or ``"messages"``. ``flatten``
fingerprints the fields present in a request, one fingerprint per scope, so
the simulator treats a changed setting exactly as a changed byte at the
start of that scope. Only documented settings are listed:

- Anthropic, prompt caching guide, "What invalidates the cache" table
  (platform.claude.com/docs/en/build-with-claude/prompt-caching, read
  2026-12-01): "Tool choice ✓ ✓ ✘" (tools and system entries stay valid,
  message entries do not); "Thinking parameters ... ✘" for messages; "Effort
  setting ... always invalidates message blocks" (``output_config.effort``).
- OpenAI, prompt caching guide (platform.openai.com/docs/guides/
  prompt-caching, 2026-09-26 copy): "Settings that affect the cached prefix
  include tools, parallel_tool_calls, text.format, reasoning.effort and
  text.verbosity"; they are rendered ahead of the conversation, so a change
  invalidates everything. Chat Completions names them ``response_format``,
  ``reasoning_effort`` and ``verbosity``. Local engines are not covered
  (these fields do not reach their chat templates).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._blocks import settings_fingerprint

__all__ = ["ANTHROPIC", "OPENAI_CHAT", "OPENAI_RESPONSES", "request_settings"]

ANTHROPIC: dict[str, str] = {
    "tool_choice": "messages",
    "thinking": "messages",
    "output_config.effort": "messages",
}
OPENAI_CHAT: dict[str, str] = {
    "parallel_tool_calls": "tools",
    "response_format": "tools",
    "reasoning_effort": "tools",
    "verbosity": "tools",
}
OPENAI_RESPONSES: dict[str, str] = {
    "parallel_tool_calls": "tools",
    "text.format": "tools",
    "text.verbosity": "tools",
    "reasoning.effort": "tools",
}

_MISSING = object()


def _get(request: Mapping[str, Any], path: str) -> Any:
    value: Any = request
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def request_settings(
    request: Mapping[str, Any], table: Mapping[str, str]
) -> tuple[tuple[str, str], ...]:
    """The ``(scope, fingerprint)`` pairs of the settings of ``table`` that ``request`` sets.

    Args:
        request: a request as the adapter builds or the caller sends it.
        table: field path -> scope (``ANTHROPIC``, ``OPENAI_CHAT``, ...).

    Returns:
        One pair per scope with a field present, in scope order; ``()`` when
        none is set (so requests without settings flatten as before).

    >>> a = request_settings({"tool_choice": {"type": "auto"}}, ANTHROPIC)
    >>> b = request_settings({"tool_choice": {"type": "any"}}, ANTHROPIC)
    >>> a[0][0], a == b, request_settings({}, ANTHROPIC)
    ('messages', False, ())
    """
    by_scope: dict[str, dict[str, Any]] = {}
    for path, scope in table.items():
        value = _get(request, path)
        if value is not _MISSING:
            by_scope.setdefault(scope, {})[path] = value
    order = ("tools", "system", "messages")
    return tuple(
        (scope, settings_fingerprint(by_scope[scope])) for scope in order if scope in by_scope
    )
