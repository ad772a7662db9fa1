"""A local HTTP server that speaks just enough of four provider APIs for SDK tests.

Approach: the official SDKs are pointed at ``FakeServer.url`` (a threaded
``http.server`` bound to 127.0.0.1 on a free port). Each POST is recorded
(path, parsed JSON body, raw bytes, headers) and answered with a reply in the
shape of the endpoint it hit:

- ``/v1/chat/completions``                     OpenAI Chat Completions
- ``/v1/responses``                            OpenAI Responses
- ``/v1/messages``                             Anthropic Messages
- ``/v1beta/models/{model}:generateContent``   Gemini

What the reply says is queued per test with ``reply_text`` / ``reply_tool_calls``
(a plain text answer by default), and its usage numbers come from ``usage``:
one provider-neutral ``FakeUsage`` (or a callable computing it from the
request body) rendered in each provider's own field names. ``raw_usage``
replaces the rendered usage object outright, for tests of odd servers.
Nothing here leaves the loopback interface.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["FakeServer", "FakeUsage", "Recorded", "fake_server"]

Json = dict[str, Any]

CHAT, RESPONSES, ANTHROPIC, GEMINI = "chat", "responses", "anthropic", "gemini"


@dataclass(frozen=True)
class FakeUsage:
    """Provider-neutral usage numbers; ``prompt`` counts every input token."""

    prompt: int = 1200
    cached: int = 1024
    written: int = 0
    written_1h: int = 0
    output: int = 12
    reasoning: int = 0

    @property
    def uncached(self) -> int:
        return self.prompt - self.cached - self.written


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it."""

    kind: str
    path: str
    body: Json
    raw: bytes
    headers: dict[str, str]


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: Json


@dataclass
class _Reply:
    text: str | None = None
    calls: list[ToolCall] = field(default_factory=list)


def _kind(path: str) -> str | None:
    path = path.split("?", 1)[0]
    if path.endswith("/chat/completions"):
        return CHAT
    if path.endswith("/responses"):
        return RESPONSES
    if path.endswith("/messages"):
        return ANTHROPIC
    if path.endswith(":generateContent"):
        return GEMINI
    return None


# ------------------------------------------------------------- reply shapes


def _chat(reply: _Reply, usage: FakeUsage, model: str, n: int) -> Json:
    message: Json = {"role": "assistant", "content": reply.text}
    if reply.calls:
        message["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
            }
            for c in reply.calls
        ]
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": 1700000000 + n,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if reply.calls else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": usage.prompt,
            "completion_tokens": usage.output,
            "total_tokens": usage.prompt + usage.output,
            "prompt_tokens_details": {
                "cached_tokens": usage.cached,
                "cache_write_tokens": usage.written,
            },
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning},
        },
    }


def _responses(reply: _Reply, usage: FakeUsage, model: str, n: int) -> Json:
    output: list[Json] = []
    if reply.text is not None:
        output.append(
            {
                "type": "message",
                "id": f"msg_{n}",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
            }
        )
    for c in reply.calls:
        output.append(
            {
                "type": "function_call",
                "id": f"fc_{c.id}",
                "call_id": c.id,
                "name": c.name,
                "arguments": json.dumps(c.arguments),
                "status": "completed",
            }
        )
    return {
        "id": f"resp_{n}",
        "object": "response",
        "created_at": 1700000000 + n,
        "status": "completed",
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": usage.prompt,
            "input_tokens_details": {
                "cached_tokens": usage.cached,
                "cache_write_tokens": usage.written,
            },
            "output_tokens": usage.output,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning},
            "total_tokens": usage.prompt + usage.output,
        },
    }


def _anthropic(reply: _Reply, usage: FakeUsage, model: str, n: int) -> Json:
    content: list[Json] = []
    if reply.text is not None:
        content.append({"type": "text", "text": reply.text})
    content += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in reply.calls
    ]
    return {
        "id": f"msg_{n}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if reply.calls else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage.uncached,
            "cache_read_input_tokens": usage.cached,
            "cache_creation_input_tokens": usage.written,
            "cache_creation": {
                "ephemeral_5m_input_tokens": usage.written - usage.written_1h,
                "ephemeral_1h_input_tokens": usage.written_1h,
            },
            "output_tokens": usage.output,
        },
    }


def _gemini(reply: _Reply, usage: FakeUsage, model: str, n: int) -> Json:
    parts: list[Json] = []
    if reply.text is not None:
        parts.append({"text": reply.text})
    parts += [
        {"functionCall": {"id": c.id, "name": c.name, "args": c.arguments}} for c in reply.calls
    ]
    meta: Json = {
        "promptTokenCount": usage.prompt,
        "candidatesTokenCount": usage.output,
        "totalTokenCount": usage.prompt + usage.output + usage.reasoning,
    }
    if usage.cached:
        meta["cachedContentTokenCount"] = usage.cached
    if usage.reasoning:
        meta["thoughtsTokenCount"] = usage.reasoning
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": meta,
        "modelVersion": model,
        "responseId": f"resp-{n}",
    }


_SHAPES: dict[str, Callable[[_Reply, FakeUsage, str, int], Json]] = {
    CHAT: _chat,
    RESPONSES: _responses,
    ANTHROPIC: _anthropic,
    GEMINI: _gemini,
}
_USAGE_KEY = {CHAT: "usage", RESPONSES: "usage", ANTHROPIC: "usage", GEMINI: "usageMetadata"}


# ------------------------------------------------------------------- server


class FakeServer:
    """Records requests and answers like the provider whose path was hit.

    Use it as a context manager, or through the ``fake_server`` fixture.
    """

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.usage: FakeUsage | Callable[[str, Json], FakeUsage] = FakeUsage()
        self.raw_usage: dict[str, Json] = {}
        self._replies: deque[_Reply] = deque()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        # A short poll interval keeps shutdown (and so each test's teardown) fast.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash, no path)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- replies

    def reply_text(self, text: str) -> None:
        """Queue a plain text answer for the next request."""
        self._replies.append(_Reply(text=text))

    def reply_tool_calls(self, *calls: tuple[str, str, Json], text: str | None = None) -> None:
        """Queue an answer that calls tools: ``(id, name, arguments)`` each."""
        self._replies.append(_Reply(text=text, calls=[ToolCall(*c) for c in calls]))

    def bodies(self, kind: str | None = None) -> list[Json]:
        """The JSON bodies received so far (of one kind, if given)."""
        return [r.body for r in self.requests if kind is None or r.kind == kind]

    def _answer(self, kind: str, path: str, body: Json) -> Json:
        with self._lock:
            n = len(self.requests)
            reply = self._replies.popleft() if self._replies else _Reply(text="ok")
        usage = self.usage(kind, body) if callable(self.usage) else self.usage
        model = str(body.get("model") or path.rsplit("/", 1)[-1].split(":", 1)[0])
        out = _SHAPES[kind](reply, usage, model, n)
        if kind in self.raw_usage:
            out[_USAGE_KEY[kind]] = self.raw_usage[kind]
        return out

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                kind = _kind(self.path)
                if kind is None:
                    self._send(404, {"error": {"message": f"no fake endpoint {self.path}"}})
                    return
                body = json.loads(raw or b"{}")
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = server._answer(kind, self.path, body)
                with server._lock:
                    server.requests.append(Recorded(kind, self.path, body, raw, headers))
                self._send(200, answer)

            def _send(self, status: int, payload: Json) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    """A running ``FakeServer``, closed after the test."""
    with FakeServer() as server:
        yield server
