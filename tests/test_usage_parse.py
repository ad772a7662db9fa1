"""Usage parsing: every provider's report, as SDK objects and as JSON, whole or in part."""

from __future__ import annotations

from typing import Any

import pytest

from stableprefix import CacheUsage, StablePrefixError, UnknownProviderError, UsageError
from stableprefix.adapters import get_provider, providers
from stableprefix.adapters._usage_parse import (
    anthropic_usage,
    gemini_usage,
    openai_chat_usage,
    openai_responses_usage,
)

# ------------------------------------------------------------------ Anthropic


def test_anthropic_splits_reads_writes_and_the_uncached_tail() -> None:
    usage = {
        "input_tokens": 50,
        "cache_read_input_tokens": 10000,
        "cache_creation_input_tokens": 1248,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 248},
        "output_tokens": 503,
    }
    expected = CacheUsage(
        cache_read_tokens=10000,
        cache_write_tokens=1248,
        cache_write_1h_tokens=248,
        uncached_input_tokens=50,
        output_tokens=503,
    )
    assert anthropic_usage(usage) == expected
    assert anthropic_usage({"id": "msg_1", "usage": usage}) == expected
    assert expected.input_tokens == 50 + 10000 + 1248


def test_anthropic_sdk_objects() -> None:
    from anthropic.types import Message, Usage

    usage = Usage.model_validate(
        {
            "input_tokens": 7,
            "output_tokens": 3,
            "cache_read_input_tokens": 2048,
            "cache_creation_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        }
    )
    message = Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "content": [{"type": "text", "text": "hi"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage.model_dump(),
        }
    )
    expected = CacheUsage(cache_read_tokens=2048, uncached_input_tokens=7, output_tokens=3)
    assert anthropic_usage(usage) == expected
    assert anthropic_usage(message) == expected


def test_anthropic_without_cache_fields_as_llama_cpp_sends_them() -> None:
    u = anthropic_usage({"input_tokens": 120, "output_tokens": 8})
    assert u == CacheUsage(uncached_input_tokens=120, output_tokens=8)
    nulls = {"input_tokens": 1, "output_tokens": 1, "cache_read_input_tokens": None}
    assert anthropic_usage(nulls).cache_read_tokens == 0


def test_anthropic_breakdown_alone_gives_the_write_total() -> None:
    u = anthropic_usage(
        {
            "input_tokens": 1,
            "output_tokens": 1,
            "cache_creation": {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 12},
        }
    )
    assert (u.cache_write_tokens, u.cache_write_1h_tokens) == (42, 12)


def test_anthropic_one_hour_part_cannot_exceed_the_writes() -> None:
    with pytest.raises(UsageError) as info:
        anthropic_usage(
            {
                "input_tokens": 1,
                "output_tokens": 1,
                "cache_creation_input_tokens": 10,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 11},
            }
        )
    assert info.value.field == "usage.cache_creation_input_tokens"


# -------------------------------------------------------------------- OpenAI


def test_openai_chat_cached_and_written_tokens_are_parts_of_the_prompt() -> None:
    u = openai_chat_usage(
        {
            "usage": {
                "prompt_tokens": 2006,
                "completion_tokens": 300,
                "total_tokens": 2306,
                "prompt_tokens_details": {"cached_tokens": 1792, "cache_write_tokens": 128},
                "completion_tokens_details": {"reasoning_tokens": 100},
            }
        }
    )
    assert u == CacheUsage(
        cache_read_tokens=1792, cache_write_tokens=128, uncached_input_tokens=86, output_tokens=300
    )


@pytest.mark.parametrize(
    "details",
    [None, {}, {"cached_tokens": None}, {"audio_tokens": 0}],
    ids=["null", "empty", "null-cached", "other-fields"],
)
def test_openai_compatible_servers_may_leave_details_out(details: Any) -> None:
    usage: dict[str, Any] = {"prompt_tokens": 90, "completion_tokens": 4, "total_tokens": 94}
    if details is not None:
        usage["prompt_tokens_details"] = details
    assert openai_chat_usage(usage) == CacheUsage(uncached_input_tokens=90, output_tokens=4)


def test_llama_cpp_chat_usage_shape() -> None:
    # What llama.cpp's /v1/chat/completions reports after a prefix reuse.
    usage = {
        "completion_tokens": 16,
        "prompt_tokens": 431,
        "total_tokens": 447,
        "prompt_tokens_details": {"cached_tokens": 402},
    }
    assert openai_chat_usage(usage).hit_ratio == pytest.approx(402 / 431)


def test_openai_sdk_objects() -> None:
    from openai.types import CompletionUsage
    from openai.types.responses import ResponseUsage

    chat = CompletionUsage.model_validate(
        {
            "prompt_tokens": 1500,
            "completion_tokens": 20,
            "total_tokens": 1520,
            "prompt_tokens_details": {"cached_tokens": 1280},
        }
    )
    assert openai_chat_usage(chat) == CacheUsage(
        cache_read_tokens=1280, uncached_input_tokens=220, output_tokens=20
    )
    resp = ResponseUsage.model_validate(
        {
            "input_tokens": 1500,
            "input_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 0},
            "output_tokens": 33,
            "output_tokens_details": {"reasoning_tokens": 30},
            "total_tokens": 1533,
        }
    )
    assert openai_responses_usage(resp) == CacheUsage(
        cache_read_tokens=1024, uncached_input_tokens=476, output_tokens=33
    )


def test_openai_chat_and_responses_field_names_do_not_mix() -> None:
    responses_shape = {"input_tokens": 10, "output_tokens": 1}
    with pytest.raises(UsageError, match="usage"):
        openai_chat_usage(responses_shape)
    chat_shape = {"prompt_tokens": 10, "completion_tokens": 1}
    with pytest.raises(UsageError, match="usage"):
        openai_responses_usage(chat_shape)


def test_openai_cached_tokens_cannot_exceed_the_prompt() -> None:
    with pytest.raises(UsageError) as info:
        openai_chat_usage(
            {
                "prompt_tokens": 100,
                "completion_tokens": 1,
                "prompt_tokens_details": {"cached_tokens": 128},
            }
        )
    assert info.value.field == "usage.prompt_tokens"
    assert "128" in str(info.value)


# -------------------------------------------------------------------- Gemini


def test_gemini_prompt_count_includes_the_cached_part() -> None:
    meta = {
        "prompt_token_count": 5000,
        "cached_content_token_count": 4096,
        "candidates_token_count": 40,
        "thoughts_token_count": 160,
        "tool_use_prompt_token_count": 25,
        "total_token_count": 5225,
    }
    expected = CacheUsage(cache_read_tokens=4096, uncached_input_tokens=929, output_tokens=200)
    assert gemini_usage(meta) == expected
    assert gemini_usage({"usage_metadata": meta}) == expected
    camel = {
        "promptTokenCount": 5000,
        "cachedContentTokenCount": 4096,
        "candidatesTokenCount": 40,
        "thoughtsTokenCount": 160,
        "toolUsePromptTokenCount": 25,
    }
    assert gemini_usage(camel) == expected
    assert gemini_usage({"candidates": [], "usageMetadata": camel}) == expected


def test_gemini_leaves_zero_counts_out() -> None:
    assert gemini_usage({"usageMetadata": {"promptTokenCount": 12}}) == CacheUsage(
        uncached_input_tokens=12
    )


def test_gemini_sdk_objects() -> None:
    from google.genai import types

    resp = types.GenerateContentResponse.model_validate(
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}}],
            "usage_metadata": {
                "prompt_token_count": 3000,
                "cached_content_token_count": 2048,
                "candidates_token_count": 5,
            },
        }
    )
    expected = CacheUsage(cache_read_tokens=2048, uncached_input_tokens=952, output_tokens=5)
    assert gemini_usage(resp) == expected
    assert gemini_usage(resp.usage_metadata) == expected


# ------------------------------------------------------------ malformed input


@pytest.mark.parametrize(
    ("parser", "report", "field"),
    [
        (anthropic_usage, {"usage": {"output_tokens": 1}}, "usage"),
        (anthropic_usage, {"input_tokens": 3}, "usage.output_tokens"),
        (openai_chat_usage, {"prompt_tokens": 3}, "usage.completion_tokens"),
        (openai_responses_usage, {"input_tokens": 3}, "usage.output_tokens"),
        (gemini_usage, {"candidates": []}, "usage_metadata"),
        (gemini_usage, {"usage_metadata": {"candidates_token_count": 3}}, "usage_metadata"),
        (openai_chat_usage, {"id": "x", "usage": None}, "usage"),
    ],
    ids=[
        "anthropic-no-input",
        "anthropic-no-output",
        "chat-no-completion",
        "responses-no-output",
        "gemini-no-metadata",
        "gemini-no-prompt",
        "chat-null-usage",
    ],
)
def test_a_missing_field_is_named(parser: Any, report: Any, field: str) -> None:
    with pytest.raises(UsageError) as info:
        parser(report)
    assert info.value.field.startswith(field)
    assert field in str(info.value)
    assert isinstance(info.value, StablePrefixError)


@pytest.mark.parametrize(
    ("report", "field", "why"),
    [
        ({"prompt_tokens": "12", "completion_tokens": 1}, "usage.prompt_tokens", "int"),
        ({"prompt_tokens": 12.0, "completion_tokens": 1}, "usage.prompt_tokens", "int"),
        ({"prompt_tokens": True, "completion_tokens": 1}, "usage.prompt_tokens", "int"),
        ({"prompt_tokens": -1, "completion_tokens": 1}, "usage.prompt_tokens", ">= 0"),
        (
            {
                "prompt_tokens": 5,
                "completion_tokens": 1,
                "prompt_tokens_details": {"cached_tokens": "4"},
            },
            "usage.prompt_tokens_details.cached_tokens",
            "int",
        ),
    ],
)
def test_a_bad_count_is_named(report: Any, field: str, why: str) -> None:
    with pytest.raises(UsageError) as info:
        openai_chat_usage(report)
    assert info.value.field == field and info.value.provider == "openai"
    assert why in str(info.value)


@pytest.mark.parametrize("bad", [None, "usage", 12, [1, 2], b"{}"])
def test_what_is_not_a_report_is_a_type_error(bad: Any) -> None:
    for provider in providers():
        with pytest.raises(TypeError, match="usage must be"):
            provider.parse_usage(bad)


def test_a_usage_part_that_is_not_an_object_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        openai_chat_usage({"usage": "lots"})


def test_the_registry_reads_usage_with_the_adapters_parser() -> None:
    report = {"usage": {"input_tokens": 10, "output_tokens": 2}}
    assert get_provider("anthropic").parse_usage(report) == anthropic_usage(report)
    assert get_provider("openai_responses").parse_usage(report) == openai_responses_usage(report)
    with pytest.raises(UnknownProviderError, match="known: openai, openai_responses"):
        get_provider("cohere").parse_usage(report)


def test_every_shipped_adapter_owns_its_parser() -> None:
    from stableprefix.adapters import (
        AnthropicAdapter,
        GeminiAdapter,
        OpenAIAdapter,
        OpenAIResponsesAdapter,
    )

    owned = {
        AnthropicAdapter: anthropic_usage,
        OpenAIAdapter: openai_chat_usage,
        GeminiAdapter: gemini_usage,
        OpenAIResponsesAdapter: openai_responses_usage,
    }
    for adapter, parser in owned.items():
        assert adapter.parse_usage is parser
        assert get_provider(adapter.name).adapter is adapter
