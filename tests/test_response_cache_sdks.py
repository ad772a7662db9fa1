"""cache.wrap(client) with the real openai, anthropic and google-genai SDKs against the
loopback server: hits return the SDK's own types, sync and async, plain and streamed;
errors, cut streams and truncated answers are never stored."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import types as gtypes
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response

from fakeserver import FakeServer, fake_server
from stableprefix import ResponseCache

__all__ = ["fake_server"]

MSGS = [{"role": "user", "content": "What is 2+2?"}]


def openai_client(server: FakeServer, cls: Any = openai.OpenAI) -> Any:
    return cls(api_key="sk-test", base_url=server.url + "/v1", max_retries=0)


def anthropic_client(server: FakeServer, cls: Any = anthropic.Anthropic) -> Any:
    return cls(api_key="sk-ant-test", base_url=server.url, max_retries=0)


def gemini_client(server: FakeServer) -> genai.Client:
    return genai.Client(
        api_key="g-test", http_options=gtypes.HttpOptions(base_url=server.url, api_version="v1beta")
    )


# name -> (make client, call, text of an answer)
Call = Callable[[Any, bool], Any]

CALLS: dict[str, tuple[Callable[[FakeServer], Any], Call, Callable[[Any], str], type]] = {
    "openai.chat": (
        openai_client,
        lambda c, s: c.chat.completions.create(
            model="gpt-4o-mini", messages=MSGS, temperature=0, stream=s
        ),
        lambda r: r.choices[0].message.content,
        ChatCompletion,
    ),
    "openai.responses": (
        openai_client,
        lambda c, s: c.responses.create(
            model="gpt-4o-mini", input="What is 2+2?", temperature=0, stream=s
        ),
        lambda r: r.output_text,
        Response,
    ),
    "anthropic.messages": (
        anthropic_client,
        lambda c, s: c.messages.create(
            model="claude-sonnet-5-5", max_tokens=64, messages=MSGS, stream=s
        ),
        lambda r: r.content[0].text,
        anthropic.types.Message,
    ),
    "gemini": (
        gemini_client,
        lambda c, s: (c.models.generate_content_stream if s else c.models.generate_content)(
            model="gemini-2.5-flash",
            contents="What is 2+2?",
            config=gtypes.GenerateContentConfig(temperature=0),
        ),
        lambda r: r.text,
        gtypes.GenerateContentResponse,
    ),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_repeated_call_is_answered_once_with_the_sdk_type(
    fake_server: FakeServer, name: str
) -> None:
    make, call, text, kind = CALLS[name]
    cache = ResponseCache(namespace="t")
    client = cache.wrap(make(fake_server))
    fake_server.reply_text("four")
    first = call(client, False)
    second = call(client, False)
    assert len(fake_server.requests) == 1
    assert type(second) is kind and text(second) == "four" == text(first)
    assert (cache.stats.hits, cache.stats.misses, cache.stats.stored) == (1, 1, 1)
    assert cache.stats.input_tokens_saved == 1200  # the loopback server's usage


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_stream_is_stored_when_complete_and_replayed_as_sdk_events(
    fake_server: FakeServer, name: str
) -> None:
    make, call, text, kind = CALLS[name]
    cache = ResponseCache(namespace="t")
    client = cache.wrap(make(fake_server))
    fake_server.reply_text("four!")
    live = list(call(client, True))
    replayed = list(call(client, True))
    assert len(fake_server.requests) == 1
    assert [type(e) for e in replayed] == [type(e) for e in live]
    assert [e.model_dump() for e in replayed] == [e.model_dump() for e in live]
    plain = call(client, False)  # the assembled answer serves a plain call too
    assert len(fake_server.requests) == 1
    assert type(plain) is kind and text(plain) == "four!"


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_cut_stream_is_not_stored(fake_server: FakeServer, name: str) -> None:
    make, call, _, _ = CALLS[name]
    cache = ResponseCache(namespace="t")
    client = cache.wrap(make(fake_server))
    fake_server.cut_streams = True
    with contextlib.suppress(Exception):  # an SDK may raise on a dropped connection
        list(call(client, True))
    assert cache.stats.stored == 0
    fake_server.cut_streams = False
    list(call(client, True))
    assert len(fake_server.requests) == 2 and cache.stats.stored == 1


def test_a_stream_abandoned_halfway_is_not_stored(fake_server: FakeServer) -> None:
    cache = ResponseCache(namespace="t")
    client = cache.wrap(openai_client(fake_server))
    with client.chat.completions.create(
        model="gpt-4o-mini", messages=MSGS, temperature=0, stream=True
    ) as stream:
        first = next(iter(stream))
        assert isinstance(first, ChatCompletionChunk)
    assert cache.stats.stored == 0


@pytest.mark.parametrize("name", ["openai.chat", "anthropic.messages"])
def test_errors_are_raised_as_the_sdk_does_and_never_stored(
    fake_server: FakeServer, name: str
) -> None:
    make, call, text, _ = CALLS[name]
    cache = ResponseCache(namespace="t")
    client = cache.wrap(make(fake_server))
    fake_server.reply_error(500)
    with pytest.raises((openai.InternalServerError, anthropic.InternalServerError)):
        call(client, False)
    fake_server.reply_text("four")
    assert text(call(client, False)) == "four"
    assert len(fake_server.requests) == 2


def test_truncated_answers_are_not_stored(fake_server: FakeServer) -> None:
    cache = ResponseCache(namespace="t")
    client = cache.wrap(anthropic_client(fake_server))
    fake_server.raw_usage = {}
    original = fake_server._answer

    def truncated(kind: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return original(kind, path, body) | {"stop_reason": "max_tokens"}

    fake_server._answer = truncated  # type: ignore[method-assign]
    for _ in range(2):
        client.messages.create(model="claude-sonnet-5-5", max_tokens=1, messages=MSGS)
    assert len(fake_server.requests) == 2 and cache.stats.not_stored == 2


def test_async_clients(fake_server: FakeServer) -> None:
    cache = ResponseCache(namespace="t")
    oai = cache.wrap(openai_client(fake_server, openai.AsyncOpenAI))
    ant = cache.wrap(anthropic_client(fake_server, anthropic.AsyncAnthropic))
    gem = cache.wrap(gemini_client(fake_server))

    async def main() -> list[str]:
        out = []
        for _ in range(2):
            r = await oai.chat.completions.create(model="gpt-4o-mini", messages=MSGS, temperature=0)
            out.append(type(r).__name__)
            m = await ant.messages.create(model="claude-sonnet-5-5", max_tokens=9, messages=MSGS)
            out.append(type(m).__name__)
            g = await gem.aio.models.generate_content(model="gemini-2.5-flash", contents="x")
            out.append(type(g).__name__)
            s = await oai.chat.completions.create(
                model="gpt-4o-mini", messages=MSGS, temperature=0.5, stream=True
            )
            async with s:
                out.append(str(len([e async for e in s])))
            gs = await gem.aio.models.generate_content_stream(
                model="gemini-2.5-flash", contents="x"
            )
            out.append(str(len([e async for e in gs])))
        return out

    names = asyncio.run(main())
    # the Gemini stream asks what the plain Gemini call asked: its answer replays as one chunk
    assert (
        names[:5] == names[5:] == ["ChatCompletion", "Message", "GenerateContentResponse", "4", "1"]
    )
    assert len(fake_server.requests) == 4
    assert cache.stats.hits == 6


def test_cache_key_from_a_prompt_manager(fake_server: FakeServer) -> None:
    from stableprefix import PromptConfig, PromptManager

    cache = ResponseCache(namespace="t")
    client = cache.wrap(openai_client(fake_server))
    pm = PromptManager(PromptConfig(static_system_prompt="Be brief."))
    pm.append({"role": "user", "content": "Hi"})
    settings = {"model": "gpt-4o-mini", "temperature": 0}
    for _ in range(2):
        request = pm.build_request()
        client.chat.completions.create(
            **settings, **request, cache_key=cache.turn_key(pm, settings)
        )
    assert len(fake_server.requests) == 1
    assert "cache_key" not in fake_server.requests[0].body


def test_other_methods_and_clients_pass_through(fake_server: FakeServer) -> None:
    cache = ResponseCache(namespace="t")
    client = openai_client(fake_server)
    wrapped = cache.wrap(client)
    assert wrapped.chat.completions.with_raw_response is not None
    assert wrapped.api_key == "sk-test"
    with pytest.raises(TypeError, match="openai, anthropic or google-genai"):
        cache.wrap(object())


def test_readme_shows_wrapping_and_replay() -> None:
    from pathlib import Path

    text = (Path(__file__).parent.parent / "README.md").read_text()
    for needle in (
        "cache.wrap(openai.OpenAI())",
        "cache.turn_key(chat, settings)",
        'ResponseCache.recording(path, mode="replay")',
    ):
        assert needle in text  # test_readme.py runs every README block


def _text_of_events(name: str, events: list[Any]) -> str:
    """The answer text a consumer reads from stream events, as each API documents it."""
    if name == "openai.chat":
        return "".join(e.choices[0].delta.content or "" for e in events if e.choices)
    if name == "openai.responses":
        return "".join(e.delta for e in events if e.type == "response.output_text.delta")
    if name == "anthropic.messages":
        return "".join(
            e.delta.text
            for e in events
            if e.type == "content_block_delta" and e.delta.type == "text_delta"
        )
    return "".join(e.text or "" for e in events)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_streamed_call_replays_an_answer_a_plain_call_stored(
    fake_server: FakeServer, name: str
) -> None:
    from stableprefix.response_cache._assemble import assemble

    make, call, text, _ = CALLS[name]
    cache = ResponseCache(namespace="t")
    client = cache.wrap(make(fake_server))
    fake_server.reply_text("four, said plainly")
    plain = call(client, False)
    replayed = list(call(client, True))
    assert len(fake_server.requests) == 1  # the stream was answered from the plain entry
    assert _text_of_events(name, replayed) == "four, said plainly" == text(plain)
    sdk = {"openai": "openai.types.", "anthropic": "anthropic.types.", "gemini": "google.genai."}
    assert all(type(e).__module__.startswith(sdk[name.split(".")[0]]) for e in replayed)
    endpoint = "gemini.generate_content" if name == "gemini" else name
    events = [e.model_dump(mode="json", exclude_none=True) for e in replayed]
    assembled = assemble(endpoint, events)
    assert assembled is not None  # the events make a complete stream
    assert text(type(plain).model_validate(assembled)) == text(plain)
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


def test_openai_chat_replay_honours_include_usage(fake_server: FakeServer) -> None:
    cache = ResponseCache(namespace="t")
    client = cache.wrap(openai_client(fake_server))
    fake_server.reply_text("four")
    client.chat.completions.create(model="gpt-4o-mini", messages=MSGS, temperature=0)
    with_usage = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MSGS,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    without = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MSGS, temperature=0, stream=True
        )
    )
    assert len(fake_server.requests) == 1
    assert with_usage[-1].choices == [] and with_usage[-1].usage is not None
    assert all(e.usage is None for e in without)
    assert [e.choices[0].finish_reason for e in without][-1] == "stop"


def test_async_streamed_call_replays_a_plain_entry(fake_server: FakeServer) -> None:
    cache = ResponseCache(namespace="t")
    client = cache.wrap(anthropic_client(fake_server, anthropic.AsyncAnthropic))
    fake_server.reply_text("four")

    async def main() -> list[Any]:
        await client.messages.create(model="claude-sonnet-5-5", max_tokens=9, messages=MSGS)
        stream = await client.messages.create(
            model="claude-sonnet-5-5", max_tokens=9, messages=MSGS, stream=True
        )
        return [e async for e in stream]

    events = asyncio.run(main())
    assert len(fake_server.requests) == 1
    assert _text_of_events("anthropic.messages", events) == "four"
