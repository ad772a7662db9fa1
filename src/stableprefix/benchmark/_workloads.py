"""Benchmark workloads: provider-neutral scripts of timed conversation steps.

Approach: a workload is everything that happens, written down before any
strategy sees it: the static instructions and tool definitions, then one
``Step`` per request a client would send. A step says which conversation it
belongs to, when it is sent (seconds from the start), the dynamic context in
force, the messages that arrived since the last request (a user message or
tool results) and the model's answer that follows (text or tool calls).
Answers are scripted, so every strategy sends the same conversation and
only the request layout differs. Strategies turn steps into provider
requests; cache models score those requests at the step's time, so idle
gaps longer than a cache's lifetime cost what they cost in production.

Every workload is a pure function of its name, the number of turns and the
seed. Sizes follow what the workloads stand for: a static prompt plus tool
definitions of a few thousand tokens, retrieved chunks of 1-2k tokens,
tool outputs of 500-3000 tokens. Gaps: a few seconds between tool steps,
tens of seconds to minutes between user turns, and now and then a pause
longer than five minutes.

The fan-out workloads send their sub-requests at the same instant; each
step's ``first_byte`` is when its response begins, so a hosted cache model
lets a parallel request read only what an earlier response has begun to
serve (``benchmarks/warming.py`` measures the same with its own document).
"""

from __future__ import annotations

import datetime as _dt
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _text as T

__all__ = [
    "DEFAULT_TURNS",
    "WORKLOADS",
    "Message",
    "Step",
    "ToolCall",
    "ToolResult",
    "ToolSpec",
    "Workload",
    "build_workload",
]

#: Largest ``turns`` a workload accepts (keeps a typo from running for hours).
MAX_TURNS = 5000
_EPOCH = 1_748_937_600  # 2025-06-03 08:00:00 UTC, where every workload's clock starts


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolSpec:
    """A tool definition: name, description and JSON schema of its arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """One call the model makes."""

    id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResult:
    """What one tool returned for the call ``call_id``."""

    call_id: str
    name: str
    content: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """A provider-neutral message.

    ``role`` is ``"user"`` (``text``), ``"assistant"`` (``text`` and/or
    ``calls``) or ``"tool"`` (``results``: all results of the previous
    assistant message, in call order).
    """

    role: str
    text: str = ""
    calls: tuple[ToolCall, ...] = ()
    results: tuple[ToolResult, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One request: what arrived before it, and the answer after it."""

    conversation: str
    time: float
    context: str | None
    inputs: tuple[Message, ...]
    reply: Message
    output_tokens: int
    #: Seconds from sending the request until its response begins: what it
    #: writes to a hosted cache is readable only from then on.
    first_byte: float = 0.0
    #: A warm-up request: the smallest request that writes the prefix its
    #: conversation shares with others (``build_warmup_request``), sent first.
    warmup: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """A named script of steps sharing one static prompt and tool set.

    Attributes:
        history_budget: the history size (tokens) every strategy is held to.
    """

    name: str
    description: str
    static_prompt: str
    tools: tuple[ToolSpec, ...]
    steps: tuple[Step, ...]
    history_budget: int
    turns: int
    seed: int
    conversations: tuple[str, ...] = field(default=())

    @property
    def static_tokens(self) -> int:
        """Approximate tokens of the static prompt plus the tool definitions."""
        tools = sum(
            T.approx_tokens(
                json.dumps(
                    {"name": t.name, "description": t.description, "parameters": dict(t.parameters)}
                )
            )
            for t in self.tools
        )
        return T.approx_tokens(self.static_prompt) + tools


# ------------------------------------------------------------ static parts

_TOOL_NAMES = (
    ("search_docs", "query", "Search the internal documentation"),
    ("read_file", "path", "Read a file from the repository"),
    ("run_query", "sql", "Run a read-only SQL query against the analytics replica"),
    ("get_logs", "service", "Fetch recent log lines of a service"),
    ("list_tickets", "queue", "List open support tickets in a queue"),
    ("get_customer", "customer_id", "Look up a customer account"),
    ("get_metrics", "metric", "Read a time series from the metrics store"),
    ("run_tests", "target", "Run a test target and return its report"),
    ("create_ticket", "title", "Open a ticket for a follow-up"),
    ("send_email", "to", "Send an email on the user's behalf"),
)


def _tools(rng: random.Random) -> tuple[ToolSpec, ...]:
    out = []
    for name, arg, lead in _TOOL_NAMES:
        params = {
            "type": "object",
            "properties": {
                arg: {"type": "string", "description": T.sentence(rng)},
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 500,
                    "description": "Maximum number of items to return.",
                },
                "since": {
                    "type": "string",
                    "format": "date-time",
                    "description": "Only return items newer than this time.",
                },
            },
            "required": [arg],
        }
        desc = f"{lead}. {T.paragraph(rng, 110)}"
        out.append(ToolSpec(name=name, description=desc, parameters=params))
    return tuple(out)


def _static_prompt(rng: random.Random, tokens: int) -> str:
    sections = (
        "Role",
        "Tone and format",
        "Data handling",
        "Escalation",
        "Tools",
        "Known systems",
        "Examples",
    )
    per = tokens // len(sections)
    body = [f"## {title}\n{T.paragraph(rng, per)}" for title in sections]
    return "You are the operations assistant of a mid-sized online travel company.\n\n" + (
        "\n\n".join(body)
    )


# ------------------------------------------------------------------ helpers


class _Clock:
    """A conversation's time: realistic gaps, with a long pause now and then."""

    def __init__(self, rng: random.Random, start: float = 0.0) -> None:
        self.rng = rng
        self.now = start

    def user_gap(self) -> float:
        if self.rng.random() < 0.07:  # a meeting, a coffee: past a 5-minute TTL
            self.now += self.rng.uniform(360, 1200)
        else:
            self.now += self.rng.uniform(15, 150)
        return self.now

    def tool_gap(self) -> float:
        self.now += self.rng.uniform(2, 12)
        return self.now


def _stamp(seconds: float) -> str:
    t = _dt.datetime.fromtimestamp(_EPOCH + int(seconds), tz=_dt.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S UTC (%A)")


def _say(rng: random.Random, tokens: int) -> tuple[Message, int]:
    text = T.reply(rng, tokens)
    return Message(role="assistant", text=text), T.approx_tokens(text)


def _calls(rng: random.Random, n: int, counter: list[int]) -> tuple[Message, int]:
    calls = []
    for _ in range(n):
        name, arg, _lead = rng.choice(_TOOL_NAMES)
        counter[0] += 1
        calls.append(
            ToolCall(
                id=f"call_{counter[0]:05d}_{rng.getrandbits(24):06x}",
                name=name,
                arguments={arg: T.question(rng)[:80], "limit": rng.randint(5, 50)},
            )
        )
    lead = T.sentence(rng) if rng.random() < 0.5 else ""
    msg = Message(role="assistant", text=lead, calls=tuple(calls))
    return msg, 12 + sum(T.approx_tokens(json.dumps(dict(c.arguments))) for c in calls)


def _results(rng: random.Random, call: Message, low: int, high: int) -> Message:
    return Message(
        role="tool",
        results=tuple(
            ToolResult(
                call_id=c.id, name=c.name, content=T.tool_output(rng, rng.randint(low, high))
            )
            for c in call.calls
        ),
    )


def _user(rng: random.Random) -> Message:
    return Message(role="user", text=T.question(rng))


# ---------------------------------------------------------------- workloads


def _chat_step(
    rng: random.Random, clock: _Clock, conv: str, context: str, low: int, high: int
) -> Step:
    """One plain chat turn: a user message and a reply of ``low``-``high`` words."""
    reply, out = _say(rng, rng.randint(low, high))  # draw order kept: results stay seeded
    return Step(
        conversation=conv,
        time=clock.user_gap(),
        context=context,
        inputs=(_user(rng),),
        reply=reply,
        output_tokens=out,
    )


def _rag_chat(rng: random.Random, turns: int, conv: str = "c0") -> list[Step]:
    clock, steps, context = _Clock(rng), [], ""
    for turn in range(turns):
        if turn % 3 == 0:  # new retrieval every three turns
            n = rng.randint(3, 5)
            context = "Retrieved documents:\n\n" + "\n\n".join(
                T.chunk(rng, rng.randint(250, 380), i + 1) for i in range(n)
            )
        steps.append(_chat_step(rng, clock, conv, context, 150, 400))
    return steps


def _clock_chat(rng: random.Random, turns: int, conv: str = "c0") -> list[Step]:
    clock, steps = _Clock(rng), []
    for _ in range(turns):
        now = clock.user_gap()
        reply, out = _say(rng, rng.randint(120, 350))
        steps.append(
            Step(
                conversation=conv,
                time=now,
                context=f"Current time: {_stamp(now)}",
                inputs=(_user(rng),),
                reply=reply,
                output_tokens=out,
            )
        )
    return steps


def _agent_context(now: float, task: int, steps_done: int) -> str:
    minute = _stamp(now)[:16]
    return (
        f"Now: {minute} UTC. Workspace: ops-runbooks (branch main). "
        f"Task {task}: {steps_done} tool steps so far."
    )


def _agent_loop(rng: random.Random, turns: int, conv: str = "c0") -> list[Step]:
    clock, steps, counter = _Clock(rng), [], [0]
    for task in range(1, turns + 1):
        now = clock.user_gap()
        inputs: tuple[Message, ...] = (_user(rng),)
        cycle = rng.randint(5, 15)
        for k in range(cycle):
            call, out = _calls(rng, 2 if rng.random() < 0.2 else 1, counter)
            steps.append(
                Step(
                    conversation=conv,
                    time=now,
                    context=_agent_context(now, task, k),
                    inputs=inputs,
                    reply=call,
                    output_tokens=out,
                )
            )
            inputs = (_results(rng, call, 500, 3000),)
            now = clock.tool_gap()
        reply, out = _say(rng, rng.randint(150, 400))
        steps.append(
            Step(
                conversation=conv,
                time=now,
                context=_agent_context(now, task, cycle),
                inputs=inputs,
                reply=reply,
                output_tokens=out,
            )
        )
    return steps


def _long_chat(rng: random.Random, turns: int, conv: str = "c0") -> list[Step]:
    clock, steps = _Clock(rng), []
    plan, tickets = rng.choice(("team", "business", "enterprise")), rng.randint(0, 4)
    for turn in range(turns):
        if turn and turn % 12 == 0:  # the user's state changes now and then
            tickets = max(0, tickets + rng.choice((-1, 1, 1)))
        context = f"User: Greta H., plan={plan}, locale=de-DE, open tickets={tickets}."
        steps.append(_chat_step(rng, clock, conv, context, 100, 260))
    return steps


def _support_session(
    rng: random.Random, turns: int, conv: str, start: float, counter: list[int]
) -> list[Step]:
    clock, steps = _Clock(rng, start), []
    name, plan = rng.choice(T._NAMES), rng.choice(("free", "team", "business"))
    for _ in range(turns):
        now = clock.user_gap()
        inputs: tuple[Message, ...] = (_user(rng),)

        def ctx(t: float) -> str:
            return f"Customer: {name} ({plan} plan). Agent desk time: {_stamp(t)[:16]} UTC."

        for _ in range(rng.choice((0, 0, 1, 2))):
            call, out = _calls(rng, 1, counter)
            steps.append(
                Step(
                    conversation=conv,
                    time=now,
                    context=ctx(now),
                    inputs=inputs,
                    reply=call,
                    output_tokens=out,
                )
            )
            inputs = (_results(rng, call, 300, 900),)
            now = clock.tool_gap()
        reply, out = _say(rng, rng.randint(100, 300))
        steps.append(
            Step(
                conversation=conv,
                time=now,
                context=ctx(now),
                inputs=inputs,
                reply=reply,
                output_tokens=out,
            )
        )
    return steps


def _multi_session(rng: random.Random, turns: int, sessions: int = 6) -> list[Step]:
    counter = [0]
    out: list[Step] = []
    for i in range(sessions):
        out += _support_session(rng, turns, f"c{i}", rng.uniform(0, 600), counter)
    # interleave in time; a conversation's own steps keep their order
    order = sorted(range(len(out)), key=lambda k: (out[k].time, out[k].conversation, k))
    return [out[k] for k in order]


# Seconds until a response begins; an assumption, like warming.py's FIRST_BYTE.
_FIRST_BYTE = 1.5


def _fan_out(rng: random.Random, turns: int, warm: bool) -> list[Step]:
    """An agent sends ``turns`` sub-requests at once over a ~20k-token shared document.

    Every sub-request is its own conversation holding the same document
    (a user message and the agent's acknowledgement) and then its own task.
    With ``warm`` a warm-up request for the shared part goes first and the
    sub-requests leave once its response has begun.
    """
    document = "Filing to check, all segments:\n\n" + "\n\n".join(
        T.chunk(rng, 2500, i + 1) for i in range(8)
    )
    shared = (
        Message(role="user", text=document),
        Message(role="assistant", text="Read the whole filing. Ready for the sub-tasks."),
    )
    steps: list[Step] = []
    start = 0.0
    if warm:
        ack = Message(role="assistant", text="Ready.")
        steps.append(Step(conversation="warm", time=0.0, context=None, inputs=shared, reply=ack,
                          output_tokens=1, first_byte=_FIRST_BYTE, warmup=True))  # fmt: skip
        start = _FIRST_BYTE
    for n in range(turns):
        task = Message(role="user", text=f"Sub-task {n + 1}: {T.question(rng)}")
        reply, out = _say(rng, rng.randint(100, 250))
        steps.append(Step(conversation=f"sub{n + 1}", time=start, context=None,
                          inputs=(*shared, task), reply=reply, output_tokens=out,
                          first_byte=_FIRST_BYTE))  # fmt: skip
    return steps


@dataclass(frozen=True, slots=True)
class _Spec:
    description: str
    default_turns: int
    budget: int
    make: Callable[[random.Random, int], list[Step]]


_SPECS: dict[str, _Spec] = {
    "rag-chat": _Spec(
        "chat; 1-2k tokens of retrieved chunks, new every 3 turns", 24, 16000, _rag_chat
    ),
    "clock-chat": _Spec(
        "chat; a one-line timestamp that changes every turn", 24, 16000, _clock_chat
    ),
    "agent-loop": _Spec(
        "tasks of 5-15 tool calls with 500-3000-token outputs", 8, 48000, _agent_loop
    ),
    "long-chat": _Spec("320 short turns under a 6k-token history budget", 320, 6000, _long_chat),
    "multi-session": _Spec(
        "6 support chats with some tool calls, interleaved in time", 10, 16000, _multi_session
    ),
    "fan-out": _Spec(
        "N parallel sub-requests (turns) over one ~20k-token document, sent cold",
        8,
        48000,
        lambda rng, n: _fan_out(rng, n, warm=False),
    ),
    "fan-out-warm": _Spec(
        "the same fan-out after a warm-up request for the shared prefix",
        8,
        48000,
        lambda rng, n: _fan_out(rng, n, warm=True),
    ),
}

#: Workload names, in report order.
WORKLOADS: tuple[str, ...] = tuple(_SPECS)
#: Turns per workload when ``turns`` is not given.
DEFAULT_TURNS: Mapping[str, int] = {k: v.default_turns for k, v in _SPECS.items()}


def build_workload(name: str, *, turns: int | None = None, seed: int = 0) -> Workload:
    """The workload ``name`` with ``turns`` user turns (per conversation).

    Args:
        name: one of ``WORKLOADS``.
        turns: user turns per conversation (agent-loop: tasks); ``None``
            for the workload's default.
        seed: any int; the same seed gives the same workload.

    Returns:
        The ``Workload``.

    Raises:
        ValueError: an unknown name, or ``turns`` outside 1..5000.
        TypeError: ``turns`` or ``seed`` is not an int.

    >>> w = build_workload("clock-chat", turns=3, seed=7)
    >>> len(w.steps), w.steps[0].context.startswith("Current time:")
    (3, True)
    >>> build_workload("clock-chat", turns=3, seed=7) == w
    True
    """
    spec = _SPECS.get(name)
    if spec is None:
        raise ValueError(f"unknown workload {name!r}; choose one of {', '.join(WORKLOADS)}")
    for label, value in (("turns", turns), ("seed", seed)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"{label} must be an int, got {type(value).__name__}")
    n = spec.default_turns if turns is None else turns
    if not 1 <= n <= MAX_TURNS:
        raise ValueError(f"turns must be between 1 and {MAX_TURNS}, got {n}")
    static_rng = random.Random(f"static:{seed}")
    tools = _tools(static_rng)
    static = _static_prompt(static_rng, 1900)
    steps = tuple(spec.make(random.Random(f"{name}:{seed}"), n))
    convs = tuple(dict.fromkeys(s.conversation for s in steps))
    return Workload(
        name=name,
        description=spec.description,
        static_prompt=static,
        tools=tools,
        steps=steps,
        history_budget=spec.budget,
        turns=n,
        seed=seed,
        conversations=convs,
    )
