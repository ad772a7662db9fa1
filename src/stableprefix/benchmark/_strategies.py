"""Strategies: how a client turns workload steps into provider requests.

Approach: a strategy opens a ``Session`` for a workload in one wire format.
For each step the session is given the messages that arrived and the
dynamic context (``request``), returns the request dict it would send, and
is then given the model's answer (``reply``). Sessions keep one history per
conversation. What they send is all that differs between strategies; the
conversation itself is the workload's.

- ``stableprefix-<position>``: the library's ``PromptManager`` with the
  provider's adapter (so Anthropic markers are the adapter's), the
  workload's history budget as ``history_max_tokens``, ``transition_mode=
  "agent_cycle"`` and the given ``dynamic_position``. ``stableprefix`` is
  the same with the library's default position.
- ``naive``: what most applications do. The static prompt and the dynamic
  context are concatenated into one system prompt; the oldest messages are
  dropped when history is over budget (then up to the next user message,
  so the request stays valid); for Anthropic one ``cache_control`` marker
  sits on the last message, the usual copy of the documentation example.
- ``sliding-window``: the common trimming pattern done with some care: a
  fixed system prompt, the dynamic context as a message at the end, and
  history cut to the newest ``budget`` tokens before every request (so it
  trims every turn once full). Anthropic markers go on the system prompt
  and the last history message. No routing key is sent by either baseline.

Both baselines build their requests with the adapter's ``render`` so they
are valid for the provider; they differ from the library only where the
pattern they stand for differs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from .._config import PromptConfig
from .._manager import PromptManager
from .._state import new_state
from ..adapters import AnthropicAdapter, RequestParts
from ._wire import Json, Wire, to_wire, tools_wire
from ._workloads import Step, Workload

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "Session",
    "make_session",
    "play",
]

#: Strategy names, in report order.
STRATEGIES = (
    "stableprefix",
    "stableprefix-tail",
    "stableprefix-before_recent",
    "stableprefix-append",
    "naive",
    "sliding-window",
)
#: The strategy a run without ``--compare`` reports.
DEFAULT_STRATEGY = "stableprefix"


class Session(Protocol):
    """One strategy playing one workload in one wire format."""

    def request(self, step: Step) -> dict[str, Any]:
        """Take the step's new messages; return the request to send."""
        ...

    def reply(self, step: Step) -> None:
        """Take the model's answer to the request just built."""
        ...


class StablePrefixSession:
    """The library's ``PromptManager``, one per conversation."""

    def __init__(self, workload: Workload, wire: Wire, position: str | None) -> None:
        extra: dict[str, Any] = {} if position is None else {"dynamic_position": position}
        self.wire = wire
        self.config = PromptConfig(
            static_system_prompt=workload.static_prompt,
            tools=tools_wire(wire.name, workload.tools),
            adapter=wire.adapter,
            history_max_tokens=workload.history_budget,
            transition_mode="agent_cycle",
            **extra,
        )
        self.managers: dict[str, PromptManager] = {}

    def _manager(self, conversation: str) -> PromptManager:
        pm = self.managers.get(conversation)
        if pm is None:
            pm = self.managers[conversation] = PromptManager(
                self.config, new_state(key=conversation)
            )
        return pm

    def request(self, step: Step) -> dict[str, Any]:
        pm = self._manager(step.conversation)
        pm.extend([w for m in step.inputs for w in to_wire(self.wire.name, m)])
        if step.warmup:
            return pm.build_warmup_request()
        return pm.build_request(step.context)

    def reply(self, step: Step) -> None:
        self._manager(step.conversation).extend(to_wire(self.wire.name, step.reply))


class _History:
    """One conversation's messages with their token counts; trimmed from the front."""

    __slots__ = ("counts", "messages", "start", "tokens")

    def __init__(self) -> None:
        self.messages: list[Json] = []
        self.counts: list[int] = []
        self.start = 0
        self.tokens = 0

    def add(self, messages: Sequence[Json], wire: Wire) -> None:
        for m in messages:
            n = wire.adapter.count_tokens(m)
            self.messages.append(m)
            self.counts.append(n)
            self.tokens += n

    def trim(self, budget: int, wire: Wire) -> None:
        """Drop oldest messages while over ``budget``, then up to a user turn.

        The newest round (from the last user turn on) is always kept, so
        the request stays valid however small the budget.
        """
        adapter = wire.adapter
        last_user = self.start
        for i in range(len(self.messages) - 1, self.start - 1, -1):
            if adapter.is_user_turn(self.messages[i]):
                last_user = i
                break
        while self.tokens > budget and self.start < last_user:
            self._drop()
        while self.start < last_user and not adapter.is_user_turn(self.messages[self.start]):
            self._drop()

    def _drop(self) -> None:
        self.tokens -= self.counts[self.start]
        self.start += 1

    @property
    def window(self) -> list[Json]:
        return self.messages[self.start :]


class _TrimmingSession:
    """Shared machinery of the two baselines."""

    def __init__(self, workload: Workload, wire: Wire) -> None:
        self.wire = wire
        self.budget = workload.history_budget
        self.static = workload.static_prompt
        self.tools = tuple(tools_wire(wire.name, workload.tools))
        adapter = wire.adapter
        self.static_tokens = adapter.count_tools_tokens(self.tools) + adapter.count_text_tokens(
            self.static
        )
        self.histories: dict[str, _History] = {}

    def _history(self, conversation: str) -> _History:
        return self.histories.setdefault(conversation, _History())

    def request(self, step: Step) -> dict[str, Any]:
        h = self._history(step.conversation)
        h.add([w for m in step.inputs for w in to_wire(self.wire.name, m)], self.wire)
        h.trim(self.budget, self.wire)
        return self.build(h, step.context)

    def reply(self, step: Step) -> None:
        self._history(step.conversation).add(to_wire(self.wire.name, step.reply), self.wire)

    def build(self, history: _History, context: str | None) -> dict[str, Any]:
        raise NotImplementedError


class NaiveSession(_TrimmingSession):
    """Static + dynamic in one system prompt; drop oldest when over budget."""

    def __init__(self, workload: Workload, wire: Wire) -> None:
        super().__init__(workload, wire)
        # Render without the library's markers; the one naive marker is added below.
        self.render_adapter = (
            AnthropicAdapter(min_cache_tokens=2**62) if wire.name == "anthropic" else wire.adapter
        )

    def build(self, history: _History, context: str | None) -> dict[str, Any]:
        system = f"{self.static}\n\n{context}" if context else self.static
        parts = RequestParts(
            tools=self.tools,
            static_system=system,
            history=history.window,
            recent=(),
            mark_recent=False,
        )
        request = self.render_adapter.render(parts)
        if self.wire.name == "anthropic":
            messages = list(request["messages"])
            messages[-1] = _mark_last_block(messages[-1])
            request["messages"] = messages
        return request


class SlidingWindowSession(_TrimmingSession):
    """Fixed system prompt, context at the end, newest ``budget`` tokens of history."""

    def build(self, history: _History, context: str | None) -> dict[str, Any]:
        parts = RequestParts(
            tools=self.tools,
            static_system=self.static,
            history=history.window,
            recent=(),
            context=context or None,
            position="tail",
            static_tokens=self.static_tokens,
            history_tokens=history.tokens,
            mark_recent=False,
        )
        return self.wire.adapter.render(parts)


def _mark_last_block(message: Json) -> Json:
    content = message["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    blocks[-1] = {**blocks[-1], "cache_control": {"type": "ephemeral"}}
    return {**message, "content": blocks}


def make_session(name: str, workload: Workload, wire: Wire) -> Session:
    """A fresh session of strategy ``name``.

    Raises:
        ValueError: ``name`` is not one of ``STRATEGIES``.

    >>> from stableprefix.benchmark._workloads import build_workload
    >>> from stableprefix.benchmark._wire import make_wire
    >>> w = build_workload("clock-chat", turns=2)
    >>> s = make_session("naive", w, make_wire("openai"))
    >>> s.request(w.steps[0])["messages"][0]["content"].endswith(w.steps[0].context)
    True
    """
    if name == "naive":
        return NaiveSession(workload, wire)
    if name == "sliding-window":
        return SlidingWindowSession(workload, wire)
    if name == "stableprefix":
        return StablePrefixSession(workload, wire, None)
    if name.startswith("stableprefix-") and name in STRATEGIES:
        return StablePrefixSession(workload, wire, name.split("-", 1)[1])
    raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def play(workload: Workload, session: Session) -> Iterator[tuple[Step, dict[str, Any]]]:
    """Yield ``(step, request)`` for every step; the reply is applied on resume.

    >>> from stableprefix.benchmark._workloads import build_workload
    >>> from stableprefix.benchmark._wire import make_wire
    >>> w = build_workload("rag-chat", turns=3)
    >>> len(list(play(w, make_session("stableprefix", w, make_wire("anthropic")))))
    3
    """
    for step in workload.steps:
        yield step, session.request(step)
        session.reply(step)
