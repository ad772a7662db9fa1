"""OpenAIAdapter(engine=...) for local servers, slot affinity, the llama.cpp counter.

The real llama.cpp server checks the same things end to end in
``tests/test_engine_slots.py``; here the official ``openai`` SDK talks to
the loopback fake server, which records the JSON body it receives.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator

import pytest

from fakeserver import FakeServer
from stableprefix import (
    OpenAIAdapter,
    PromptConfig,
    PromptManager,
    TokenCounterError,
    new_state,
)
from stableprefix.adapters._engines import slot_for
from stableprefix.tokens import LlamaCppServerCounter


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as srv:
        yield srv


def _manager(adapter: OpenAIAdapter, key: str | None = "chat-1") -> PromptManager:
    config = PromptConfig(static_system_prompt="You help.", adapter=adapter)
    return PromptManager(config, new_state(key))


def test_a_local_engine_appends_a_small_context_and_sends_no_cache_key() -> None:
    for engine in ("llama.cpp", "vllm", "sglang"):
        manager = _manager(OpenAIAdapter(engine=engine))
        manager.append({"role": "user", "content": "Hi"})
        first = manager.build_request("Now: 10:00")
        manager.append({"role": "assistant", "content": "Hello"})
        manager.append({"role": "user", "content": "And now?"})
        second = manager.build_request("Now: 10:07")
        # the context stays in the turn, so the second prompt extends the first
        assert second["messages"][: len(first["messages"])] == first["messages"]
        assert "prompt_cache_key" not in second and "extra_body" not in second
    hosted = _manager(OpenAIAdapter(cache_key_buckets=4))
    hosted.append({"role": "user", "content": "Hi"})
    request = hosted.build_request("Now: 10:00")
    assert request["messages"][-1]["content"] == "Now: 10:00"  # tail, sent every time
    assert request["prompt_cache_key"].startswith("sp-")


def test_slots_pin_each_conversation_to_a_stable_slot(server: FakeServer) -> None:
    import openai

    client = openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    adapter = OpenAIAdapter(engine="llama.cpp", slots=3)
    for key in ("chat-1", "chat-2", "chat-3"):
        manager = _manager(adapter, key)
        for turn in range(2):
            manager.append({"role": "user", "content": f"question {turn}"})
            reply = client.chat.completions.create(model="m", **manager.build_request())
            manager.append(reply.choices[0].message)
    sent = [body["id_slot"] for body in server.bodies("chat")]
    # two requests per conversation, each pair on the conversation's own slot
    assert sent == [slot_for(k, 3) for k in ("chat-1", "chat-2", "chat-3") for _ in range(2)]
    assert all("prompt_cache_key" not in body for body in server.bodies("chat"))


def test_slot_choice_spreads_conversations() -> None:
    spread = Counter(slot_for(f"user-{i}", 4) for i in range(400))
    assert sorted(spread) == [0, 1, 2, 3]
    assert min(spread.values()) > 60  # 100 expected per slot


def test_no_key_no_pinned_slot() -> None:
    manager = _manager(OpenAIAdapter(engine="llama.cpp", slots=2), key=None)
    manager.append({"role": "user", "content": "Hi"})
    assert "extra_body" not in manager.build_request()


@pytest.mark.parametrize(
    ("kwargs", "fix"),
    [
        ({"engine": "ollama"}, "engine must be one of openai, llama.cpp, vllm, sglang"),
        ({"engine": "vllm", "slots": 2}, "slots applies to engine='llama.cpp' only"),
        ({"slots": 2}, "slots applies to engine='llama.cpp' only"),
        ({"engine": "llama.cpp", "slots": 0}, "slots must be the server's slot count"),
        ({"engine": "llama.cpp", "slots": True}, "slots must be the server's slot count"),
        ({"engine": "llama.cpp", "cache_key_buckets": 4}, "use slots= for slot affinity"),
        ({"engine": "sglang", "prompt_cache_key": "k"}, "are OpenAI options"),
    ],
)
def test_bad_engine_options(kwargs: dict[str, object], fix: str) -> None:
    with pytest.raises(ValueError) as caught:
        OpenAIAdapter(**kwargs)  # type: ignore[arg-type]
    assert fix in str(caught.value)


def test_counter_rejects_bad_addresses() -> None:
    with pytest.raises(ValueError, match="http://"):
        LlamaCppServerCounter("127.0.0.1:8080")
    with pytest.raises(TypeError):
        LlamaCppServerCounter(8080)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        LlamaCppServerCounter("http://127.0.0.1:1", timeout=0)
    assert repr(LlamaCppServerCounter("http://h:1/v1/")) == "LlamaCppServerCounter('http://h:1')"


def test_counter_translates_a_dead_server_into_its_own_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    counter = LlamaCppServerCounter(f"http://127.0.0.1:{port}", timeout=5)
    with pytest.raises(TokenCounterError, match=r"is the llama\.cpp server running"):
        counter.count_text("hello")
    assert counter.count_text("") == 0  # nothing to ask


def test_counter_translates_an_http_error(server: FakeServer) -> None:
    # the fake server knows no /tokenize: it answers 404
    counter = LlamaCppServerCounter(server.url)
    with pytest.raises(TokenCounterError, match="/tokenize answered HTTP 404"):
        counter.count_text("hello")


def test_live_run_scores_the_ideal_cache_on_the_servers_prompt_ids() -> None:
    from stableprefix import CacheUsage
    from stableprefix.benchmark._live import LIVE_PROVIDERS, live_run, live_wire
    from stableprefix.benchmark._run import builtin_factories
    from stableprefix.benchmark._workloads import build_workload

    spec = LIVE_PROVIDERS["openai-compatible"]
    sent: list[dict[str, object]] = []

    def prompt_ids(request: dict[str, object]) -> list[int]:
        sent.append(request)
        return list(range(90 + 10 * len(sent)))  # each prompt extends the one before

    run = live_run(
        build_workload("clock-chat", turns=3),
        "stableprefix",
        builtin_factories(["stableprefix"])["stableprefix"],
        provider=spec,
        model="local",
        wire=live_wire(spec, "local", engine="llama.cpp"),
        send=lambda request: CacheUsage(uncached_input_tokens=100),
        prompt_ids=prompt_ids,
    )
    # an ideal cache on those ids: nothing, then each earlier prompt whole
    assert run.ideal_read == 0 + 100 + 110
    assert len(sent) == 3 and all("prompt_cache_key" not in r for r in sent)
