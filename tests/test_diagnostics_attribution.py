"""attribute(): prefix changes vs provider rules, replayed through the cache models."""

from __future__ import annotations

from dataclasses import replace

import pytest

from diag_scenarios import BASE, render
from stableprefix import CacheUsage
from stableprefix.diagnostics import attribute


def _turns(fmt: str) -> list[dict]:
    t0 = replace(BASE, messages=(("user", "Q0"),))
    t1 = replace(BASE, messages=(("user", "Q0"), ("assistant", "A0"), ("user", "Q1")))
    t2 = replace(t1, system="Today is 2026-12-02.\n" + BASE.system)
    t3 = replace(t2, messages=(*t1.messages, ("assistant", "A1"), ("user", "Q2")))
    return [render(c, fmt) for c in (t0, t1, t2, t3)]


@pytest.mark.parametrize("fmt", ["anthropic", "openai", "openai_responses", "gemini"])
def test_prefix_changes_and_rules_are_told_apart(fmt):
    out = attribute(_turns(fmt), adapter=fmt, times=[0, 30, 60, 60 + 3600 * 25])
    assert [a.cause for a in out] == ["first_request", "no_change", "volatile_value", "ttl_expired"]
    first, append, bust, late = out
    assert first.expected_read == 0 and first.lost_to_prefix == 0
    assert append.expected_read > 0 and append.lost_to_prefix == 0
    assert append.lost_to_rules < 128  # OpenAI counts hits in 128-token steps
    assert bust.lost_to_prefix > 0 and bust.expected_read < append.expected_read
    # An ideal cache would still read turn 3's prefix; the provider's TTL made it a miss.
    assert late.ideal_read > 0 and late.expected_read == 0
    assert late.lost_to_rules == late.ideal_read and late.lost_to_prefix == 0


def test_below_minimum_is_a_rule_loss():
    reqs = [
        {"model": "gpt-5", "messages": [{"role": "user", "content": "Hi"}]},
        {
            "model": "gpt-5",
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "Bye"},
            ],
        },
    ]
    second = attribute(reqs, adapter="openai", times=[0, 1])[1]
    assert second.cause == "below_minimum"
    assert second.ideal_read > 0 and second.expected_read == 0
    assert second.lost_to_rules == second.ideal_read


def test_parallel_requests_and_observed_usage():
    reqs = _turns("anthropic")[:2]
    out = attribute(
        reqs,
        adapter="anthropic",
        times=[0, 1],
        answered=[2.0, None],
        usages=[None, CacheUsage(cache_read_tokens=0, uncached_input_tokens=10)],
    )
    assert out[1].cause == "parallel_requests"
    assert out[1].observed_read == 0 and out[1].shortfall == out[1].expected_read


def test_argument_checks():
    reqs = _turns("openai")[:2]
    with pytest.raises(ValueError, match="one per request"):
        attribute(reqs, adapter="openai", times=[0])
    with pytest.raises(ValueError, match="sort requests by time"):
        attribute(reqs, adapter="openai", times=[5, 1])
    with pytest.raises(TypeError, match=r"times\[1\]"):
        attribute(reqs, adapter="openai", times=[0, "1"])
    with pytest.raises(ValueError, match="usages has 1"):
        attribute(reqs, adapter="openai", times=[0, 1], usages=[None])
