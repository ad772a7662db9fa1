"""Provider cache diagnostics: request fields, parsing, reconciliation with explain()."""

from __future__ import annotations

import pytest

from diag_scenarios import SCENARIOS, requests
from stableprefix import DiagnosticsError
from stableprefix.diagnostics import (
    ProviderDiagnosis,
    explain,
    parse_diagnostics,
    reconcile,
    request_diagnostics,
)

BY_NAME = {s.name: s for s in SCENARIOS}


def _anthropic(kind: str, missed: int | None = 1200) -> dict:
    reason: dict = {"type": kind}
    if missed is not None:
        reason["cache_missed_input_tokens"] = missed
    return {"id": "msg_2", "diagnostics": {"cache_miss_reason": reason}}


def test_request_fields_are_added_to_a_copy():
    req = {"model": "m", "messages": []}
    out = request_diagnostics(req, "anthropic", None)
    assert out["diagnostics"] == {"previous_message_id": None} and "diagnostics" not in req
    resp = request_diagnostics(
        {"input": [], "prompt_cache_options": {"mode": "explicit"}}, "openai_responses", "resp_9"
    )
    assert resp["prompt_cache_options"] == {"mode": "explicit", "comparison_response_id": "resp_9"}
    with pytest.raises(DiagnosticsError, match="gemini offers no cache diagnostics"):
        request_diagnostics({}, "gemini", "x")


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (_anthropic("system_changed"), ("anthropic", "miss", "system_changed", 1200)),
        (
            _anthropic("previous_message_not_found", None),
            ("anthropic", "not_found", "previous_message_not_found", None),
        ),
        ({"diagnostics": {"cache_miss_reason": None}}, ("anthropic", "pending", None, None)),
        (
            {
                "prompt_cache_diagnostics": {
                    "type": "cache_miss",
                    "reason": "tools_changed",
                    "cache_missed_tokens": 2048,
                    "comparison_reusable_tokens": 4096,
                }
            },
            ("openai", "miss", "tools_changed", 2048),
        ),
        ({"prompt_cache_diagnostics": {"type": "cache_hit"}}, ("openai", "hit", "cache_hit", None)),
    ],
)
def test_parse(response, expected):
    d = parse_diagnostics(response)
    assert (d.provider, d.status, d.reason, d.missed_tokens) == expected


def test_parse_none_and_malformed():
    assert parse_diagnostics({"usage": {}}) is None
    with pytest.raises(DiagnosticsError, match=r"\$\.diagnostics\.cache_miss_reason"):
        parse_diagnostics({"diagnostics": {"cache_miss_reason": "system"}})
    with pytest.raises(DiagnosticsError, match=r"\$\.prompt_cache_diagnostics"):
        parse_diagnostics({"prompt_cache_diagnostics": []})
    with pytest.raises(TypeError):
        parse_diagnostics(42)


@pytest.mark.parametrize(
    ("scenario", "reason", "agreement"),
    [
        ("timestamp_in_system", "system_changed", "agree"),
        ("tools_reordered", "tools_changed", "agree"),
        ("model_changed", "model_changed", "agree"),
        ("history_rewritten", "messages_changed", "agree"),
        ("tool_choice_changed", "messages_changed", "agree"),
        ("timestamp_in_system", "tools_changed", "disagree"),
        ("no_change_append", "system_changed", "disagree"),
    ],
)
def test_reconcile_with_anthropic(scenario, reason, agreement):
    prev, cur = requests(BY_NAME[scenario], "anthropic")
    e = reconcile(explain(prev, cur, adapter="anthropic"), _anthropic(reason))
    assert e.agreement == agreement
    assert f"anthropic says: {reason}" in e.text()


def test_reconcile_with_openai_input_changed_and_hits():
    prev, cur = requests(BY_NAME["timestamp_in_system"], "openai_responses")
    e = explain(prev, cur, adapter="openai_responses")
    miss = {
        "prompt_cache_diagnostics": {
            "type": "cache_miss",
            "reason": "input_changed",
            "cache_missed_tokens": 4000,
        }
    }
    assert reconcile(e, miss).agreement == "agree"
    hit = ProviderDiagnosis(provider="openai", status="hit", reason="cache_hit")
    assert reconcile(e, hit).agreement == "disagree"
    same = explain(cur, cur, adapter="openai_responses")
    assert reconcile(same, hit).agreement == "agree"
    pending = {"diagnostics": {"cache_miss_reason": None}}
    assert reconcile(e, pending).agreement == "pending"
    assert reconcile(e, {"usage": {}}) is e
