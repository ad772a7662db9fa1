"""The model registry: rows with sources, id resolution, family fallbacks, user rows."""

from __future__ import annotations

import json

import pytest

from stableprefix import AnthropicAdapter, StablePrefixError
from stableprefix.models import (
    CACHE_SEMANTICS,
    MODELS,
    ModelInfo,
    canonical_model_name,
    get_model,
    load_models,
)
from stableprefix.pricing import PRICES, UnknownModelError, estimate_cost, get_prices
from stableprefix.sim import cache_for_model

# Every current model of the three providers (Dec 2026) must have a row.
CURRENT = [
    "claude-sonnet-5-5",
    "claude-opus-5-5",
    "claude-haiku-5-5",
    "claude-fable-5-1",
    "claude-mythos-5-1",
    "claude-opus-5",
    "claude-sonnet-5",
    "claude-fable-5",
    "claude-mythos-5",
    "claude-opus-4-8",
    "claude-opus-4-7",
    "claude-opus-4-6",
    "claude-opus-4-5",
    "gpt-5.6-sol",
    "gpt-5.6-terra",
    "gpt-5.6-luna",
    "gpt-5.5",
    "gpt-5.4",
    "gemini-3.8-flash",
    "gemini-3.6-flash",
    "gemini-3.1-pro-preview",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
]


@pytest.mark.parametrize("name", CURRENT)
def test_current_models_have_rows_with_sources(name: str) -> None:
    info = MODELS[name]
    assert info.exact and info.name == name
    assert info.sources and all(s for s in info.sources)
    assert info.checked.startswith("2026-")
    assert info.cache_semantics in CACHE_SEMANTICS


def test_every_row_names_a_source_and_a_date() -> None:
    for info in MODELS.values():
        assert info.sources, info.name
        assert len(info.checked) == 10, info.name


def test_sonnet_5_5_is_the_documented_0_05x_and_512() -> None:
    # Model page: "The minimum cacheable prompt length is 512 tokens"; pricing
    # page: "Cache hits and refreshes on ... Claude Sonnet 5.5 are priced at 0.05x"
    # of its $2 input: $0.10.
    info = get_model("claude-sonnet-5-5")
    assert info.min_cache_tokens == 512
    assert info.read_multiplier == pytest.approx(0.05)
    assert info.prices is not None and info.prices.cache_read == pytest.approx(0.10)


def test_gpt_5_6_family_uses_breakpoints_and_30_minute_retention() -> None:
    # "GPT-5.6 and later model families cache exact prompt prefixes at cache
    # breakpoints"; "30m ... the only supported value" for prompt_cache_options.ttl.
    for name in ("gpt-5.6-sol", "gpt-5.6-terra", "gpt-5.6-luna", "gpt-5.6"):
        info = get_model(name)
        assert info.cache_semantics == "openai-breakpoints"
        assert info.retention == "30m"
        assert info.write_multipliers["30m"] == pytest.approx(1.25)
    for name in ("gpt-5.5", "gpt-5", "gpt-4o"):
        assert get_model(name).cache_semantics == "openai-prefix"


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5-latest", "claude-sonnet-4-5"),
        ("anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"),
        ("us.anthropic.claude-opus-4-8-v1:0", "claude-opus-4-8"),
        ("claude-opus-4-8@20260401", "claude-opus-4-8"),
        ("claude-opus-5-5[1m]", "claude-opus-5-5"),
        ("gpt-5.6", "gpt-5.6-sol"),
        ("openai/gpt-5.6-terra-2026-07-09", "gpt-5.6-terra"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("models/gemini-3.8-flash", "gemini-3.8-flash"),
        ("google/gemini-2.5-pro", "gemini-2.5-pro"),
    ],
)
def test_aliases_dates_and_prefixes_resolve(given: str, name: str) -> None:
    assert get_model(given).name == name
    assert get_model(given).exact


@pytest.mark.parametrize(
    ("given", "family", "minimum", "semantics"),
    [
        ("claude-opus-9", "claude", 4096, "anthropic"),
        ("claude-fable-7", "claude-fable", 512, "anthropic"),
        ("gpt-6.1-sol", "gpt-5.6+", 1024, "openai-breakpoints"),
        ("gpt-5.7-nova", "gpt-5.6+", 1024, "openai-breakpoints"),
        ("gpt-5.3-codex", "gpt-legacy", 1024, "openai-prefix"),
        ("o4-mini", "o-series", 1024, "openai-prefix"),
        ("gemini-5-ultra", "gemini-3+", 4096, "gemini-implicit"),
        ("gemini-2.0-flash", "gemini-2", 2048, "gemini-implicit"),
    ],
)
def test_unknown_ids_get_their_family_rules(
    given: str, family: str, minimum: int, semantics: str
) -> None:
    info = get_model(given)
    assert (info.exact, info.family, info.min_cache_tokens, info.cache_semantics) == (
        False,
        family,
        minimum,
        semantics,
    )
    assert info.prices is None and info.name == given


def test_unknown_ids_build_requests_but_cannot_be_priced() -> None:
    adapter = AnthropicAdapter(model="claude-opus-9")
    assert adapter.min_cache_tokens == 4096
    assert AnthropicAdapter(model="claude-opus-5-5").min_cache_tokens == 512
    assert AnthropicAdapter(model="my-proxy-model").min_cache_tokens == 4096
    assert AnthropicAdapter(model="claude-opus-9", min_cache_tokens=1024).min_cache_tokens == 1024
    assert type(cache_for_model("claude-opus-9")).__name__ == "AnthropicCache"
    with pytest.raises(UnknownModelError, match="claude family") as info:
        get_prices("claude-opus-9")
    assert isinstance(info.value, StablePrefixError)
    assert "claude-sonnet-5-5" in info.value.known


def test_an_id_no_family_knows_is_an_unknown_model() -> None:
    with pytest.raises(UnknownModelError) as info:
        get_model("llama-3-70b")
    assert info.value.model == "llama-3-70b"
    assert get_model("llama-3-70b", provider="openai").family == "gpt-legacy"
    with pytest.raises(ValueError, match="provider"):
        get_model("x", provider="acme")
    with pytest.raises(TypeError):
        get_model(3)  # type: ignore[arg-type]


def test_user_rows_extend_and_override_the_registry() -> None:
    rows = json.loads(
        json.dumps(
            [
                {
                    "name": "claude-sonnet-5-5",
                    "provider": "anthropic",
                    "cache_semantics": "anthropic",
                    "min_cache_tokens": 1024,
                    "input": 2.0,
                    "output": 10.0,
                    "multipliers": {"read": 0.1, "5m": 1.25, "1h": 2.0},
                    "sources": ["my contract"],
                    "checked": "2026-12-01",
                },
                {
                    "name": "house-model",
                    "provider": "local",
                    "cache_semantics": "local",
                    "min_cache_tokens": 0,
                    "input": 0.0,
                    "output": 0.0,
                },
            ]
        )
    )
    table = {**MODELS, **load_models(rows)}
    assert get_prices("claude-sonnet-5-5", table).cache_read == pytest.approx(0.2)
    assert get_model("house-model", table).provider == "local"
    assert get_prices("claude-sonnet-5-5").cache_read == pytest.approx(0.1)  # built-in untouched
    assert type(cache_for_model("house-model", table=table)).__name__ == "RadixCache"


def test_bad_rows_name_the_row() -> None:
    with pytest.raises(ValueError, match=r"model row 0 \('x'\)"):
        load_models([{"name": "x", "provider": "openai"}])
    with pytest.raises(ValueError, match="cache_semantics"):
        load_models(
            [{"name": "x", "provider": "openai", "cache_semantics": "magic", "min_cache_tokens": 1}]
        )
    with pytest.raises(ValueError, match="row 0 must be a mapping"):
        load_models(["gpt-5"])  # type: ignore[list-item]


def test_overrides_make_a_new_validated_record() -> None:
    info = get_model("gpt-5.6-sol")
    assert info.with_overrides(min_cache_tokens=2048).min_cache_tokens == 2048
    assert info.min_cache_tokens == 1024
    with pytest.raises(ValueError):
        info.with_overrides(min_cache_tokens=-1)
    with pytest.raises(TypeError):
        info.write_multipliers["30m"] = 2.0  # type: ignore[index]
    assert isinstance(info, ModelInfo)


def test_canonical_name_reports_the_prefix_provider() -> None:
    assert canonical_model_name("google/gemini-3.8-flash") == ("gemini-3.8-flash", "gemini")
    assert canonical_model_name("gpt-5") == ("gpt-5", None)


def test_prices_view_matches_the_registry() -> None:
    assert set(PRICES) == {n for n, i in MODELS.items() if i.prices is not None}
    from stableprefix import CacheUsage

    # Pricing a request on an unpriced but known model says so.
    with pytest.raises(UnknownModelError, match="no published price"):
        estimate_cost(CacheUsage(), get_prices("gpt-5.5"))
