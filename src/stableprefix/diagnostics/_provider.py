"""The providers' own cache diagnostics: ask for them, read them, reconcile them with ours.

Approach: Anthropic and OpenAI (Responses, GPT-5.6+) compare a request with
an earlier one by response id and say *that* the structure changed and in
which part. ``request_diagnostics`` adds the opt-in field to a request
(pure: a new dict), ``parse_diagnostics`` reads the answer from a response
(SDK object or JSON) into one ``ProviderDiagnosis``, and ``reconcile``
attaches it to our ``Explanation`` with a verdict: agreement when both
place the first change in the same part of the request, disagreement
otherwise.

The adapters send the same fields themselves when built with
``provider_diagnostics=True``; ``request_diagnostics`` is for requests built
elsewhere.

Shapes (checked 2026-12-01; the Anthropic status again 2026-12-02):
- Anthropic, "Cache diagnostics" (platform.claude.com/docs/en/build-with-
  claude/cache-diagnostics; generally available, the beta header
  ``cache-diagnosis-2026-04-07`` is no longer needed) and the SDK's
  ``Diagnostics`` (``messages.create(diagnostics=...)``, anthropic 2.12): the
  object on every request is the opt-in (a fingerprint is kept only for
  requests that carry it), request
  ``diagnostics: {"previous_message_id": id | null}``; response
  ``diagnostics.cache_miss_reason``: ``null`` while pending, else
  ``{"type": "model_changed" | "system_changed" | "tools_changed" |
  "messages_changed", "cache_missed_input_tokens": n}`` or
  ``{"type": "previous_message_not_found" | "unavailable"}``.
- OpenAI, "Prompt cache diagnostics" (developers.openai.com/api/docs/guides/
  prompt-caching/diagnostics) and the SDK's ``PromptCacheDiagnostics``:
  request ``prompt_cache_options.comparison_response_id``; response
  ``prompt_cache_diagnostics``: ``{"type": "cache_miss", "reason": ...,
  "cache_missed_tokens": n, "comparison_reusable_tokens": n}``, or
  ``{"type": "cache_hit" | "comparison_response_not_found" | "unavailable"}``
  (the openai SDK's ``Response.prompt_cache_diagnostics`` types).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .._errors import DiagnosticsError
from ._report import Explanation, ProviderDiagnosis

__all__ = ["ProviderDiagnosis", "parse_diagnostics", "reconcile", "request_diagnostics"]


def request_diagnostics(
    request: Mapping[str, Any], provider: str, previous_response_id: str | None
) -> dict[str, Any]:
    """A copy of ``request`` that asks the provider for its cache diagnostics.

    Args:
        request: the request as it would be sent.
        provider: ``"anthropic"`` or ``"openai_responses"``.
        previous_response_id: the id of the response to compare with
            (``None`` on a conversation's first request opts in on Anthropic).

    Returns:
        A new dict; ``request`` is not changed.

    Raises:
        DiagnosticsError: the provider offers no such diagnostics.

    >>> request_diagnostics({"messages": []}, "anthropic", "msg_1")["diagnostics"]
    {'previous_message_id': 'msg_1'}
    >>> request_diagnostics({"input": []}, "openai_responses", "resp_1")["prompt_cache_options"]
    {'comparison_response_id': 'resp_1'}
    """
    out = dict(request)
    if provider == "anthropic":
        out["diagnostics"] = {"previous_message_id": previous_response_id}
        return out
    if provider == "openai_responses":
        if previous_response_id is not None:
            options = dict(out.get("prompt_cache_options") or {})
            options["comparison_response_id"] = previous_response_id
            out["prompt_cache_options"] = options
        return out
    raise DiagnosticsError(
        f"{provider} offers no cache diagnostics; Anthropic and OpenAI Responses do",
        path="provider",
    )


def _plain(response: Any) -> Mapping[str, Any]:
    if isinstance(response, Mapping):
        return response
    dump = getattr(response, "model_dump", None)
    if callable(dump):
        data = dump()
        if isinstance(data, Mapping):
            return data
    raise TypeError(f"a response must be a dict or an SDK object, got {type(response).__name__}")


def _tokens(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_diagnostics(response: Any) -> ProviderDiagnosis | None:
    """Read a response's cache diagnostics (``None`` when it carries none).

    Args:
        response: an Anthropic or OpenAI Responses response (SDK object or JSON).

    Returns:
        The ``ProviderDiagnosis``, or ``None``.

    Raises:
        TypeError: ``response`` is neither a dict nor an SDK object.
        DiagnosticsError: the diagnostics field has an unexpected shape.

    >>> parse_diagnostics({"diagnostics": {"cache_miss_reason": {
    ...     "type": "system_changed", "cache_missed_input_tokens": 4100}}}).reason
    'system_changed'
    """
    data = _plain(response)
    if "diagnostics" in data and data["diagnostics"] is not None:
        diag = data["diagnostics"]
        if not isinstance(diag, Mapping):
            raise DiagnosticsError("must be an object", path="$.diagnostics")
        reason = diag.get("cache_miss_reason")
        if reason is None:
            return ProviderDiagnosis(provider="anthropic", status="pending")
        if not isinstance(reason, Mapping) or not isinstance(reason.get("type"), str):
            raise DiagnosticsError("needs a type", path="$.diagnostics.cache_miss_reason")
        kind = str(reason["type"])
        status = {"previous_message_not_found": "not_found", "unavailable": "unavailable"}
        return ProviderDiagnosis(
            provider="anthropic",
            status=status.get(kind, "miss"),
            reason=kind,
            missed_tokens=_tokens(reason.get("cache_missed_input_tokens")),
        )
    diag = data.get("prompt_cache_diagnostics")
    if diag is None:
        return None
    if not isinstance(diag, Mapping) or not isinstance(diag.get("type"), str):
        raise DiagnosticsError("needs a type", path="$.prompt_cache_diagnostics")
    kind = str(diag["type"])
    if kind == "cache_miss":
        reason = diag.get("reason")
        return ProviderDiagnosis(
            provider="openai",
            status="miss",
            reason=reason if isinstance(reason, str) else None,
            missed_tokens=_tokens(diag.get("cache_missed_tokens")),
        )
    status = {"cache_hit": "hit", "comparison_response_not_found": "not_found"}
    return ProviderDiagnosis(provider="openai", status=status.get(kind, "unavailable"), reason=kind)


def reconcile(explanation: Explanation, response: Any) -> Explanation:
    """Attach the provider's diagnosis to ``explanation`` and say whether they agree.

    Agreement: both found no change, or both place the first change in the
    same part of the request (model, tools, system, messages). A pending,
    unavailable or not-found answer is shown but neither agrees nor
    disagrees.

    Args:
        explanation: from ``explain``.
        response: the response to the current request, or a ``ProviderDiagnosis``.

    Returns:
        A new ``Explanation`` with ``provider_diagnosis`` and ``agreement`` set.

    >>> from stableprefix.diagnostics import explain
    >>> req = {"model": "claude-sonnet-4-5", "system": "Be brief.", "messages": []}
    >>> e = explain(req, {**req, "system": "Be terse."}, adapter="anthropic")
    >>> reconcile(e, {"diagnostics": {"cache_miss_reason": {
    ...     "type": "system_changed", "cache_missed_input_tokens": 3}}}).agreement
    'agree'
    """
    diag = response if isinstance(response, ProviderDiagnosis) else parse_diagnostics(response)
    if diag is None:
        return explanation
    if diag.status in ("pending", "unavailable", "not_found"):
        verdict = diag.status
    elif diag.status == "hit":
        verdict = "agree" if explanation.divergence is None else "disagree"
    else:
        ours = explanation.divergence.area if explanation.divergence is not None else None
        verdict = "agree" if ours is not None and ours in diag.areas else "disagree"
    return replace(explanation, provider_diagnosis=diag, agreement=verdict)
