"""The truth check with several conversations: slots, overlap, RAM cache, affinity.

Approach: three conversations of one app (same static system prompt, their
own questions, a clock line appended every turn) are played interleaved
round by round through a real llama.cpp server (``_engine``) with several
slots, each setup on its own: one request at a time or a round's requests
in flight together (sent a little apart, so the server sees them in a known
order), the host-RAM prompt cache on or off, and with or without slot
affinity (each conversation pinned to its own slot with ``id_slot``).
Every request's exact prompt ids, reply ids and the times it was sent and
answered are recorded, then ``stableprefix.sim.LlamaCppCache`` configured
like the server is fed the same requests at the same times, and its
predicted cache reads are set beside the engine's, request by request
(within one token, see ``_truth``).

A setup's static prompt starts with its own line, so what an earlier setup
left in the server's RAM prompt cache never matches (a cached prompt must
keep a quarter of itself to be restored) and every setup starts clean.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._engine import Engine, flat_prompt, start_engine
from ._truth import STATIC_SYSTEM_PROMPT, TOLERANCE, USER_MESSAGES, clock_line

__all__ = [
    "SETUPS",
    "Sent",
    "SlotCheck",
    "SlotSetup",
    "play_interleaved",
    "predict",
    "render_slot_checks",
    "slot_truth_check",
]

#: The shared static prompt: the first two paragraphs of the layouts' prompt.
SLOT_SYSTEM_PROMPT = "\n\n".join(STATIC_SYSTEM_PROMPT.split("\n\n")[:2])
RAM_CACHE_MIB = 256  # plenty for SmolLM2's few hundred tokens per prompt


@dataclass(frozen=True, slots=True)
class SlotSetup:
    """One server configuration and way of sending.

    Attributes:
        name: short label printed in the tables.
        slots: the server's ``--parallel``.
        ram_cache: whether the host-RAM prompt cache is on.
        concurrent: a round's requests are in flight together.
        affinity: each conversation pins its own slot (``id_slot``).
    """

    name: str
    slots: int
    ram_cache: bool
    concurrent: bool = False
    affinity: bool = False


#: The setups the check plays, in order.
SETUPS = (
    SlotSetup("1 slot, RAM cache on", 1, True),
    SlotSetup("3 slots, RAM cache off", 3, False),
    SlotSetup("3 slots, RAM cache on", 3, True),
    SlotSetup("3 slots, RAM cache off, concurrent", 3, False, concurrent=True),
    SlotSetup("3 slots, RAM cache on, concurrent", 3, True, concurrent=True),
    SlotSetup("3 slots, RAM cache on, affinity", 3, True, affinity=True),
    SlotSetup("3 slots, RAM cache on, affinity, concurrent", 3, True, True, True),
)


@dataclass(frozen=True, slots=True)
class Sent:
    """One request as sent and answered.

    Attributes:
        conversation: which conversation (0-based).
        prompt_ids: the exact prompt token ids (``/apply-template`` + ``/tokenize``).
        prompt_tokens: prompt tokens the engine reported.
        cached_tokens: the part it reused.
        reply_ids: the generated token ids.
        sent_at: seconds from the setup's start when it was sent.
        done_at: seconds from the setup's start when the answer arrived.
        slot: the pinned slot, or ``None``.
    """

    conversation: int
    prompt_ids: tuple[int, ...]
    prompt_tokens: int
    cached_tokens: int
    reply_ids: tuple[int, ...]
    sent_at: float
    done_at: float
    slot: int | None = None


def _conversation(setup: str, index: int) -> Callable[[int, str | None], list[dict[str, Any]]]:
    """Conversation ``index`` as a PromptManager with the context appended each turn."""
    from .._config import PromptConfig
    from .._manager import PromptManager

    static = f"Desk session: {setup}.\n\n{SLOT_SYSTEM_PROMPT}"
    manager = PromptManager(PromptConfig(static_system_prompt=static, dynamic_position="append"))

    def build(turn: int, reply: str | None) -> list[dict[str, Any]]:
        if reply is not None:
            manager.append({"role": "assistant", "content": reply})
        question = USER_MESSAGES[(3 * index + turn) % len(USER_MESSAGES)]
        manager.append({"role": "user", "content": question})
        return list(manager.build_request(clock_line(turn))["messages"])

    return build


def _send(
    engine: Engine, client: Any, messages: list[dict[str, Any]], slot: int | None, max_tokens: int
) -> tuple[int, int, str, tuple[int, ...]]:
    extra = {} if slot is None else {"id_slot": slot}
    response = client.chat.completions.create(
        model=engine.model, messages=messages, max_tokens=max_tokens, temperature=0,
        logprobs=True, extra_body=extra,
    )  # fmt: skip
    details = response.usage.prompt_tokens_details
    choice = response.choices[0]
    entries = choice.logprobs.content if choice.logprobs else None
    ids = tuple(int((e.model_extra or {})["id"]) for e in entries or ())
    cached = (details.cached_tokens or 0) if details else 0
    return response.usage.prompt_tokens, cached, choice.message.content or "", ids


def _timed(engine: Engine, client: Any, job: tuple[Any, ...], zero: float, max_tokens: int) -> None:
    """Send one request and store (sent, done, slot, answer), or the exception, in the job."""
    results, c, messages, slot = job
    start = time.monotonic() - zero
    try:
        answer = _send(engine, client, messages, slot, max_tokens)
    except Exception as exc:  # handed back to the main thread, which raises it
        results[c] = exc
        return
    results[c] = (start, time.monotonic() - zero, slot, answer)


def play_interleaved(
    engine: Engine,
    setup: SlotSetup,
    *,
    conversations: int = 3,
    rounds: int = 4,
    max_tokens: int = 8,
    stagger: float = 0.05,
) -> list[Sent]:
    """Play ``conversations`` conversations round by round through the engine.

    Args:
        engine: a running server with ``setup.slots`` slots.
        setup: how the requests are sent.
        conversations: conversations played side by side.
        rounds: requests per conversation.
        max_tokens: cap on each greedy reply.
        stagger: seconds between the requests of a concurrent round.

    Returns:
        Every request in the order it was sent.

    >>> sent = play_interleaved(start_engine(slots=3), SETUPS[1])  # doctest: +SKIP
    >>> len(sent)  # doctest: +SKIP
    12
    """
    client = engine.openai_client()
    engine.erase_slots()
    talks = [_conversation(setup.name, c) for c in range(conversations)]
    replies: list[str | None] = [None] * conversations
    sent: list[Sent] = []
    zero = time.monotonic()
    for turn in range(rounds):
        batch = [talks[c](turn, replies[c]) for c in range(conversations)]
        prompts = [tuple(engine.prompt_token_ids(m)) for m in batch]
        results: list[Any] = [None] * conversations
        jobs = [
            (results, c, batch[c], c % setup.slots if setup.affinity else None)
            for c in range(conversations)
        ]
        if setup.concurrent:
            threads = [
                threading.Thread(target=_timed, args=(engine, client, job, zero, max_tokens))
                for job in jobs
            ]
            for c, thread in enumerate(threads):
                if c:
                    time.sleep(stagger)
                thread.start()
            for thread in threads:
                thread.join()
        else:
            for job in jobs:
                _timed(engine, client, job, zero, max_tokens)
        for c, result in enumerate(results):
            if isinstance(result, Exception):
                raise result
            start, done, slot, (n, cached, reply, ids) = result
            replies[c] = reply
            sent.append(Sent(c, prompts[c], n, cached, ids, start, done, slot))
    sent.sort(key=lambda s: s.sent_at)
    return sent


def predict(setup: SlotSetup, sent: Sequence[Sent]) -> list[int]:
    """What ``LlamaCppCache`` configured like the server predicts for ``sent``.

    >>> s = [Sent(0, (1, 2, 3), 3, 0, (9,), 0.0, 1.0), Sent(1, (1, 2, 3), 3, 2, (), 2.0, 3.0)]
    >>> predict(SETUPS[1], s)
    [0, 2]
    """
    from ..sim import LlamaCppCache

    model = LlamaCppCache(slots=setup.slots, ram_cache=setup.ram_cache)
    return [
        model.process(
            flat_prompt(s.prompt_ids), now=s.sent_at, output_tokens=len(s.reply_ids),
            output_token_ids=s.reply_ids, done_at=s.done_at, slot=s.slot,
        ).cache_read_tokens
        for s in sent
    ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class SlotCheck:
    """One setup: the engine's cache reads beside the model's, request by request."""

    setup: SlotSetup
    sent: tuple[Sent, ...]
    predicted: tuple[int, ...]

    @property
    def mispredicted(self) -> int:
        """Requests where the model is off by more than ``TOLERANCE`` tokens."""
        pairs = zip(self.predicted, self.sent, strict=True)
        return sum(abs(p - s.cached_tokens) > TOLERANCE for p, s in pairs)

    @property
    def agrees(self) -> bool:
        """Every request within ``TOLERANCE`` tokens, on the same prompt lengths."""
        same = all(len(s.prompt_ids) == s.prompt_tokens for s in self.sent)
        return same and self.mispredicted == 0

    @property
    def overlapping(self) -> int:
        """Requests sent while another one was still running."""
        return sum(
            any(o is not s and o.sent_at < s.sent_at < o.done_at for o in self.sent)
            for s in self.sent
        )

    def share(self, cached: Sequence[int]) -> float:
        """``cached`` as a share of all prompt tokens."""
        total = sum(s.prompt_tokens for s in self.sent)
        return sum(cached) / total if total else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The check as JSON-ready data."""
        return {
            "setup": self.setup.name, "slots": self.setup.slots,
            "ram_cache": self.setup.ram_cache, "concurrent": self.setup.concurrent,
            "affinity": self.setup.affinity, "agree": self.agrees,
            "mispredicted": self.mispredicted, "overlapping": self.overlapping,
            "engine_share": self.share([s.cached_tokens for s in self.sent]),
            "model_share": self.share(self.predicted),
            "requests": [
                {"conversation": s.conversation, "slot": s.slot, "prompt_tokens": s.prompt_tokens,
                 "engine_cached": s.cached_tokens, "model_predicted": p,
                 "sent_at": round(s.sent_at, 3), "done_at": round(s.done_at, 3)}
                for s, p in zip(self.sent, self.predicted, strict=True)
            ],
        }  # fmt: skip


def slot_truth_check(
    *,
    setups: Sequence[SlotSetup] = SETUPS,
    rounds: int = 4,
    conversations: int = 3,
    progress: Callable[[str], None] | None = None,
) -> list[SlotCheck]:
    """Play every setup on a fresh-enough server and check the model against it.

    One server is started per (slots, RAM cache) pair and reused by the
    setups that share it.

    Returns:
        One ``SlotCheck`` per setup, in order.

    Raises:
        ImportError: the engine is not installed (the message says how).
        EngineError: the server failed.

    >>> [c.agrees for c in slot_truth_check()]  # doctest: +SKIP
    [True, True, True, True, True, True, True]
    """
    checks: list[SlotCheck] = []
    engines: dict[tuple[int, bool], Engine] = {}
    try:
        for setup in setups:
            key = (setup.slots, setup.ram_cache)
            if key not in engines:
                for old in engines.values():
                    old.close()
                engines = {key: start_engine(
                    slots=setup.slots, ram_cache_mib=RAM_CACHE_MIB if setup.ram_cache else 0
                )}  # fmt: skip
            if progress is not None:
                progress(f"playing {setup.name} ({conversations} x {rounds} requests)")
            sent = play_interleaved(engines[key], setup, conversations=conversations, rounds=rounds)
            checks.append(SlotCheck(setup, tuple(sent), tuple(predict(setup, sent))))
    finally:
        for engine in engines.values():
            engine.close()
    return checks


_COLUMNS = ("setup", "requests", "overlapping", "mispredicted", "engine cached", "model")


def render_slot_checks(checks: Sequence[SlotCheck], fmt: str) -> str:
    """The agreement table of every setup (and, as JSON, every request).

    Args:
        checks: the setups' checks.
        fmt: ``"table"``, ``"markdown"`` or ``"json"``.

    Returns:
        The report text.

    Raises:
        ValueError: an unknown format.

    >>> s = (Sent(0, (1, 2), 2, 0, (), 0.0, 1.0),)
    >>> print(render_slot_checks([SlotCheck(SETUPS[1], s, (0,))], "markdown"))
    | setup | requests | overlapping | mispredicted | engine cached | model |
    |---|---:|---:|---:|---:|---:|
    | 3 slots, RAM cache off | 1 | 0 | 0 | 0.0% | 0.0% |
    """
    if fmt == "json":
        return json.dumps({"tolerance": TOLERANCE, "setups": [c.as_dict() for c in checks]})
    if fmt not in ("table", "markdown"):
        raise ValueError(f"unknown format {fmt!r}; choose one of table, markdown, json")
    rows = [
        [c.setup.name, str(len(c.sent)), str(c.overlapping), str(c.mispredicted),
         f"{c.share([s.cached_tokens for s in c.sent]):.1%}", f"{c.share(c.predicted):.1%}"]
        for c in checks
    ]  # fmt: skip
    if fmt == "markdown":
        lines = ["| " + " | ".join(r) + " |" for r in [list(_COLUMNS), *rows]]
        lines.insert(1, "|---|" + "---:|" * (len(_COLUMNS) - 1))
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [list(_COLUMNS), *rows]) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(x.ljust(w) if i == 0 else x.rjust(w)
                  for i, (x, w) in enumerate(zip(r, widths, strict=True)))
        for r in [list(_COLUMNS), *rows]
    ]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
