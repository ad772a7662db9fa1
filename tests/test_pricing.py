"""The price table, lookups and cost arithmetic."""

from __future__ import annotations

import pytest

from stableprefix import CacheUsage, StablePrefixError
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


def test_anthropic_multipliers_hold_for_every_claude_model() -> None:
    for name, p in PRICES.items():
        if p.provider != "anthropic":
            continue
        assert p.cache_write_5m == pytest.approx(p.input * 1.25), name
        assert p.cache_write_1h == pytest.approx(p.input * 2), name
        assert p.cache_read == pytest.approx(p.input * 0.1), name


def test_documented_minimums() -> None:
    assert get_prices("claude-sonnet-4-5").min_cache_tokens == 1024
    assert get_prices("claude-haiku-4-5").min_cache_tokens == 4096
    assert get_prices("claude-opus-4-5").min_cache_tokens == 4096
    assert get_prices("claude-3-5-haiku").min_cache_tokens == 2048
    assert all(p.min_cache_tokens == 1024 for p in PRICES.values() if p.provider == "openai")


def test_openai_and_gemini_do_not_charge_writes() -> None:
    for p in PRICES.values():
        if p.provider in ("openai", "gemini"):
            assert not p.charges_writes
            assert p.write_price("5m") == p.input


def test_dated_names_resolve_to_their_base_entry() -> None:
    assert get_prices("claude-sonnet-4-5-20250929") is PRICES["claude-sonnet-4-5"]
    assert get_prices("gpt-4o-2024-08-06") is PRICES["gpt-4o"]
    assert get_prices("gpt-4o-mini-2024-07-18") is PRICES["gpt-4o-mini"]


def test_a_version_suffix_is_not_mistaken_for_a_date() -> None:
    with pytest.raises(UnknownModelError):
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
