"""Pair tests: a PromptManager feeding the official SDKs, against a local fake server.

Each provider runs the same two-turn conversation with parallel and single
tool calls: the user asks, the model (the fake server) calls tools, the
results go back, the model answers. Every request the manager builds is sent
with the real SDK (``openai`` chat and Responses, ``anthropic``,
``google-genai``), and we check that

- the JSON body the SDK sent is the request we built (nothing dropped,
  added or reordered; for Gemini, after the SDK's documented renaming to the
  REST spelling),
- the cacheable prefix of each body is a prefix of the next body's,
- the usage the server reported reads back through ``parse_usage`` from the
  SDK's own response objects.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from fakeserver import FakeServer, FakeUsage
from stableprefix import (
    AnthropicAdapter,
    CacheUsage,
    GeminiAdapter,
    OpenAIAdapter,
    OpenAIResponsesAdapter,
    PendingToolCallError,
    PromptConfig,
    PromptManager,
)
from stableprefix.adapters import ProviderAdapter

Json = dict[str, Any]

SYSTEM = "You are a weather assistant. Answer in one short sentence. " * 4
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "City name"}},
    "required": ["city"],
}
DESCRIPTION = "Current weather for a city."


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as srv:
        yield srv


# ------------------------------------------------------------------ drivers


@dataclass
class Driver:
    """How one provider's SDK is called and how its replies become messages."""

    adapter: ProviderAdapter
    tool: Json
    kind: str  # the fake server's name for the endpoint
    send: Callable[[Any, Json], Any]
    client: Callable[[str], Any]
    replies: Callable[[Any], list[Any]]
    results: Callable[[list[tuple[str, str]]], list[Json]]
    expected_body: Callable[[Json], Json]


def _chat_driver() -> Driver:
    import openai

    return Driver(
        adapter=OpenAIAdapter(),
        tool={
            "type": "function",
            "function": {"name": "weather", "description": DESCRIPTION, "parameters": SCHEMA},
        },
        kind="chat",
        client=lambda url: openai.OpenAI(base_url=url + "/v1", api_key="test", max_retries=0),
        send=lambda c, req: c.chat.completions.create(model="gpt-test", **req),
        replies=lambda r: [r.choices[0].message],
        results=lambda calls: [
            {"role": "tool", "tool_call_id": cid, "content": f"{city}: sunny, 21C"}
            for cid, city in calls
        ],
        expected_body=lambda req: {"model": "gpt-test", **req},
    )


def _responses_driver() -> Driver:
    import openai

    return Driver(
        adapter=OpenAIResponsesAdapter(prompt_cache_key="conversation-42"),
        tool={
            "type": "function",
            "name": "weather",
            "description": DESCRIPTION,
            "parameters": SCHEMA,
            "strict": False,
        },
        kind="responses",
        client=lambda url: openai.OpenAI(base_url=url + "/v1", api_key="test", max_retries=0),
        send=lambda c, req: c.responses.create(model="gpt-test", **req),
        replies=lambda r: list(r.output),
        results=lambda calls: [
            {"type": "function_call_output", "call_id": cid, "output": f"{city}: sunny, 21C"}
            for cid, city in calls
        ],
        expected_body=lambda req: {"model": "gpt-test", **req},
    )


def _anthropic_driver() -> Driver:
    import anthropic

    return Driver(
        adapter=AnthropicAdapter(),
        tool={"name": "weather", "description": DESCRIPTION, "input_schema": SCHEMA},
        kind="anthropic",
        client=lambda url: anthropic.Anthropic(base_url=url, api_key="test", max_retries=0),
        send=lambda c, req: c.messages.create(model="claude-test", max_tokens=256, **req),
        # The documented pattern: the reply's content blocks become the assistant turn.
        replies=lambda r: [
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in r.content]}
        ],
        results=lambda calls: [
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": cid, "content": f"{city}: sunny, 21C"}
                    for cid, city in calls
                ],
            }
        ],
        expected_body=lambda req: {"model": "claude-test", "max_tokens": 256, **req},
    )


def _gemini_driver() -> Driver:
    from google import genai

    def client(url: str) -> Any:
        return genai.Client(api_key="test", http_options={"base_url": url, "api_version": "v1beta"})

    return Driver(
        adapter=GeminiAdapter(),
        tool={"name": "weather", "description": DESCRIPTION, "parameters": SCHEMA},
        kind="gemini",
        client=client,
        send=lambda c, req: c.models.generate_content(model="gemini-test", **req),
        replies=lambda r: [r.candidates[0].content],
        results=lambda calls: [
            {
                "role": "user",
                "parts": [
                    {
                        "function_response": {
                            "id": cid,
                            "name": "weather",
                            "response": {"output": f"{city}: sunny, 21C"},
                        }
                    }
                    for cid, city in calls
                ],
            }
        ],
        expected_body=gemini_wire,
    )


# --------------------------------------------------------- Gemini REST view

_TO_CAMEL = {
    "function_call": "functionCall",
    "function_response": "functionResponse",
    "inline_data": "inlineData",
    "thought_signature": "thoughtSignature",
    "function_declarations": "functionDeclarations",
}


def _upper_types(schema: Any) -> Any:
    """google-genai sends a ``parameters`` schema with upper-case type names."""
    if isinstance(schema, dict):
        return {
            k: (v.upper() if k == "type" and isinstance(v, str) else _upper_types(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_upper_types(v) for v in schema]
    return schema


def gemini_wire(req: Json) -> Json:
    """What google-genai must send for ``req``: the REST spelling of the same request."""
    body: Json = {
        "contents": [
            {
                "role": c["role"],
                "parts": [{_TO_CAMEL.get(k, k): v for k, v in p.items()} for p in c["parts"]],
            }
            for c in req["contents"]
        ],
        "generationConfig": {},
    }
    config = req["config"]
    if "system_instruction" in config:
        body["systemInstruction"] = {
            "parts": [{"text": config["system_instruction"]}],
            "role": "user",
        }
    if "tools" in config:
        body["tools"] = [
            {
                "functionDeclarations": [
                    {**d, "parameters": _upper_types(d["parameters"])}
                    for d in t["function_declarations"]
                ]
            }
            if "function_declarations" in t
            else t
            for t in config["tools"]
        ]
    return body


DRIVERS = {
    "openai": _chat_driver,
    "openai_responses": _responses_driver,
    "anthropic": _anthropic_driver,
    "gemini": _gemini_driver,
}


# ------------------------------------------------------------ conversation


def _usage_for(n: int) -> FakeUsage:
    return FakeUsage(
        prompt=2000 + 10 * n,
        cached=1024 + 128 * n,
        written=64 * n,
        written_1h=16 * n,
        output=5 + n,
        reasoning=3,
    )


def _expected_usage(provider: str, u: FakeUsage) -> CacheUsage:
    if provider == "gemini":  # no cache writes reported; thoughts are output
        return CacheUsage(
            cache_read_tokens=u.cached,
            uncached_input_tokens=u.prompt - u.cached,
            output_tokens=u.output + u.reasoning,
        )
    return CacheUsage(
        cache_read_tokens=u.cached,
        cache_write_tokens=u.written,
        cache_write_1h_tokens=u.written_1h if provider == "anthropic" else 0,
        uncached_input_tokens=u.uncached,
        output_tokens=u.output,
    )


@dataclass
class Exchange:
    request: Json
    body: Json
    raw: bytes
    usage: CacheUsage
    context: bool


def _run_conversation(
    name: str,
    server: FakeServer,
    position: str,
    *,
    with_context: bool = True,
    parallel: bool | None = None,
) -> list[Exchange]:
    if parallel is None:
        # Responses items: parallel calls are consecutive function_call items,
        # which the core may not accept yet (see PARALLEL_ITEMS_GAP).
        parallel = name != "openai_responses" or _core_takes_consecutive_call_items()
    drv = DRIVERS[name]()
    cfg = PromptConfig(
        static_system_prompt=SYSTEM,
        tools=[drv.tool],
        adapter=drv.adapter,
        transition_mode="agent_cycle",
        dynamic_position=position,
    )
    pm = PromptManager(cfg)
    client = drv.client(server.url)
    exchanges: list[Exchange] = []
    clock = iter(f"Local time: 10:0{i}" for i in range(10))

    def step() -> list[Any]:
        n = len(exchanges)
        server.usage = _usage_for(n)
        context = next(clock) if with_context else None
        req = pm.build_request(context)
        snapshot = json.loads(json.dumps(req))
        resp = drv.send(client, req)
        rec = server.requests[-1]
        assert rec.kind == drv.kind
        exchanges.append(
            Exchange(snapshot, rec.body, rec.raw, drv.adapter.parse_usage(resp), with_context)
        )
        assert exchanges[-1].usage == _expected_usage(name, _usage_for(n))
        replies = drv.replies(resp)
        pm.extend(replies)
        return replies

    user = {
        "openai": lambda t: {"role": "user", "content": t},
        "openai_responses": lambda t: {"role": "user", "content": t},
        "anthropic": lambda t: {"role": "user", "content": [{"type": "text", "text": t}]},
        "gemini": lambda t: {"role": "user", "parts": [{"text": t}]},
    }[name]

    pm.append(user("What is the weather in Paris and in Rome?"))
    if parallel:
        server.reply_tool_calls(
            ("call_1", "weather", {"city": "Paris"}), ("call_2", "weather", {"city": "Rome"})
        )
        step()
        pm.extend(drv.results([("call_1", "Paris"), ("call_2", "Rome")]))
    else:
        server.reply_tool_calls(("call_1", "weather", {"city": "Paris"}))
        step()
        pm.extend(drv.results([("call_1", "Paris")]))
        server.reply_tool_calls(("call_2", "weather", {"city": "Rome"}))
        step()
        pm.extend(drv.results([("call_2", "Rome")]))
    server.reply_text("Sunny and 21C in both cities.")
    step()
    assert pm.state["recent"] == []  # the final answer closed the agent cycle

    pm.append(user("And in Oslo?"))
    server.reply_tool_calls(("call_3", "weather", {"city": "Oslo"}))
    step()
    pm.extend(drv.results([("call_3", "Oslo")]))
    server.reply_text("Sunny and 21C in Oslo too.")
    step()
    return exchanges


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # key order kept: a byte-level comparison


# -------------------------------------------------------------------- tests


def _core_keeps_a_parts_context() -> bool:
    """Whether the core can record a context message that has no 'content' key."""
    c = PromptConfig(adapter=GeminiAdapter(), dynamic_position="append")
    pm = PromptManager(c)
    pm.append({"role": "user", "parts": [{"text": "x"}]})
    try:
        pm.record_context("ctx")
    except KeyError:
        return False
    return True


def _core_takes_consecutive_call_items() -> bool:
    """Whether the core accepts parallel calls as consecutive Responses items."""
    pm = PromptManager(PromptConfig(adapter=OpenAIResponsesAdapter()))
    pm.append({"role": "user", "content": "x"})
    pm.append({"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"})
    try:
        pm.append({"type": "function_call", "call_id": "b", "name": "f", "arguments": "{}"})
    except PendingToolCallError:
        return False
    return True


# These two are gaps of the core, not of the adapters: each mark turns into
# a plain (and strict) test as soon as the core closes the gap.
GEMINI_APPEND_GAP = pytest.mark.xfail(
    not _core_keeps_a_parts_context(),
    raises=KeyError,
    strict=True,
    reason="functional.apply_context reads the context text from message['content']",
)
PARALLEL_ITEMS_GAP = pytest.mark.xfail(
    not _core_takes_consecutive_call_items(),
    raises=PendingToolCallError,
    strict=True,
    reason="the core's ordering check wants a result right after a call; Responses "
    "parallel calls are consecutive function_call items",
)
APPEND_GEMINI = pytest.param("gemini", "append", marks=GEMINI_APPEND_GAP)
CASES = [
    *[
        (p, pos)
        for p in DRIVERS
        for pos in ("tail", "before_recent", "append")
        if (p, pos) != ("gemini", "append")
    ],
    APPEND_GEMINI,
]


@pytest.mark.parametrize(("provider", "position"), CASES)
def test_the_sdk_sends_exactly_the_request_we_built(
    server: FakeServer, provider: str, position: str
) -> None:
    exchanges = _run_conversation(provider, server, position)
    drv = DRIVERS[provider]()
    parallel = provider != "openai_responses" or _core_takes_consecutive_call_items()
    assert len(exchanges) == (4 if parallel else 5)
    for ex in exchanges:
        expected = drv.expected_body(ex.request)
        if provider == "gemini":
            assert ex.body == expected  # the SDK re-keys objects; values must all match
        else:
            assert set(ex.body) == set(expected)
            for key, value in expected.items():
                assert _dumps(ex.body[key]) == _dumps(value), key


@pytest.mark.parametrize("provider", list(DRIVERS))
def test_tools_and_system_are_byte_stable_across_requests(
    server: FakeServer, provider: str
) -> None:
    exchanges = _run_conversation(provider, server, "tail")
    bodies = [ex.body for ex in exchanges]
    tools_key = "tools"
    first_tools = _dumps(bodies[0][tools_key])
    assert all(_dumps(b[tools_key]) == first_tools for b in bodies)
    if provider == "anthropic":
        assert all(b["system"][0]["text"] == SYSTEM for b in bodies)
    elif provider == "gemini":
        assert all(b["systemInstruction"]["parts"][0]["text"] == SYSTEM for b in bodies)
    elif provider == "openai_responses":
        assert all(b["input"][0] == {"role": "developer", "content": SYSTEM} for b in bodies)
        assert all(b["prompt_cache_key"] == "conversation-42" for b in bodies)
    else:
        assert all(b["messages"][0] == {"role": "system", "content": SYSTEM} for b in bodies)
    # The SDK serialised the tool definitions to the very same bytes each time.
    raw_tools = {_raw_value(ex.raw, "tools") for ex in exchanges}
    assert len(raw_tools) == 1


def _raw_value(raw: bytes, key: str) -> str:
    """The exact text of ``key``'s value inside a raw JSON body."""
    text = raw.decode()
    start = text.index(f'"{key}"') + len(key) + 2
    start = text.index(":", start - 1) + 1
    while text[start] == " ":
        start += 1
    _, end = json.JSONDecoder().raw_decode(text, start)
    return text[start:end]


@pytest.mark.parametrize(
    ("provider", "position"),
    [
        *[
            (p, pos)
            for p in DRIVERS
            for pos in ("tail", "append")
            if (p, pos) != ("gemini", "append")
        ],
        APPEND_GEMINI,
    ],
)
def test_each_request_extends_the_cacheable_prefix_of_the_one_before(
    server: FakeServer, provider: str, position: str
) -> None:
    exchanges = _run_conversation(provider, server, position)
    adapter = DRIVERS[provider]().adapter
    keys = [[b.key for b in adapter.flatten(ex.request).blocks] for ex in exchanges]
    for before, after in itertools.pairwise(keys):
        # With "tail" the context is the last block and is replaced each time;
        # with "append" the whole previous request is a prefix.
        stable = len(before) - 1 if position == "tail" else len(before)
        assert after[:stable] == before[:stable]
        assert len(after) > stable
    assert min(len(k) for k in keys) >= 3


def test_anthropic_markers_reach_the_wire(server: FakeServer) -> None:
    exchanges = _run_conversation("anthropic", server, "tail")
    for ex in exchanges:
        body = ex.body
        marked = [
            b
            for m in body["messages"]
            for b in m["content"]
            if isinstance(b, dict) and "cache_control" in b
        ]
        marked += [b for b in body["system"] if "cache_control" in b]
        marked += [t for t in body["tools"] if "cache_control" in t]
        assert 1 <= len(marked) <= 4
        assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
        assert all(b["cache_control"]["type"] == "ephemeral" for b in marked)


def test_openai_responses_sends_calls_and_outputs_as_items(server: FakeServer) -> None:
    exchanges = _run_conversation("openai_responses", server, "tail")
    items = exchanges[-1].body["input"]
    types = [i.get("type", i.get("role")) for i in items]
    assert types.count("function_call") == 3 and types.count("function_call_output") == 3
    calls = {i["call_id"] for i in items if i.get("type") == "function_call"}
    outputs = {i["call_id"] for i in items if i.get("type") == "function_call_output"}
    assert calls == outputs == {"call_1", "call_2", "call_3"}
    assert "instructions" not in exchanges[-1].body


def test_gemini_pairs_responses_by_id_and_keeps_roles_alternating(server: FakeServer) -> None:
    exchanges = _run_conversation("gemini", server, "tail")
    contents = exchanges[-1].body["contents"]
    roles = [c["role"] for c in contents]
    assert all(a != b for a, b in itertools.pairwise(roles)), roles
    calls = [p["functionCall"]["id"] for c in contents for p in c["parts"] if "functionCall" in p]
    answers = [
        p["functionResponse"]["id"] for c in contents for p in c["parts"] if "functionResponse" in p
    ]
    assert calls == answers == ["call_1", "call_2", "call_3"]
    assert exchanges[-1].body["tools"] == [
        {
            "functionDeclarations": [
                {"description": DESCRIPTION, "name": "weather", "parameters": _upper_types(SCHEMA)}
            ]
        }
    ]


@pytest.mark.parametrize("provider", list(DRIVERS))
def test_usage_reads_back_from_plain_json_too(server: FakeServer, provider: str) -> None:
    drv = DRIVERS[provider]()
    server.usage = FakeUsage(prompt=3000, cached=2048, written=256, written_1h=56, output=9)
    cfg = PromptConfig(static_system_prompt=SYSTEM, adapter=drv.adapter)
    pm = PromptManager(cfg)
    first = {
        "gemini": {"role": "user", "parts": [{"text": "hi"}]},
        "anthropic": {"role": "user", "content": "hi"},
    }.get(provider, {"role": "user", "content": "hi"})
    pm.append(first)
    resp = drv.send(drv.client(server.url), pm.build_request())
    as_json = resp.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert drv.adapter.parse_usage(as_json) == drv.adapter.parse_usage(resp)
    assert drv.adapter.parse_usage(resp) == _expected_usage(
        provider, FakeUsage(prompt=3000, cached=2048, written=256, written_1h=56, output=9)
    )


@PARALLEL_ITEMS_GAP
def test_responses_parallel_calls_arrive_as_consecutive_items(server: FakeServer) -> None:
    exchanges = _run_conversation("openai_responses", server, "tail", parallel=True)
    assert len(exchanges) == 4


@pytest.mark.parametrize("provider", ["anthropic", "openai_responses"])
def test_provider_diagnostics_fields_go_through_the_sdks_unchanged(
    server: FakeServer, provider: str
) -> None:
    """With ``provider_diagnostics=True`` the manager's requests carry the previous
    response's id, and each SDK sends the field exactly as built."""
    import anthropic
    import openai

    if provider == "anthropic":
        adapter: ProviderAdapter = AnthropicAdapter(provider_diagnostics=True)
        client: Any = anthropic.Anthropic(base_url=server.url, api_key="test", max_retries=0)
        send = lambda req: client.messages.create(model="claude-test", max_tokens=64, **req)  # noqa: E731
    else:
        adapter = OpenAIResponsesAdapter(model="gpt-5.6-sol", provider_diagnostics=True)
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0)
        send = lambda req: client.responses.create(model="gpt-5.6-sol", **req)  # noqa: E731
    pm = PromptManager(PromptConfig(adapter=adapter, static_system_prompt=SYSTEM))
    built = []
    for turn in range(3):
        pm.append({"role": "user", "content": f"Question {turn}"})
        request = pm.build_request()
        built.append(request)
        response = send(request)
        if provider == "anthropic":
            pm.append(response)  # the whole Message: the manager keeps its id
        else:
            pm.extend(response.output, response_id=response.id)
    bodies = [r.body for r in server.requests]
    for request, body in zip(built, bodies, strict=True):
        for key, value in request.items():
            assert _dumps(body[key]) == _dumps(value), key
    if provider == "anthropic":
        ids = [b["diagnostics"]["previous_message_id"] for b in bodies]
        assert ids == [None, "msg_0", "msg_1"]
    else:
        ids = [b.get("prompt_cache_options", {}).get("comparison_response_id") for b in bodies]
        assert ids == [None, "resp_0", "resp_1"]
