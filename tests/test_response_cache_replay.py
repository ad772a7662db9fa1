"""Record/replay for tests: calls recorded to JSON lines with the real SDKs, replayed with
no server at all; strict replay fails loudly; credentials never reach the file."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import openai
import pytest

from fakeserver import FakeServer, fake_server
from stableprefix import ReplayMissError, ResponseCache, ResponseCacheError
from stableprefix.response_cache import scrub

__all__ = ["fake_server"]

SECRET = "sk-proj-SECRETSECRET123"
DEAD = "http://127.0.0.1:9"  # nothing listens there: a replay must not call out


def calls(oai: openai.OpenAI, ant: anthropic.Anthropic) -> list[str]:
    chat = oai.chat.completions.create(
        model="gpt-4o-mini", temperature=0,
        messages=[{"role": "user", "content": f"My key is {SECRET}, what is 2+2?"}],
    )
    with ant.messages.create(model="claude-sonnet-5-5", max_tokens=50, stream=True,
                             messages=[{"role": "user", "content": "Hi"}]) as stream:
        text = "".join(e.delta.text for e in stream if e.type == "content_block_delta")
    return [chat.choices[0].message.content or "", text]


def clients(url: str, cache: ResponseCache) -> tuple[openai.OpenAI, anthropic.Anthropic]:
    return (
        cache.wrap(openai.OpenAI(api_key=SECRET, base_url=url + "/v1", max_retries=0)),
        cache.wrap(anthropic.Anthropic(api_key=SECRET, base_url=url, max_retries=0)),
    )


def test_record_then_replay_without_a_server(fake_server: FakeServer, tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    fake_server.reply_text("four")
    fake_server.reply_text("hello there")
    recorded = calls(*clients(fake_server.url, ResponseCache.recording(path, mode="record")))
    assert recorded == ["four", "hello there"]
    text = path.read_text()
    assert SECRET not in text and "[scrubbed]" in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 2 and lines[1]["entry"]["events"]

    replay = ResponseCache.recording(path, mode="replay")
    assert calls(*clients(DEAD, replay)) == recorded
    assert replay.stats.hits == 2 and len(fake_server.requests) == 2


def test_strict_replay_fails_loudly_on_an_unrecorded_request(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text("")
    oai, _ = clients(DEAD, ResponseCache.recording(path, mode="replay"))
    with pytest.raises(ReplayMissError, match="never recorded") as info:
        oai.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert info.value.path == str(path) and len(info.value.key) == 64


def test_auto_mode_records_only_what_is_missing(fake_server: FakeServer, tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    for _ in range(2):
        oai, _ = clients(fake_server.url, ResponseCache.recording(path, mode="auto"))
        oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user",
                                                                    "content": "x"}])
    assert len(fake_server.requests) == 1
    assert len(path.read_text().splitlines()) == 1


def test_a_missing_or_broken_recording_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(ResponseCacheError, match="record it first"):
        ResponseCache.recording(tmp_path / "none.jsonl", mode="replay")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"key": "k"}\n')
    with pytest.raises(ResponseCacheError, match=r"broken\.jsonl:1"):
        ResponseCache.recording(broken, mode="replay")
    with pytest.raises(ValueError, match="mode"):
        ResponseCache.recording(broken, mode="rewind")


def test_scrub() -> None:
    assert scrub({"headers": {"Authorization": "Bearer abc", "x-goog-api-key": "k"},
                  "note": "AIzaSyA1234567890123456789012"}) == {
        "headers": {"Authorization": "[scrubbed]", "x-goog-api-key": "[scrubbed]"},
        "note": "[scrubbed]",
    }
