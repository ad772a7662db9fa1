"""CacheMonitor against the loopback server, through the official SDKs."""

from __future__ import annotations

import warnings
from dataclasses import replace

import anthropic
import openai
import pytest

from diag_scenarios import BASE, render
from fakeserver import FakeServer, FakeUsage
from stableprefix import AnthropicAdapter, OpenAIResponsesAdapter, PromptConfig, PromptManager
from stableprefix.diagnostics import CacheBustEvent, CacheBustWarning, CacheMonitor
from stableprefix.sim import cache_for_model


class DiagServer(FakeServer):
    """The fake provider, answering with diagnostics fields when told to."""

    def __init__(self) -> None:
        super().__init__()
        self.extra: list[dict] = []

    def _answer(self, kind, path, body):
        out = super()._answer(kind, path, body)
        if self.extra:
            out.update(self.extra.pop(0))
        return out


@pytest.fixture
def server():
    with DiagServer() as s:
        yield s


def _turns() -> list:
    t0 = replace(BASE, messages=(("user", "Q0"),))
    t1 = replace(BASE, messages=(("user", "Q0"), ("assistant", "A0"), ("user", "Q1")))
    t2 = replace(t1, system="Today is 2026-12-02.\n" + BASE.system)
    return [t0, t1, t2]


def _sdk_kwargs(request: dict) -> dict:
    body = dict(request)
    extra = {k: body.pop(k) for k in ("diagnostics", "prompt_cache_options") if k in body}
    return {**body, "extra_body": extra} if extra else body


def test_anthropic_shortfall_and_bust_events_with_provider_diagnostics(server):
    client = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0)
    events: list = []
    mon = CacheMonitor("anthropic", on_event=events.append)
    # Turn 2 the provider reads nothing although the prefix is intact (a shortfall);
    # turn 3 the system prompt carries a new date (a bust), and Anthropic says so too.
    server.usage = lambda kind, body: FakeUsage(prompt=4000, cached=0, written=3990)
    server.extra = [
        {},
        {"diagnostics": None},
        {
            "diagnostics": {
                "cache_miss_reason": {"type": "system_changed", "cache_missed_input_tokens": 3990}
            }
        },
    ]
    sent = []
    for i, conv in enumerate(_turns()):
        request = mon.prepare(render(conv, "anthropic"))
        sent.append(request)
        response = client.messages.create(**_sdk_kwargs(request))
        mon.observe(request, response, sent_at=10.0 * i)
    bodies = server.bodies("anthropic")
    assert bodies[0]["diagnostics"] == {"previous_message_id": None}
    assert bodies[1]["diagnostics"] == {"previous_message_id": "msg_0"}
    assert bodies[2]["diagnostics"] == {"previous_message_id": "msg_1"}
    assert [type(e) for e in events] == [CacheBustEvent, CacheBustEvent]
    short, bust = events
    assert short.index == 1 and short.observed_read == 0 and short.shortfall > 3000
    assert short.explanation.verdict == "no_change"
    assert bust.explanation.cause == "volatile_value"
    assert bust.explanation.agreement == "agree"
    assert bust.explanation.provider_diagnosis.missed_tokens == 3990
    stats = mon.stats
    assert (stats.requests, stats.busts, stats.observed_read) == (3, 2, 0)
    assert stats.by_cause == {"no_change": 1, "volatile_value": 1}
    assert stats.agreements == {"agree": 1} and stats.lost_usd > 0
    assert stats.read_ratio == 0.0


def test_reads_as_expected_emit_nothing(server):
    """The server reports what a second, independent cache model predicts."""
    client = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0)
    events: list = []
    mon = CacheMonitor("anthropic", on_event=events.append)
    twin = cache_for_model("claude-sonnet-4-6")
    clock = iter(range(100))

    def usage(kind, body):
        u = twin.process(AnthropicAdapter().flatten(body), now=float(next(clock)))
        return FakeUsage(
            prompt=u.input_tokens, cached=u.cache_read_tokens, written=u.cache_write_tokens
        )

    server.usage = usage
    convs = _turns()[:2]
    convs.append(
        replace(convs[1], messages=(*convs[1].messages, ("assistant", "A1"), ("user", "Q2")))
    )
    for i, conv in enumerate(convs):
        request = render(conv, "anthropic")
        mon.observe(request, client.messages.create(**request), sent_at=float(i))
    assert events == []
    assert mon.stats.observed_read == mon.stats.expected_read > 0


def test_openai_responses_comparison_id_and_warning(server):
    client = openai.OpenAI(api_key="k", base_url=server.url + "/v1", max_retries=0)
    mon = CacheMonitor("openai_responses", model="gpt-5.6-terra", warn=True)
    server.usage = lambda kind, body: FakeUsage(prompt=4000, cached=0)
    server.extra = [
        {},
        {
            "prompt_cache_diagnostics": {
                "type": "cache_miss",
                "reason": "input_changed",
                "cache_missed_tokens": 3900,
            }
        },
    ]
    convs = _turns()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i, conv in enumerate((convs[1], convs[2])):
            request = mon.prepare({**render(conv, "openai_responses"), "model": "gpt-5.6-terra"})
            response = client.responses.create(**_sdk_kwargs(request))
            event = mon.observe(request, response, sent_at=float(i))
    bodies = server.bodies("responses")
    assert "prompt_cache_options" not in bodies[0]
    assert bodies[1]["prompt_cache_options"] == {"comparison_response_id": "resp_0"}
    assert event is not None and event.explanation.agreement == "agree"
    assert [w.category for w in caught] == [CacheBustWarning]
    assert "input_changed" in str(caught[0].message)


def test_attached_to_a_manager_uses_its_adapter_and_knows_compactions(server):
    client = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0)
    pm = PromptManager(
        PromptConfig(
            adapter=AnthropicAdapter(),
            static_system_prompt="Policy. " * 900,
            history_max_tokens=600,
        )
    )
    events: list = []
    mon = CacheMonitor("openai", on_event=events.append)
    mon.attach(pm)
    server.usage = lambda kind, body: FakeUsage(prompt=3000, cached=0, written=0)
    causes = []
    for turn in range(12):
        pm.append({"role": "user", "content": f"Question {turn}: " + "detail " * 40})
        request = {"model": "claude-sonnet-4-6", "max_tokens": 64, **pm.build_request()}
        response = client.messages.create(**request)
        event = mon.observe(request, response, sent_at=float(turn))
        if event is not None:
            causes.append(event.explanation.cause)
        pm.append({"role": "assistant", "content": f"Answer {turn}: " + "words " * 40})
    assert pm.state["compactions"] > 0
    # Every read fell short (the server reports none), but none is blamed on the prefix:
    # the compactions are planned, the rest did not change it.
    assert set(causes) <= {"no_change", "compaction"} and "compaction" in causes
    assert all(not e.explanation.is_bust for e in events)


def test_bad_arguments():
    with pytest.raises(TypeError, match="on_event must be callable"):
        CacheMonitor("anthropic", on_event=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tolerance"):
        CacheMonitor("anthropic", tolerance=-1)
    with pytest.raises(TypeError, match="PromptManager"):
        CacheMonitor("anthropic").attach(object())


def test_prepare_fills_in_the_managers_id_for_requests_built_without_the_option(server):
    client = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0)
    pm = PromptManager(PromptConfig(adapter=AnthropicAdapter(), static_system_prompt="Be brief."))
    mon = CacheMonitor("anthropic")
    mon.attach(pm)
    assert pm.last_response_id is None
    for turn in range(2):
        pm.append({"role": "user", "content": f"Question {turn}"})
        request = mon.prepare(
            {"model": "claude-sonnet-4-6", "max_tokens": 64, **pm.build_request()}
        )
        response = client.messages.create(**request)
        pm.append(response)  # an SDK Message: the manager keeps its id
        mon.observe(request, response, sent_at=float(turn))
    assert pm.last_response_id == "msg_1"
    sent = [body["diagnostics"] for body in server.bodies("anthropic")]
    assert sent == [{"previous_message_id": None}, {"previous_message_id": "msg_0"}]


def _miss(reason: str, tokens: int) -> dict:
    return {"diagnostics": {"cache_miss_reason": {"type": reason,
                                                  "cache_missed_input_tokens": tokens}}}


def test_a_manager_with_provider_diagnostics_asks_by_itself_and_the_report_reconciles(server):
    """No prepare(): the manager's own requests carry the id; the provider's answers
    are shown next to ours, agreeing or flagged as disagreeing."""
    client = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0)
    pm = PromptManager(
        PromptConfig(
            adapter=AnthropicAdapter(provider_diagnostics=True),
            static_system_prompt="Refund policy. " * 400,
        )
    )
    events: list = []
    mon = CacheMonitor("anthropic", on_event=events.append)
    mon.attach(pm)
    server.usage = lambda kind, body: FakeUsage(prompt=2500, cached=0, written=2400)
    server.extra = [
        {"diagnostics": {"cache_miss_reason": None}},  # first turn: nothing to compare
        _miss("messages_changed", 40),  # we see an intact prefix: a disagreement
        _miss("model_changed", 2450),  # we see the model change too: agreement
    ]
    models = ["claude-sonnet-4-6", "claude-sonnet-4-6", "claude-opus-4-6"]
    explained = []
    for turn, model in enumerate(models):
        pm.append({"role": "user", "content": f"Question {turn}"})
        request = {"model": model, "max_tokens": 64, **pm.build_request()}
        response = client.messages.create(**request)  # the SDK takes the field as is
        event = mon.observe(request, response, sent_at=float(turn))
        explained.append(event.explanation if event is not None else None)
        pm.append(response)
    sent = [body["diagnostics"] for body in server.bodies("anthropic")]
    assert sent == [
        {"previous_message_id": None},
        {"previous_message_id": "msg_0"},
        {"previous_message_id": "msg_1"},
    ]
    _, intact, switched = explained
    assert intact is not None and intact.verdict == "no_change"
    assert intact.agreement == "disagree"
    assert "anthropic says: messages_changed, 40 tokens missed (disagree)" in intact.text()
    assert switched is not None and switched.divergence is not None
    assert switched.divergence.area == "model" and switched.agreement == "agree"
    assert switched.provider_diagnosis.missed_tokens == 2450
    assert mon.stats.agreements == {"disagree": 1, "agree": 1}
    assert mon.stats.disagreements == [1]


def test_a_responses_manager_sends_the_response_id_it_was_given(server):
    client = openai.OpenAI(api_key="k", base_url=server.url + "/v1", max_retries=0)
    adapter = OpenAIResponsesAdapter(model="gpt-5.6-terra", provider_diagnostics=True)
    pm = PromptManager(PromptConfig(adapter=adapter, static_system_prompt="Policy. " * 600))
    mon = CacheMonitor("openai_responses")
    mon.attach(pm)
    server.usage = lambda kind, body: FakeUsage(prompt=3000, cached=2900)
    server.extra = [
        {},
        {"prompt_cache_diagnostics": {"type": "cache_hit"}},
        {"prompt_cache_diagnostics": {"type": "cache_miss", "reason": "tools_changed",
                                      "cache_missed_tokens": 2900}},
    ]
    for turn in range(3):
        pm.append({"role": "user", "content": f"Question {turn}"})
        request = {"model": "gpt-5.6-terra", **pm.build_request()}
        response = client.responses.create(**request)  # the SDK takes the field as is
        mon.observe(request, response, sent_at=float(turn))
        # output items carry ids of their own (msg_...): the response's id is passed
        pm.extend(response.output, response_id=response.id)
    bodies = server.bodies("responses")
    assert "comparison_response_id" not in bodies[0].get("prompt_cache_options", {})
    assert [b["prompt_cache_options"]["comparison_response_id"] for b in bodies[1:]] == [
        "resp_0",
        "resp_1",
    ]
    # a hit we also saw as intact agrees; a tools change we did not see disagrees
    assert mon.stats.agreements == {"agree": 1, "disagree": 1}
    # flagged even though no event was emitted (the reads were as the cache model expected)
    assert mon.stats.disagreements == [2] and mon.stats.busts == 0


def test_a_streamed_answer_carries_the_diagnosis_to_the_monitor(server):
    """Anthropic sends the diagnosis in message_start; the SDK's final message keeps it."""
    client = anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0)
    pm = PromptManager(
        PromptConfig(
            adapter=AnthropicAdapter(provider_diagnostics=True),
            static_system_prompt="Refund policy. " * 400,
        )
    )
    mon = CacheMonitor("anthropic")
    mon.attach(pm)
    server.usage = lambda kind, body: FakeUsage(prompt=2500, cached=0, written=2400)
    server.extra = [{}, _miss("messages_changed", 40)]
    for turn in range(2):
        pm.append({"role": "user", "content": f"Question {turn}"})
        request = {"model": "claude-sonnet-4-6", "max_tokens": 64, **pm.build_request()}
        with client.messages.stream(**request) as stream:
            final = stream.get_final_message()
        event = mon.observe(request, final, sent_at=float(turn))
        pm.append(final)
    assert [b["diagnostics"] for b in server.bodies("anthropic")] == [
        {"previous_message_id": None},
        {"previous_message_id": "msg_0"},
    ]
    assert event is not None and event.explanation.agreement == "disagree"
    assert mon.stats.disagreements == [1]
