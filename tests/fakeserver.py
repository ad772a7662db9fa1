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
Streaming: a request with ``"stream": true`` (or Gemini's
``:streamGenerateContent``) is answered with server-sent events in the
endpoint's own event shapes, the same answer split into two text deltas.
``cut_streams`` stops every stream halfway and drops the connection;
``reply_error`` queues an HTTP error; ``hold`` (an ``Event``, set by default)
keeps answers back until it is set, for tests of concurrent calls.
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
    status: int = 200


def _kind(path: str) -> str | None:
    path = path.split("?", 1)[0]
    if path.endswith("/chat/completions"):
        return CHAT
    if path.endswith("/responses"):
        return RESPONSES
    if path.endswith("/messages"):
        return ANTHROPIC
    if path.endswith((":generateContent", ":streamGenerateContent")):
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
# ------------------------------------------------------------ stream shapes


def _halves(text: str | None) -> list[str]:
    text = text or ""
    return [text[: len(text) // 2], text[len(text) // 2 :]]


def _chat_events(answer: Json) -> list[tuple[str | None, Json]]:
    choice = answer["choices"][0]
    head = {k: answer[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    out: list[tuple[str | None, Json]] = []
    for i, piece in enumerate(_halves(choice["message"]["content"])):
        delta: Json = {"content": piece} | ({"role": "assistant"} if i == 0 else {})
        out.append(
            (None, head | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        )
    out.append(
        (
            None,
            head
            | {"choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]},
        )
    )
    out.append((None, head | {"choices": [], "usage": answer["usage"]}))
    return out


def _responses_events(answer: Json) -> list[tuple[str | None, Json]]:
    started = answer | {"status": "in_progress", "output": [], "usage": None}
    text = next(
        (
            c["text"]
            for item in answer["output"]
            if item["type"] == "message"
            for c in item["content"]
        ),
        "",
    )
    out: list[tuple[str | None, Json]] = [("response.created", {"response": started})]
    for piece in _halves(text):
        out.append(
            (
                "response.output_text.delta",
                {
                    "item_id": "msg_0",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": piece,
                    "logprobs": [],
                },
            )
        )
    out.append(("response.completed", {"response": answer}))
    return [
        (name, {"type": name, "sequence_number": i} | body) for i, (name, body) in enumerate(out)
    ]


def _anthropic_events(answer: Json) -> list[tuple[str | None, Json]]:
    usage = answer["usage"]
    start = answer | {"content": [], "stop_reason": None, "usage": usage | {"output_tokens": 1}}
    text = next((b["text"] for b in answer["content"] if b["type"] == "text"), "")
    out: list[tuple[str | None, Json]] = [
        ("message_start", {"message": start}),
        ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
    ]
    for piece in _halves(text):
        out.append(
            ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
        )
    out += [
        ("content_block_stop", {"index": 0}),
        (
            "message_delta",
            {
                "delta": {"stop_reason": answer["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        ),
        ("message_stop", {}),
    ]
    return [(name, {"type": name} | body) for name, body in out]


def _gemini_events(answer: Json) -> list[tuple[str | None, Json]]:
    candidate = answer["candidates"][0]
    text = next((p["text"] for p in candidate["content"]["parts"] if "text" in p), "")
    first, second = _halves(text)
    head = {"modelVersion": answer["modelVersion"], "responseId": answer["responseId"]}
    return [
        (
            None,
            head
            | {
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": first}]}, "index": 0}
                ]
            },
        ),
        (
            None,
            head
            | {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": second}]},
                        "finishReason": candidate["finishReason"],
                        "index": 0,
                    }
                ],
                "usageMetadata": answer["usageMetadata"],
            },
        ),
    ]


_EVENTS: dict[str, Callable[[Json], list[tuple[str | None, Json]]]] = {
    CHAT: _chat_events,
    RESPONSES: _responses_events,
    ANTHROPIC: _anthropic_events,
    GEMINI: _gemini_events,
}
_STATUS = "__http_status__"
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
        self.cut_streams = False
        self.hold = threading.Event()
        self.hold.set()
        self.arrived = 0  # requests received, counted before they are held
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

    def reply_error(self, status: int = 500, message: str = "upstream failed") -> None:
        """Queue an HTTP error answer for the next request."""
        self._replies.append(_Reply(text=message, status=status))

    def bodies(self, kind: str | None = None) -> list[Json]:
        """The JSON bodies received so far (of one kind, if given)."""
        return [r.body for r in self.requests if kind is None or r.kind == kind]

    def _answer(self, kind: str, path: str, body: Json) -> Json:
        """The JSON reply; an error queued by ``reply_error`` carries its HTTP status
        under ``_STATUS`` (taken out before sending)."""
        with self._lock:
            n = len(self.requests)
            reply = self._replies.popleft() if self._replies else _Reply(text="ok")
        if reply.status != 200:
            return {"error": {"message": reply.text, "type": "server_error"}, "type": "error",
                    _STATUS: reply.status}
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
                with server._lock:
                    server.arrived += 1
                server.hold.wait()
                answer = server._answer(kind, self.path, body)
                status = int(answer.pop(_STATUS, 200))
                with server._lock:
                    server.requests.append(Recorded(kind, self.path, body, raw, headers))
                if status == 200 and (body.get("stream") is True or "stream" in self.path):
                    self._stream(_EVENTS[kind](answer))
                else:
                    self._send(status, answer)

            def _stream(self, events: list[tuple[str | None, Json]]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                if server.cut_streams:
                    events = events[: len(events) // 2]
                for name, data in events:
                    head = f"event: {name}\n" if name else ""
                    self.wfile.write(f"{head}data: {json.dumps(data)}\n\n".encode())
                if (
                    not server.cut_streams
                    and events[0][0] is None
                    and "candidates" not in (events[0][1])
                ):
                    self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

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
