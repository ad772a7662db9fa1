"""What is worth storing: truncated, refused and sampled answers, per API.

Approach: each endpoint knows how its responses say "cut off by the token
limit" and "refused" (finish reasons, stop reasons, status fields, refusal
blocks), and which usage parser reads them. The cache asks ``verdict``
before storing anything. Field names were checked against the providers'
API references (Dec 2026): OpenAI Chat ``finish_reason`` ``length`` /
``content_filter`` and ``message.refusal``; Responses ``status``
``incomplete`` and ``refusal`` content parts; Anthropic ``stop_reason``
``max_tokens`` / ``refusal``; Gemini ``finishReason`` ``MAX_TOKENS`` and the
safety family.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ENDPOINTS", "Verdict", "is_sampled", "verdict"]

# endpoint name -> the provider name ``parse_usage`` knows it by
ENDPOINTS: dict[str, str | None] = {
    "any": None,
    "openai.chat": "openai",
    "openai.responses": "openai_responses",
    "anthropic.messages": "anthropic",
    "gemini.generate_content": "gemini",
}

_GEMINI_REFUSED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"}


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why an answer is (not) stored: ``"ok"``, ``"truncated"`` or ``"refused"``."""

    reason: str


def _get(obj: Any, *path: str | int) -> Any:
    for part in path:
        if isinstance(part, int):
            if not isinstance(obj, list) or len(obj) <= part:
                return None
            obj = obj[part]
        elif isinstance(obj, Mapping):
            obj = obj.get(part)
        else:
            return None
    return obj


def _openai_chat(body: Any) -> str:
    reasons = set()
    for choice in _get(body, "choices") or []:
        reasons.add(_get(choice, "finish_reason"))
        if _get(choice, "message", "refusal"):
            reasons.add("content_filter")
    if "content_filter" in reasons:
        return "refused"
    return "truncated" if "length" in reasons or None in reasons else "ok"


def _openai_responses(body: Any) -> str:
    for item in _get(body, "output") or []:
        for part in _get(item, "content") or []:
            if _get(part, "type") == "refusal":
                return "refused"
    if _get(body, "status") != "completed":
        reason = _get(body, "incomplete_details", "reason")
        return "refused" if reason == "content_filter" else "truncated"
    return "ok"


def _anthropic(body: Any) -> str:
    stop = _get(body, "stop_reason")
    if stop == "refusal":
        return "refused"
    return "truncated" if stop in ("max_tokens", "model_context_window_exceeded", None) else "ok"


def _gemini(body: Any) -> str:
    if _get(body, "prompt_feedback", "block_reason") or _get(body, "promptFeedback", "blockReason"):
        return "refused"
    candidates = _get(body, "candidates") or []
    if not candidates:
        return "refused"
    reason = _get(candidates, 0, "finish_reason") or _get(candidates, 0, "finishReason")
    if reason in _GEMINI_REFUSED:
        return "refused"
    return "truncated" if reason == "MAX_TOKENS" else "ok"


_CHECKS = {
    "openai.chat": _openai_chat,
    "openai.responses": _openai_responses,
    "anthropic.messages": _anthropic,
    "gemini.generate_content": _gemini,
}


def verdict(endpoint: str, body: Any) -> Verdict:
    """Classify a response (plain JSON) of ``endpoint``.

    >>> verdict("anthropic.messages", {"stop_reason": "max_tokens"}).reason
    'truncated'
    >>> verdict("openai.chat", {"choices": [{"finish_reason": "stop",
    ...     "message": {"refusal": None}}]}).reason
    'ok'
    >>> verdict("any", {"whatever": 1}).reason
    'ok'
    """
    check = _CHECKS.get(endpoint)
    return Verdict("ok" if check is None else check(body))


def is_sampled(request: Mapping[str, Any]) -> bool:
    """Whether a request samples (any temperature but 0, the providers' default included).

    >>> is_sampled({"temperature": 0}), is_sampled({}), is_sampled({"config": {"temperature": 0}})
    (False, True, False)
    """
    temperature = request.get("temperature")
    config = request.get("config")
    if temperature is None and config is not None:
        temperature = (
            config.get("temperature")
            if isinstance(config, Mapping)
            else getattr(config, "temperature", None)
        )
    return not (isinstance(temperature, (int, float)) and temperature == 0)
