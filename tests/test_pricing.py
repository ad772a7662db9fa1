"""The price table, lookups and cost arithmetic."""

from __future__ import annotations

import pytest

from stableprefix import CacheUsage, StablePrefixError
from stableprefix.models import get_model
from stableprefix.pricing import (
    PRICES,
    ModelPrices,
    UnknownModelError,
    estimate_cost,
    estimate_savings,
    estimate_uncached_cost,
    get_prices,
)

REQUIRED = [
    "claude-opus-4-5",
    "claude-sonnet-4-5",
    "claude-haiku-4-5",
    "gpt-5",
    "gpt-5-mini",
    "gpt-4.1",
    "gpt-4o",
    "gpt-4o-mini",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
]


@pytest.mark.parametrize("name", REQUIRED)
def test_required_models_are_in_the_table(name: str) -> None:
    p = get_prices(name)
    assert p.cache_read < p.input < p.output or p.provider == "openai"
    assert p.min_cache_tokens in (512, 1024, 2048, 4096)


# Published prices, per million tokens, copied from the providers' pages
# (not computed from multipliers): (input, 5m write, 1h write, read, output).
# Anthropic pricing page and model pages, fetched 2026-10-07..10:
# Sonnet 5.5 "Cache read $0.10" after the 2026-10-07 cut ("Cache hits and
# refreshes on Claude Opus 5.5 and Claude Sonnet 5.5 are priced at 0.05x");
# "Claude Fable 5.1 and Claude Mythos 5.1 are priced at 0.025x".
PUBLISHED_CLAUDE = {
    "claude-sonnet-5-5": (2.0, 2.50, 4.0, 0.10, 10.0),
    "claude-opus-5-5": (4.0, 5.0, 8.0, 0.20, 20.0),
    "claude-opus-5": (5.0, 6.25, 10.0, 0.50, 25.0),
    "claude-sonnet-5": (2.0, 2.50, 4.0, 0.20, 10.0),
    "claude-fable-5": (10.0, 12.50, 20.0, 1.0, 50.0),
    "claude-fable-5-1": (10.0, 12.50, 20.0, 0.25, 50.0),
    "claude-haiku-5-5": (0.10, 0.125, 0.20, 0.01, 0.50),
    "claude-opus-4-5": (5.0, 6.25, 10.0, 0.50, 25.0),
    "claude-sonnet-4-5": (3.0, 3.75, 6.0, 0.30, 15.0),
    "claude-haiku-4-5": (1.0, 1.25, 2.0, 0.10, 5.0),
    "claude-3-haiku": (0.25, 0.30, 0.50, 0.03, 1.25),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_CLAUDE))
def test_claude_prices_match_the_published_ones(name: str) -> None:
    inp, w5, w1, read, out = PUBLISHED_CLAUDE[name]
    p = get_prices(name)
    assert (p.input, p.cache_write_5m, p.cache_write_1h, p.cache_read, p.output) == (
        pytest.approx(inp),
        pytest.approx(w5),
        pytest.approx(w1),
        pytest.approx(read),
        pytest.approx(out),
    )


def test_documented_minimums() -> None:
    # Anthropic prompt-caching page: "512 tokens for Claude Fable 5.1, Claude
    # Mythos 5.1, Claude Opus 5.5, Claude Opus 5, Claude Sonnet 5.5, ...";
    # "1,024 tokens for Claude Opus 4.8, Claude Sonnet 5, ..."; Opus 4.7 2,048;
    # "4,096 tokens for Claude Opus 4.6 and Claude Opus 4.5"; Haiku 4.5 4,096.
    expected = {
        "claude-sonnet-5-5": 512,
        "claude-opus-5-5": 512,
        "claude-opus-5": 512,
        "claude-fable-5-1": 512,
        "claude-sonnet-5": 1024,
        "claude-opus-4-8": 1024,
        "claude-opus-4-7": 2048,
        "claude-sonnet-4-5": 1024,
        "claude-haiku-4-5": 4096,
        "claude-opus-4-5": 4096,
        "claude-3-5-haiku": 2048,
        # OpenAI: "1,024 tokens is a strict minimum" on GPT-5.6 and later.
        "gpt-5.6-sol": 1024,
        # Gemini caching page: 3.x families 4,096, 2.5 Flash / Pro 2,048.
        "gemini-3.8-flash": 4096,
        "gemini-2.5-flash": 2048,
        "gemini-2.5-pro": 2048,
    }
    assert {n: get_model(n).min_cache_tokens for n in expected} == expected
    assert all(p.min_cache_tokens == 1024 for p in PRICES.values() if p.provider == "openai")


def test_legacy_openai_and_gemini_do_not_charge_writes() -> None:
    # "Cache writes have no additional fee on models before the GPT-5.6 family."
    for name in ("gpt-5", "gpt-4.1", "gpt-4o", "gemini-2.5-flash", "gemini-3.8-flash"):
        p = get_prices(name)
        assert not p.charges_writes
        assert p.write_price("5m") == p.input


def test_gpt_5_6_writes_cost_a_quarter_more() -> None:
    # OpenAI pricing (2026-08-11): gpt-5.6-sol $5 / cached $0.50 / write $6.25 /
    # output $30; terra $2 / $0.20 / $2.50 / $12; luna $0.20 / $0.02 / $0.25 / $1.20.
    published = {
        "gpt-5.6-sol": (5.0, 0.50, 6.25, 30.0),
        "gpt-5.6-terra": (2.0, 0.20, 2.50, 12.0),
        "gpt-5.6-luna": (0.20, 0.02, 0.25, 1.20),
    }
    for name, (inp, read, write, out) in published.items():
        p = get_prices(name)
        assert (p.input, p.cache_read, p.write_price("30m"), p.output) == (
            pytest.approx(inp),
            pytest.approx(read),
            pytest.approx(write),
            pytest.approx(out),
        )
        assert p.write_multiplier("30m") == pytest.approx(1.25)


def test_long_context_tiers_price_the_whole_request() -> None:
    # Haiku 5.5: "a prompt over 100,000 tokens pays $0.50 input / $2.50 output
    # ... on every token of that request" (pricing page).
    p = get_prices("claude-haiku-5-5")
    short = CacheUsage(uncached_input_tokens=100_000, output_tokens=1_000_000)
    long = CacheUsage(uncached_input_tokens=100_001, output_tokens=1_000_000)
    assert estimate_cost(short, p) == pytest.approx(100_000 * 0.10 / 1e6 + 0.50)
    assert estimate_cost(long, p) == pytest.approx(100_001 * 0.50 / 1e6 + 2.50)
    # GPT-5.6 above 272k input tokens: 2x input, 1.5x output (pricing page).
    sol = get_prices("gpt-5.6-sol").for_prompt(272_001)
    assert (sol.input, sol.output, sol.cache_read) == (10.0, 45.0, 1.0)


def test_dated_names_resolve_to_their_base_entry() -> None:
    assert get_prices("claude-sonnet-4-5-20250929") is PRICES["claude-sonnet-4-5"]
    assert get_prices("gpt-4o-2024-08-06") is PRICES["gpt-4o"]
    assert get_prices("gpt-4o-mini-2024-07-18") is PRICES["gpt-4o-mini"]


def test_a_version_suffix_is_not_mistaken_for_a_date() -> None:
    # gpt-5.1 is a model of its own (rules known, no price published here).
    assert get_model("gpt-5.1").name == "gpt-5.1"
    with pytest.raises(UnknownModelError, match="no published price"):
        get_prices("gpt-5.1")


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(UnknownModelError) as info:
        get_prices("claude-7")
    err = info.value
    assert isinstance(err, StablePrefixError)
    assert err.model == "claude-7"
    assert "gpt-4o" in str(err) and "table=" in str(err)


def test_a_custom_table_extends_the_builtin_one() -> None:
    mine = ModelPrices(provider="local", min_cache_tokens=0, input=0.0, cache_read=0.0, output=0.0)
    table = {**PRICES, "my-llama": mine}
    assert get_prices("my-llama", table) is mine
    with pytest.raises(UnknownModelError):
        get_prices("my-llama")


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        PRICES["x"] = PRICES["gpt-5"]  # type: ignore[index]


def test_cost_with_every_kind_of_token() -> None:
    p = get_prices("claude-sonnet-4-5")  # 3 / 3.75 / 6 / 0.30 / 15 per million
    u = CacheUsage(
        cache_read_tokens=1_000_000,
        cache_write_tokens=3_000_000,
        cache_write_1h_tokens=1_000_000,
        uncached_input_tokens=1_000_000,
        output_tokens=1_000_000,
    )
    assert estimate_cost(u, p) == pytest.approx(0.30 + 2 * 3.75 + 6.0 + 3.0 + 15.0)
    # five million input tokens (1M read + 3M written + 1M uncached) at $3
    assert estimate_uncached_cost(u, p) == pytest.approx(5 * 3.0 + 15.0)
    assert estimate_savings(u, p) == pytest.approx(30.0 - 31.8)


def test_free_writes_cost_the_input_price() -> None:
    p = get_prices("gpt-4.1")
    u = CacheUsage(cache_write_tokens=1000, cache_read_tokens=1000)
    assert estimate_cost(u, p) == pytest.approx((1000 * 2.0 + 1000 * 0.5) / 1e6)


def test_a_miss_with_writes_costs_more_than_no_cache() -> None:
    p = get_prices("claude-opus-4-5")
    assert estimate_savings(CacheUsage(cache_write_tokens=5000), p) < 0
    assert estimate_savings(CacheUsage(cache_read_tokens=5000), p) > 0


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("provider", "acme", ValueError),
        ("min_cache_tokens", -1, ValueError),
        ("input", -0.5, ValueError),
        ("input", "cheap", TypeError),
        ("cache_write_1h", float("nan"), ValueError),
    ],
)
def test_bad_model_prices_are_rejected(field: str, value: object, error: type) -> None:
    kw: dict[str, object] = dict(
        provider="openai", min_cache_tokens=1024, input=1.0, cache_read=0.1, output=2.0
    )
    kw[field] = value
    with pytest.raises(error, match=field):
        ModelPrices(**kw)  # type: ignore[arg-type]


def test_wrong_argument_types() -> None:
    with pytest.raises(TypeError):
        estimate_cost({"cache_read_tokens": 1}, PRICES["gpt-5"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        estimate_cost(CacheUsage(), "gpt-5")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        get_prices(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        PRICES["gpt-5"].write_price("24h")


def test_a_benchmark_run_prices_each_request_in_its_own_tier() -> None:
    # Two 80k-token prompts on Claude Haiku 5.5 stay under its 100k tier even
    # though together they exceed it: "Each turn is priced on its own".
    from stableprefix.benchmark._score import score

    u = CacheUsage(uncached_input_tokens=80_000)
    run = score(
        workload="w",
        strategy="s",
        provider="anthropic",
        model="claude-haiku-5-5",
        usages=[u, u],
        ideal=[0, 0],
        conversations=["c", "c"],
        times=[0.0, 1.0],
    )
    assert run.cost == pytest.approx(2 * 80_000 * 0.10 / 1e6)
    assert run.cost_uncached == pytest.approx(2 * 80_000 * 0.10 / 1e6)
