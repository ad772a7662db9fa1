"""Pair tests against the real llama.cpp server (SmolLM2-135M, one slot).

The engine reports how many prompt tokens it took from its cache; these
tests check that the SDKs see those numbers and that a conversation built by
stableprefix is mostly served from the cache, more than the usual layout
that pastes the changing context into the system prompt.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

import engine as E
from stableprefix import AnthropicAdapter, OpenAIAdapter, PromptConfig, PromptManager

pytestmark = pytest.mark.engine


def _greedy(llama_engine: Any, messages: list[dict[str, Any]]) -> Any:
    client = llama_engine.openai_client()
    return client.chat.completions.create(
        model=llama_engine.model, messages=messages, max_tokens=4, temperature=0
    )


def test_openai_sdk_reads_cached_tokens(llama_engine: Any) -> None:
    messages = [
        {"role": "system", "content": "You answer in one word."},
        {"role": "user", "content": "Name a colour of the sky."},
    ]
    llama_engine.erase_slot()
    first = _greedy(llama_engine, messages)
    second = _greedy(llama_engine, messages)
    cold, warm = first.usage, second.usage
    assert cold.prompt_tokens_details.cached_tokens == 0
    # The same prompt again: all of it is in the slot, but llama.cpp always
    # evaluates the last prompt token again to get fresh logits.
    assert warm.prompt_tokens == cold.prompt_tokens
    assert warm.prompt_tokens_details.cached_tokens == warm.prompt_tokens - 1
    parsed = OpenAIAdapter().parse_usage(second)
    assert parsed.cache_read_tokens == warm.prompt_tokens - 1
    assert parsed.input_tokens == warm.prompt_tokens
    assert parsed.output_tokens == warm.completion_tokens


def test_prompt_token_ids_are_what_the_engine_evaluates(llama_engine: Any) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello there"},
        {"role": "system", "content": "Current time: 10:00."},
    ]
    ids = llama_engine.prompt_token_ids(messages)
    usage = _greedy(llama_engine, messages).usage
    assert len(ids) == usage.prompt_tokens
    # A mid-conversation system message stays where it is in SmolLM2's
    # template (ChatML), so "append" keeps the prompt append-only.
    prompt = llama_engine.render_prompt(messages)
    assert prompt.index("Hello there") < prompt.index("Current time: 10:00.")


def test_anthropic_sdk_reads_cache_reads(llama_engine: Any) -> None:
    config = PromptConfig(
        static_system_prompt=E.STATIC_SYSTEM_PROMPT.split("\n\n")[0],
        adapter=AnthropicAdapter(),
        dynamic_position="append",
    )
    manager = PromptManager(config)
    client = llama_engine.anthropic_client()
    llama_engine.erase_slot()
    usages = []
    for turn, user in enumerate(E.USER_MESSAGES[:3]):
        manager.append({"role": "user", "content": user})
        request = manager.build_request(E.clock_line(turn))
        # This SDK version has no temperature argument; the server reads it.
        reply = client.messages.create(
            model=llama_engine.model, max_tokens=4, extra_body={"temperature": 0}, **request
        )
        usages.append(reply.usage)
        parsed = config.adapter.parse_usage(reply)
        assert parsed.cache_read_tokens == reply.usage.cache_read_input_tokens
        # llama.cpp sends no cache_creation_input_tokens: nothing is billed as a write.
        assert parsed.cache_write_tokens == 0
        assert parsed.uncached_input_tokens == reply.usage.input_tokens
        text = "".join(block.text for block in reply.content if block.type == "text")
        manager.append({"role": "assistant", "content": text or "..."})
    assert usages[0].cache_read_input_tokens == 0
    for before, after in pairwise(usages):
        # Everything sent before is read back; only the new turn is input.
        assert after.cache_read_input_tokens >= before.input_tokens
        assert 0 < after.input_tokens < after.cache_read_input_tokens


# ------------------------------------------------------------- layouts


@pytest.fixture(scope="module")
def default_turns(llama_engine: Any) -> list[E.Turn]:
    # The library's default configuration, untouched (dynamic_position="auto",
    # which for the OpenAI adapter puts the context at the tail).
    config = PromptConfig(static_system_prompt=E.STATIC_SYSTEM_PROMPT)
    assert config.dynamic_position == "auto" and config.transition_mode == "none"
    return E.play_conversation(llama_engine, E.stableprefix_layout(config))


@pytest.fixture(scope="module")
def append_turns(llama_engine: Any) -> list[E.Turn]:
    config = PromptConfig(static_system_prompt=E.STATIC_SYSTEM_PROMPT, dynamic_position="append")
    return E.play_conversation(llama_engine, E.stableprefix_layout(config))


@pytest.fixture(scope="module")
def naive_turns(llama_engine: Any) -> list[E.Turn]:
    return E.play_conversation(llama_engine, E.naive_layout())


def test_the_default_configuration_is_mostly_cached(default_turns: list[E.Turn]) -> None:
    assert len(default_turns) == 8
    assert default_turns[0].cached_tokens == 0
    share = E.cached_share(default_turns[1:])
    assert share >= 0.88, [(t.prompt_tokens, t.cached_tokens) for t in default_turns]


def test_appending_the_context_is_cached_even_more(
    default_turns: list[E.Turn], append_turns: list[E.Turn]
) -> None:
    # A local engine reuses the reply it generated after an appended context
    # (what "auto" does for TransformersAdapter).
    assert E.cached_share(append_turns[1:]) > E.cached_share(default_turns[1:])


def test_append_prompts_grow_by_appending_tokens(
    llama_engine: Any, append_turns: list[E.Turn]
) -> None:
    ids = [llama_engine.prompt_token_ids(t.messages) for t in append_turns]
    assert [len(x) for x in ids] == [t.prompt_tokens for t in append_turns]
    for before, after in pairwise(ids):
        assert after[: len(before)] == before


def test_naive_layout_is_cached_less(
    default_turns: list[E.Turn], naive_turns: list[E.Turn]
) -> None:
    naive = E.cached_share(naive_turns[1:])
    ours = E.cached_share(default_turns[1:])
    assert naive < ours, (naive, ours)
    # The naive prompt changes right after the static system prompt, so no
    # turn can reuse more than that part.
    assert max(t.cached_tokens for t in naive_turns) < naive_turns[0].prompt_tokens


# ----------------------------------------------------- cache model vs engine


@pytest.fixture(scope="module")
def tail_turns(llama_engine: Any) -> list[E.Turn]:
    config = PromptConfig(
        static_system_prompt=E.STATIC_SYSTEM_PROMPT,
        dynamic_position="tail",
        transition_mode="agent_cycle",
    )
    return E.play_conversation(llama_engine, E.stableprefix_layout(config))


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _slot_reuse(prompts: list[list[int]], turns: list[E.Turn]) -> list[int]:
    """What llama.cpp's single slot can reuse, worked out from the token ids.

    After a request the slot's KV cache holds the prompt and every generated
    token but the last (that one was sampled, never evaluated). The next
    request reuses the common prefix, less its own last token at most.
    """
    reuse, slot = [], []
    for ids, turn in zip(prompts, turns, strict=True):
        reuse.append(min(_common(slot, ids), len(ids) - 1))
        slot = ids + list(turn.reply_ids[:-1])
    return reuse


def _model_predictions(prompts: list[list[int]], turns: list[E.Turn]) -> list[int]:
    sim = pytest.importorskip("stableprefix.sim")
    model = sim.LlamaCppCache()
    return [
        model.process(
            E.flat_prompt(ids),
            now=float(i),
            output_tokens=len(turn.reply_ids),
            output_token_ids=turn.reply_ids,
        ).cache_read_tokens
        for i, (ids, turn) in enumerate(zip(prompts, turns, strict=True))
    ]


def _within_one(predicted: list[int], turns: list[E.Turn]) -> bool:
    reported = [t.cached_tokens for t in turns]
    return all(abs(p - r) <= 1 for p, r in zip(predicted, reported, strict=True))


@pytest.mark.parametrize("layout", ["naive", "tail", "append"])
def test_engine_reuses_prompt_and_generated_tokens(
    llama_engine: Any, request: pytest.FixtureRequest, layout: str
) -> None:
    turns: list[E.Turn] = request.getfixturevalue(f"{layout}_turns")
    assert all(t.reply_ids for t in turns if t.reply)
    prompts = [llama_engine.prompt_token_ids(t.messages) for t in turns]
    expected = _slot_reuse(prompts, turns)
    assert _within_one(expected, turns), (expected, [t.cached_tokens for t in turns])


@pytest.mark.parametrize("layout", ["naive", "tail", "append"])
def test_llamacpp_model_matches_engine_request_by_request(
    llama_engine: Any, request: pytest.FixtureRequest, layout: str
) -> None:
    turns: list[E.Turn] = request.getfixturevalue(f"{layout}_turns")
    prompts = [llama_engine.prompt_token_ids(t.messages) for t in turns]
    predicted = _model_predictions(prompts, turns)
    assert _within_one(predicted, turns), (predicted, [t.cached_tokens for t in turns])
