"""The adapters' provider_diagnostics option, and who fills in the previous response id.

Field names and shapes from the providers' documentation (checked 2026-12-02):
Anthropic "Cache diagnostics" (platform.claude.com/docs/en/build-with-claude/
cache-diagnostics, generally available): the ``diagnostics`` object on every
request is the opt-in, ``previous_message_id`` ``null`` on the first; OpenAI
"Prompt cache diagnostics" (developers.openai.com/api/docs/guides/prompt-caching/
diagnostics): ``prompt_cache_options.comparison_response_id``,
Responses API only, GPT-5.6 and later.
"""

from __future__ import annotations

import pytest

from stableprefix import (
    AnthropicAdapter,
    OpenAIAdapter,
    OpenAIResponsesAdapter,
    PromptConfig,
    PromptManager,
    UnsupportedError,
    new_state,
)
from stableprefix import functional as F
from stableprefix.stores import MemoryStore


class SDKMessage:
    """Stands in for an SDK response object: it has an id and usage (pydantic-like)."""

    def __init__(self, rid: str, text: str) -> None:
        self.id, self.usage, self._text = rid, {"input_tokens": 1}, text

    def model_dump(self, **kwargs: object) -> dict:
        return {"id": self.id, "role": "assistant", "content": [{"type": "text",
                                                                 "text": self._text}]}


class SDKItem:
    """An output item of a Responses reply: an id of its own, no usage."""

    def __init__(self, rid: str, text: str) -> None:
        self.id, self._text = rid, text

    def model_dump(self, **kwargs: object) -> dict:
        return {"type": "message", "id": self.id, "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": self._text, "annotations": []}]}


def _anthropic(**kwargs: object) -> PromptConfig:
    return PromptConfig(adapter=AnthropicAdapter(provider_diagnostics=True, **kwargs),
                        static_system_prompt="Be brief.")


def _responses(**kwargs: object) -> PromptConfig:
    adapter = OpenAIResponsesAdapter(model="gpt-5.6-sol", provider_diagnostics=True, **kwargs)
    return PromptConfig(adapter=adapter, static_system_prompt="Be brief.")


USER = {"role": "user", "content": "Hi"}


# ------------------------------------------------------------------- adapters


def test_anthropic_asks_on_every_request_with_null_first() -> None:
    cfg = _anthropic()
    s = F.append_message(new_state(), USER, cfg)
    assert F.build_request(s, cfg)["diagnostics"] == {"previous_message_id": None}
    req = F.build_request(s, cfg, previous_response_id="msg_01")
    assert req["diagnostics"] == {"previous_message_id": "msg_01"}
    # the warm-up and summary requests opt in too (no id to compare with)
    assert F.build_warmup_request(s, cfg)["diagnostics"] == {"previous_message_id": None}


def test_responses_asks_only_with_an_id_and_keeps_the_cache_options() -> None:
    cfg = _responses(prompt_cache_mode="explicit", prompt_cache_ttl="30m")
    s = F.append_message(new_state(), USER, cfg)
    assert F.build_request(s, cfg)["prompt_cache_options"] == {"mode": "explicit", "ttl": "30m"}
    req = F.build_request(s, cfg, previous_response_id="resp_7")
    assert req["prompt_cache_options"] == {
        "mode": "explicit",
        "ttl": "30m",
        "comparison_response_id": "resp_7",
    }
    bare = _responses()
    s = F.append_message(new_state(), USER, bare)
    assert "prompt_cache_options" not in F.build_request(s, bare)
    assert F.build_request(s, bare, previous_response_id="resp_7")["prompt_cache_options"] == {
        "comparison_response_id": "resp_7"
    }


def test_the_option_is_off_by_default_and_changes_nothing_then() -> None:
    for adapter in (AnthropicAdapter(), OpenAIResponsesAdapter(model="gpt-5.6-sol")):
        cfg = PromptConfig(adapter=adapter)
        req = F.build_request(F.append_message(new_state(), USER, cfg), cfg)
        assert "diagnostics" not in req and "prompt_cache_options" not in req


def test_chat_completions_refuses_the_option_and_names_the_way() -> None:
    with pytest.raises(UnsupportedError, match=r"Responses API only.*OpenAIResponsesAdapter"):
        OpenAIAdapter(provider_diagnostics=True)
    assert OpenAIAdapter(provider_diagnostics=False) == OpenAIAdapter()


def test_responses_refuses_the_option_before_gpt_5_6() -> None:
    with pytest.raises(ValueError, match=r"GPT-5\.6 or a later model, not 'gpt-5\.5'"):
        OpenAIResponsesAdapter(model="gpt-5.5", provider_diagnostics=True)
    adapter = OpenAIResponsesAdapter(model="gpt-5.6-sol", provider_diagnostics=True)
    assert adapter.with_model("gpt-6.1-sol").provider_diagnostics
    assert adapter.for_warmup().provider_diagnostics
    with pytest.raises(ValueError, match=r"GPT-5\.6"):
        adapter.with_model("gpt-5.5")
    # a model given per request with the id follows the same rules
    cfg = PromptConfig(adapter=adapter)
    s = F.append_message(new_state(), USER, cfg)
    req = F.build_request(s, cfg, model="gpt-6.1-sol", previous_response_id="resp_1")
    assert req["prompt_cache_options"]["comparison_response_id"] == "resp_1"


@pytest.mark.parametrize("make", [AnthropicAdapter, OpenAIResponsesAdapter])
def test_the_option_must_be_a_bool(make: type) -> None:
    with pytest.raises(TypeError, match="provider_diagnostics must be a bool, got str"):
        make(provider_diagnostics="yes")


# ----------------------------------------------------------------- functional


def test_an_id_for_an_adapter_without_the_option_is_refused_and_nothing_recorded() -> None:
    cfg = PromptConfig(adapter=AnthropicAdapter(), dynamic_position="append")
    s = F.append_message(new_state(), USER, cfg)
    with pytest.raises(UnsupportedError, match="provider_diagnostics=True"):
        F.build_request(s, cfg, previous_response_id="msg_1")
    with pytest.raises(UnsupportedError, match="provider_diagnostics=True"):
        F.build_turn(s, cfg, "Clock: 09:30", previous_response_id="msg_1")
    assert s["context"] is None  # build_turn refused before recording the context


@pytest.mark.parametrize("bad", ["", 7, b"msg"])
def test_a_malformed_id_is_a_type_error(bad: object) -> None:
    cfg = _anthropic()
    s = F.append_message(new_state(), USER, cfg)
    with pytest.raises(TypeError, match="previous_response_id must be a non-empty str"):
        F.build_request(s, cfg, previous_response_id=bad)  # type: ignore[arg-type]


def test_build_turn_passes_the_id() -> None:
    cfg = _anthropic()
    s = F.append_message(new_state(), USER, cfg)
    _, req = F.build_turn(s, cfg, "Clock: 09:30", previous_response_id="msg_3")
    assert req["diagnostics"] == {"previous_message_id": "msg_3"}


# -------------------------------------------------------------------- manager


def test_the_manager_sends_the_id_of_the_last_response_appended() -> None:
    pm = PromptManager(_anthropic())
    pm.append(USER)
    assert pm.build_request()["diagnostics"] == {"previous_message_id": None}
    pm.append(SDKMessage("msg_a", "Hello"))  # a whole response: its id is kept
    assert pm.last_response_id == "msg_a"
    pm.append({"role": "user", "content": "More"})
    assert pm.build_request()["diagnostics"] == {"previous_message_id": "msg_a"}
    # an explicit id wins (e.g. a response sent outside this manager)
    req = pm.build_request(previous_response_id="msg_z")
    assert req["diagnostics"] == {"previous_message_id": "msg_z"}
    assert pm.last_response_id == "msg_a"


def test_output_items_do_not_pass_for_a_response() -> None:
    pm = PromptManager(_responses())
    pm.append(USER)
    pm.extend([SDKItem("msg_item_1", "Hello")])  # its id names the item, not the response
    assert pm.last_response_id is None
    pm.append({"role": "user", "content": "More"})
    assert "prompt_cache_options" not in pm.build_request()
    pm.extend([SDKItem("msg_item_2", "Sure")], response_id="resp_2")
    pm.append({"role": "user", "content": "Again"})
    req = pm.build_request()
    assert req["prompt_cache_options"] == {"comparison_response_id": "resp_2"}


def test_a_bad_response_id_is_refused_before_anything_is_appended() -> None:
    pm = PromptManager(_anthropic())
    with pytest.raises(TypeError, match="response_id must be a non-empty str"):
        pm.append(USER, response_id="")
    with pytest.raises(TypeError, match="response_id must be a non-empty str"):
        pm.extend([USER], response_id=5)  # type: ignore[arg-type]
    assert pm.state["recent"] == [] and pm.state["committed"] == []
    pm.append(USER)  # still usable


def test_a_manager_without_the_option_refuses_an_explicit_id() -> None:
    pm = PromptManager(PromptConfig(adapter=AnthropicAdapter(), dynamic_position="append"))
    pm.append(USER)
    with pytest.raises(UnsupportedError):
        pm.build_request("Clock: 09:30", previous_response_id="msg_1")
    assert pm.state["context"] is None  # refused before recording


def test_a_stored_session_keeps_the_id_in_memory_only() -> None:
    """The id is not part of the state document (see PromptManager.last_response_id):
    a handler that reopens the session passes the id it kept."""
    store, cfg = MemoryStore(), _anthropic()
    pm = PromptManager.open(store, "chat-1", cfg)
    pm.append(USER)
    pm.append({"role": "assistant", "content": "Hello"}, response_id="msg_5")
    assert pm.last_response_id == "msg_5"
    pm.append({"role": "user", "content": "More"})
    again = PromptManager.open(store, "chat-1", cfg)
    assert again.state == pm.state and again.last_response_id is None
    assert "msg_5" not in again.dumps()
    req = again.build_request(previous_response_id="msg_5")
    assert req["diagnostics"] == {"previous_message_id": "msg_5"}


def test_the_async_manager_passes_the_id_too() -> None:
    import asyncio

    from stableprefix.stores import AsyncMemoryStore, AsyncPromptManager

    async def run() -> tuple[dict, str | None]:
        pm = await AsyncPromptManager.open(AsyncMemoryStore(), "chat-2", _anthropic())
        await pm.append(USER)
        await pm.append(SDKMessage("msg_b", "Hello"))
        await pm.append({"role": "user", "content": "More"})
        with pytest.raises(UnsupportedError):  # refused before anything is saved
            await AsyncPromptManager(PromptConfig()).build_request(previous_response_id="x")
        return await pm.build_request(), pm.last_response_id

    request, last = asyncio.run(run())
    assert request["diagnostics"] == {"previous_message_id": "msg_b"} and last == "msg_b"


def test_asking_for_diagnostics_does_not_change_the_response_cache_key() -> None:
    """The previous response's id changes every turn; the answer does not depend on it."""
    from stableprefix.response_cache import ResponseCache

    cache = ResponseCache(namespace="tests")
    for cfg in (_anthropic(), _responses()):
        s = F.append_message(new_state(), USER, cfg)
        plain = F.build_request(s, cfg)
        asked = F.build_request(s, cfg, previous_response_id="id_1")
        other = F.build_request(s, cfg, previous_response_id="id_2")
        assert asked != other
        keys = {cache.explain_key({"model": "m", **r}).key for r in (plain, asked, other)}
        assert len(keys) == 1


def test_the_diagnostics_fields_are_not_a_change_of_the_prefix() -> None:
    """explain() and lint() see through the id that changes every turn."""
    from stableprefix.diagnostics import explain, lint

    for cfg, fmt in ((_anthropic(), "anthropic"), (_responses(), "openai_responses")):
        s = F.append_message(new_state(), USER, cfg)
        first = {"model": "claude-sonnet-4-6" if fmt == "anthropic" else "gpt-5.6-sol",
                 **F.build_request(s, cfg, previous_response_id="msg_01XFDUDYJgAACzvnptvVoYEL")}
        second = {**first, **F.build_request(s, cfg, previous_response_id="resp_9f8e7d6c5b4a")}
        why = explain(first, second, adapter=fmt)
        assert why.divergence is None and not why.is_bust  # (a short prompt: below_minimum)
        assert not [f for f in lint(second) if "diagnostics" in f.path or "prompt_cache" in f.path]
