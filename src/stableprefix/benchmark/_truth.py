"""The truth check: the real llama.cpp server against the ``llamacpp`` cache model.

Approach: one conversation per layout (a ~500-token static system prompt,
short user questions and a clock line that changes every turn) is played
through the engine (``_engine``) with greedy replies of a few tokens. Then
``stableprefix.sim.LlamaCppCache`` is fed the same prompt token ids and
reply ids, and its predicted cache reads are set beside the cached tokens
the engine reported, request by request. They should agree within one
token: llama.cpp always evaluates a prompt's last token again, and whether
the slot kept a reply's last sampled token is the one thing the ids alone
do not show.

``python -m stableprefix.benchmark --truth-check`` prints the result;
``tests/test_engine.py`` checks the same conversations.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._engine import Engine, Layout, Turn, flat_prompt, play_conversation

__all__ = [
    "DESCRIPTIONS",
    "LAYOUTS",
    "STATIC_SYSTEM_PROMPT",
    "TOLERANCE",
    "USER_MESSAGES",
    "LayoutCheck",
    "check_layout",
    "clock_line",
    "naive_layout",
    "render_checks",
    "stableprefix_layout",
    "truth_check",
]

# --------------------------------------------------------------------------
# The conversation: a ~500-token static system prompt, user questions and a
# clock line that changes every turn.

STATIC_SYSTEM_PROMPT = """\
You are Quill, the help desk assistant of the Harbourside Public Library. \
You answer questions from members and visitors by chat.

Opening hours: Monday to Friday from nine in the morning to eight in the \
evening, Saturday from ten to five, closed on Sundays and public holidays. \
The children's floor closes one hour before the rest of the building. The \
reading room on the top floor is silent at all times.

Membership: anyone who lives, works or studies in the city can join for \
free with a photo identity card and a proof of address. Visitors from \
elsewhere may buy a yearly card for fifteen pounds. A lost card costs two \
pounds to replace. Members under sixteen need a parent or guardian to sign \
the form.

Loans: members may borrow up to twelve items at once. Books and audiobooks \
are lent for three weeks, films and games for one week. An item can be \
renewed twice, online or at the desk, unless another member has reserved \
it. Late returns cost twenty pence a day for adults and nothing for \
children, up to a limit of five pounds per item. Reservations cost nothing \
and stay on the hold shelf for seven days.

Services: free wireless internet, twenty public computers bookable in one \
hour blocks, printing at ten pence a page in black and forty in colour, a \
scanner, a quiet study area, three meeting rooms for groups of up to twelve \
people, and a local history archive open by appointment on Tuesdays and \
Thursdays. Events such as story time, coding club and the book circle are \
listed on the noticeboard by the main entrance.

How to answer: be friendly, brief and exact. Answer in one to three short \
sentences unless the member asks for details. Use only the facts in these \
instructions and in the conversation; when you do not know something, say \
so and suggest asking a librarian at the desk on the ground floor. Never \
invent opening times, prices or events. Do not ask for passwords, card PINs \
or payment details. If the member is upset, apologise once and offer a \
concrete next step. The current time, when given, comes in a separate note; \
use it to say whether the library is open right now.
"""

USER_MESSAGES = (
    "Hello! Is the library open right now?",
    "I just moved to the city. How do I get a library card?",
    "How many books can I borrow at once, and for how long?",
    "I think one of my books is four days late. What do I owe?",
    "Can I print a few pages of my CV in colour here?",
    "My daughter is ten. Can she join too, and does she pay fines?",
    "Is there a room where my study group of six can meet?",
    "Thanks a lot. When do you close today?",
)


def clock_line(turn: int) -> str:
    """The dynamic context of ``turn``: a clock that moves on every turn.

    >>> clock_line(0), clock_line(1)
    ('Current time: Friday 14 March, 10:00.', 'Current time: Friday 14 March, 10:07.')
    """
    minutes = 10 * 60 + 7 * turn
    return f"Current time: Friday 14 March, {minutes // 60 % 24:02d}:{minutes % 60:02d}."


def stableprefix_layout(config: Any) -> Layout:
    """A layout that lets a ``stableprefix.PromptManager`` build every request.

    Args:
        config: the ``PromptConfig``; its static system prompt is used as is.

    Returns:
        The layout (it holds its own manager, so use it for one conversation).

    >>> from stableprefix import PromptConfig
    >>> play = stableprefix_layout(PromptConfig(static_system_prompt="S",
    ...                                         dynamic_position="append"))
    >>> [m["role"] for m in play(0, "Hi", None)]
    ['system', 'user', 'system']
    >>> [m["content"] for m in play(1, "And?", "Hello")][-3:]
    ['Hello', 'And?', 'Current time: Friday 14 March, 10:07.']
    """
    from .._manager import PromptManager

    manager = PromptManager(config)

    def build(turn: int, user: str, reply: str | None) -> list[dict[str, Any]]:
        if reply is not None:
            manager.append({"role": "assistant", "content": reply})
        manager.append({"role": "user", "content": user})
        return list(manager.build_request(clock_line(turn))["messages"])

    return build


def naive_layout(static_system_prompt: str = STATIC_SYSTEM_PROMPT) -> Layout:
    """The common hand-built layout: the clock is pasted into the system prompt.

    Args:
        static_system_prompt: the instructions the clock line is appended to.

    Returns:
        The layout (it keeps the history, so use it for one conversation).

    >>> play = naive_layout("S")
    >>> play(0, "Hi", None)[0]["content"]
    'S\\n\\nCurrent time: Friday 14 March, 10:00.'
    """
    history: list[dict[str, Any]] = []

    def build(turn: int, user: str, reply: str | None) -> list[dict[str, Any]]:
        if reply is not None:
            history.append({"role": "assistant", "content": reply})
        history.append({"role": "user", "content": user})
        system = f"{static_system_prompt}\n\n{clock_line(turn)}"
        return [{"role": "system", "content": system}, *history]

    return build


# --------------------------------------------------------------------------
# The check itself


def _managed(**options: Any) -> Callable[[], Layout]:
    def make() -> Layout:
        from .._config import PromptConfig

        return stableprefix_layout(
            PromptConfig(static_system_prompt=STATIC_SYSTEM_PROMPT, **options)
        )

    return make


#: The layouts the check plays, each made fresh for one conversation.
#: ``default`` is the library's configuration, untouched.
LAYOUTS: dict[str, Callable[[], Layout]] = {
    "naive": naive_layout,
    "tail": _managed(dynamic_position="tail", transition_mode="agent_cycle"),
    "append": _managed(dynamic_position="append"),
    "default": _managed(),
}
#: What each layout does, printed above its table.
DESCRIPTIONS = {
    "naive": "hand-built: the clock line pasted into the system prompt",
    "tail": "stableprefix, dynamic_position='tail', transition_mode='agent_cycle'",
    "append": "stableprefix, dynamic_position='append'",
    "default": "stableprefix, default PromptConfig (dynamic_position='auto')",
}
TOLERANCE = 1  # tokens; see the module docstring for why not zero


@dataclass(frozen=True, slots=True)
class LayoutCheck:
    """One layout's conversation: the engine's cache reads beside the model's.

    Attributes:
        layout: the layout's name.
        prompt_tokens: prompt tokens the engine reported, per request.
        engine_cached: cached tokens the engine reported, per request.
        predicted: cache reads ``LlamaCppCache`` predicted, per request.
        prompt_ids: length of the prompt ids the model was fed, per request
            (equal to ``prompt_tokens`` when ``/tokenize`` matches the chat
            endpoint).
    """

    layout: str
    prompt_tokens: tuple[int, ...]
    engine_cached: tuple[int, ...]
    predicted: tuple[int, ...]
    prompt_ids: tuple[int, ...]

    @property
    def agrees(self) -> bool:
        """Every request within ``TOLERANCE`` tokens, on the same prompt lengths."""
        close = all(
            abs(p - e) <= TOLERANCE for p, e in zip(self.predicted, self.engine_cached, strict=True)
        )
        return close and self.prompt_ids == self.prompt_tokens

    def share(self, cached: Sequence[int]) -> float:
        """``cached`` as a share of the prompt tokens of requests 2 to N."""
        total = sum(self.prompt_tokens[1:])
        return sum(cached[1:]) / total if total else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The check as JSON-ready data (``requests`` numbered from 1)."""
        columns = zip(
            self.prompt_tokens, self.engine_cached, self.predicted, self.prompt_ids, strict=True
        )
        requests = [
            {"request": i, "prompt_tokens": n, "engine_cached": e, "model_predicted": p,
             "difference": p - e, "model_prompt_tokens": m}
            for i, (n, e, p, m) in enumerate(columns, 1)
        ]  # fmt: skip
        return {
            "layout": self.layout,
            "description": DESCRIPTIONS.get(self.layout, ""),
            "agree": self.agrees,
            "cached_share": self.share(self.engine_cached),
            "predicted_share": self.share(self.predicted),
            "requests": requests,
        }


def check_layout(name: str, turns: Sequence[Turn], prompts: Sequence[Sequence[int]]) -> LayoutCheck:
    """Feed one played conversation to ``LlamaCppCache`` and pair the numbers.

    Args:
        name: the layout's name.
        turns: the conversation as the engine answered it.
        prompts: each request's exact prompt token ids.

    Returns:
        The engine's and the model's cache reads, request by request.

    >>> turns = [Turn([], 4, 0, "ok", (7, 8)), Turn([], 7, 5, "ok", (9,))]
    >>> check = check_layout("x", turns, [[1, 2, 3, 4], [1, 2, 3, 4, 7, 5, 6]])
    >>> check.predicted, check.agrees
    ((0, 5), True)
    """
    from ..sim import LlamaCppCache

    # The layouts are played on one slot with the RAM prompt cache off.
    model = LlamaCppCache(ram_cache=False)
    predicted = [
        model.process(
            flat_prompt(ids), now=float(i), output_tokens=len(t.reply_ids),
            output_token_ids=t.reply_ids,
        ).cache_read_tokens
        for i, (ids, t) in enumerate(zip(prompts, turns, strict=True))
    ]  # fmt: skip
    return LayoutCheck(
        name,
        tuple(t.prompt_tokens for t in turns),
        tuple(t.cached_tokens for t in turns),
        tuple(predicted),
        tuple(len(ids) for ids in prompts),
    )


def truth_check(
    engine: Engine,
    *,
    turns: int = len(USER_MESSAGES),
    layouts: Sequence[str] = tuple(LAYOUTS),
    progress: Callable[[str], None] | None = None,
) -> list[LayoutCheck]:
    """Play each layout through the engine and check the model against it.

    Args:
        engine: the running server (``start_engine()``).
        turns: requests per conversation; the user messages repeat after 8.
        layouts: names from ``LAYOUTS``, in the order to play.
        progress: called with a line before each layout is played.

    Returns:
        One ``LayoutCheck`` per layout.

    >>> [c.agrees for c in truth_check(start_engine(), turns=2)]  # doctest: +SKIP
    [True, True, True, True]
    """
    users = [USER_MESSAGES[i % len(USER_MESSAGES)] for i in range(turns)]
    checks = []
    for name in layouts:
        if progress is not None:
            progress(f"playing {name} ({turns} requests)")
        played = play_conversation(engine, LAYOUTS[name](), user_messages=users)
        prompts = [engine.prompt_token_ids(t.messages) for t in played]
        checks.append(check_layout(name, played, prompts))
    return checks


_HEADS = ("request", "prompt tokens", "engine cached", "model predicted", "difference")


def _summary(check: LayoutCheck) -> str:
    n = len(check.prompt_tokens)
    span = f"requests 2-{n}" if n > 2 else "request 2" if n == 2 else "requests after the first"
    return (
        f"{check.layout}: agrees within {TOLERANCE} token: {'yes' if check.agrees else 'no'}; "
        f"cached share of {span}: engine {check.share(check.engine_cached):.1%}, "
        f"model {check.share(check.predicted):.1%}"
        + ("" if check.prompt_ids == check.prompt_tokens else
           f"; prompt ids {list(check.prompt_ids)} differ from the engine's prompt tokens")
    )  # fmt: skip


def render_checks(checks: Sequence[LayoutCheck], fmt: str, meta: dict[str, Any]) -> str:
    """The truth check's report: a request-by-request table per layout.

    Args:
        checks: the layouts' checks, in the order to print.
        fmt: ``"table"``, ``"markdown"`` or ``"json"``.
        meta: run settings (model, turns...), printed first.

    Returns:
        The report text (no trailing newline).

    Raises:
        ValueError: an unknown format.

    >>> c = LayoutCheck("tail", (600, 640), (0, 590), (0, 591), (600, 640))
    >>> print(render_checks([c], "table", {"turns": 2}))
    turns: 2
    <BLANKLINE>
    tail: stableprefix, dynamic_position='tail', transition_mode='agent_cycle'
    request  prompt tokens  engine cached  model predicted  difference
    -------  -------------  -------------  ---------------  ----------
          1            600              0                0           0
          2            640            590              591          +1
    tail: agrees within 1 token: yes; cached share of request 2: engine 92.2%, model 92.3%
    <BLANKLINE>
    difference = model predicted - engine cached. ...
    >>> json.loads(render_checks([c], "json", {}))["layouts"][0]["requests"][1]["difference"]
    1
    """
    if fmt == "json":
        doc = {**meta, "tolerance": TOLERANCE, "agree": all(c.agrees for c in checks)}
        return json.dumps({**doc, "layouts": [c.as_dict() for c in checks]}, indent=2)
    if fmt not in ("table", "markdown"):
        raise ValueError(f"unknown format {fmt!r}; choose one of table, markdown, json")
    head = "; ".join(f"{k}: {v}" for k, v in meta.items())
    parts = [f"_{head}_" if fmt == "markdown" else head] if meta else []
    for c in checks:
        cells = [
            [str(i), str(n), str(e), str(p), f"{p - e:+d}" if p != e else "0"]
            for i, (n, e, p) in enumerate(
                zip(c.prompt_tokens, c.engine_cached, c.predicted, strict=True), 1
            )
        ]
        if fmt == "markdown":
            lines = ["| " + " | ".join(r) + " |" for r in [list(_HEADS), *cells]]
            lines.insert(1, "|" + "---:|" * len(_HEADS))
            title = f"### {c.layout}\n\n{DESCRIPTIONS.get(c.layout, '')}".rstrip()
            parts.append(f"{title}\n\n" + "\n".join(lines) + f"\n\n{_summary(c)}")
        else:
            widths = [max(len(r[i]) for r in [_HEADS, *cells]) for i in range(len(_HEADS))]
            lines = [
                "  ".join(x.rjust(w) for x, w in zip(r, widths, strict=True))
                for r in [_HEADS, *cells]
            ]
            lines.insert(1, "  ".join("-" * w for w in widths))
            title = (
                f"{c.layout}: {DESCRIPTIONS[c.layout]}" if c.layout in DESCRIPTIONS else c.layout
            )
            parts.append(f"{title}\n" + "\n".join(lines) + "\n" + _summary(c))
    parts.append(
        "difference = model predicted - engine cached. The model is fed the exact prompt "
        "ids (/apply-template + /tokenize) and each reply's ids; one request at a time, "
        f"within {TOLERANCE} token counts as agreement."
    )
    return "\n\n".join(parts)
