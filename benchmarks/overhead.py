"""Library overhead: stableprefix next to llmbuffer 0.3.0, in one run.

Run it with llmbuffer installed only into the benchmark's throw-away
environment (never into the project)::

    uv run --with llmbuffer==0.3.0 python benchmarks/overhead.py
    uv run --with llmbuffer==0.3.0 python benchmarks/overhead.py --quick
    uv run --with llmbuffer==0.3.0 python benchmarks/overhead.py --json overhead.json

Approach: both libraries get the same deterministic conversation (user and
assistant messages of a few hundred characters, drawn from a seeded word
list) and each is used in its fastest configuration for the same work:
stableprefix's ``PromptManager`` with ``transition_mode="none"`` and the
default ``OpenAIAdapter``, llmbuffer's ``PromptManager`` without
``max_tokens`` (or with it, for the compaction measurement). Before timing,
the script checks that both build the same message list from the same
history, so the two sides really do the same work.

What is measured:

1. Per turn: append a user message, build the request, append the assistant
   reply, with 10, 100, 1,000 and 10,000 messages already in history. Each
   turn is timed on its own with ``time.perf_counter_ns`` and the median is
   reported. A manager is rebuilt from the pre-filled history (untimed)
   every ``max(1, size // 40)`` turns, so history stays within 5% of the
   stated size while timing (at 10 messages: 10 to 12).
2. One default compaction of a 5,000-turn history (10,000 messages): each
   manager is set up with its budget just above its own token count of the
   history (each library counts tokens its own way), then the single append
   that pushes history over the budget, and so compacts it down to the
   default target (``history_max_tokens // 2`` in ours, ``max_tokens // 2`` in
   llmbuffer), is timed.
3. Serialising and restoring the state of a 1,000-turn conversation: dumps
   time (the manager's, repeated: from its second call on it reuses the JSON
   of messages it already wrote; the first dumps of a freshly loaded
   manager, as in a request handler; and ``stableprefix.dumps`` of a state
   the functional API returned), loads time (to a state, to a state passed through the full
   ``check_state`` that every functional call and store applies, and to a
   manager), and the size in bytes of each library's default serialisation.
   llmbuffer's side is its unchecked ``loads`` / ``to_json`` throughout.

Every measurement runs the two libraries in alternating rounds (the state
measurements one repetition each in turn) and pools each one's samples:
the speed of a shared or virtual machine drifts between phases of a run
(the same per-turn figure was seen at 44 us in one phase and 76 us in the
next), and alternating keeps that drift out of the ratios.
The garbage collector stays on, as in an application; the median keeps the
occasional collection pause out of the per-turn figures. (Collecting right
before each timed turn was tried and dropped: it leaves caches cold and
inflates the next turn of either library by 20-60%.) The program always exits 0
once it has run (it is a report): failed checks are printed as FAIL.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import stableprefix as sp

RUN_COMMAND = "uv run --with llmbuffer==0.3.0 python benchmarks/overhead.py"
PEER_VERSION = "0.3.0"
SEED = 20240611
SIZES = (10, 100, 1_000, 10_000)
COMPACTION_TURNS = 5_000
STATE_TURNS = 1_000
SYSTEM_PROMPT = (
    "You are a careful assistant for a small engineering team. Answer in plain English, "
    "cite the files you relied on, say when you are unsure, and keep answers short unless "
    "the user asks for detail. Never invent command output."
)

Message = dict[str, Any]

# ------------------------------------------------------------ conversation

_VOCABULARY = (
    "the a an of to in for on with by from about after before between under over "
    "deploy service cluster request latency cache prefix token budget history "
    "message prompt model answer question report table column index query "
    "database migration schema backup restore release branch commit review test "
    "failure error timeout retry queue worker thread process memory disk network "
    "config option default value limit window rate price invoice customer order "
    "shipment warehouse forecast quarter revenue margin growth churn signup "
    "weather morning evening Monday Friday meeting agenda draft summary outline "
    "paragraph sentence chapter figure chart graph trend spike drop baseline "
    "should could would might will can must please maybe perhaps also then "
    "check compare explain rewrite shorten expand list count measure estimate "
    "fix update rename move delete create build run install upgrade rollback "
    "quickly carefully roughly exactly mostly rarely often usually again still"
)
_WORDS = _VOCABULARY.split()
# fmt: off
_OPENERS = ("Can you", "Please", "Could you", "I need you to", "Quick question:",
            "Following up on that,", "One more thing:", "Thanks. Now")
_REPLIES = ("Sure.", "Here is what I found.", "Short answer:", "Looking at the logs,",
            "Two things stand out.", "Yes, with one caveat.", "I checked the config.")
_FILES = ("api/routes.py", "db/schema.sql", "deploy.yaml", "README.md", "jobs/nightly.py")
# fmt: on


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 16))]
    if rng.random() < 0.25:
        words.insert(rng.randrange(len(words)), str(rng.randint(2, 99_999)))
    if rng.random() < 0.15:
        words.insert(rng.randrange(len(words)), f"`{rng.choice(_FILES)}`")
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice(".....?!;")


def _text(rng: random.Random, lead: Sequence[str], low: int, high: int) -> str:
    """About ``low``..``high`` characters of varied, sentence-shaped text."""
    size = rng.randint(low, high)
    parts = [rng.choice(lead)]
    while sum(len(p) + 1 for p in parts) < size:
        parts.append(_sentence(rng))
    return " ".join(parts)


def conversation(turns: int, seed: int = SEED) -> list[Message]:
    """``turns`` user/assistant pairs, the same for a given seed."""
    rng = random.Random(seed)
    out: list[Message] = []
    for _ in range(turns):
        out.append({"role": "user", "content": _text(rng, _OPENERS, 120, 400)})
        out.append({"role": "assistant", "content": _text(rng, _REPLIES, 200, 700)})
    return out


# ---------------------------------------------------------------- the peers


def import_peer() -> Any:
    """llmbuffer, or exit with the command that runs this benchmark."""
    try:
        import llmbuffer  # type: ignore[import-not-found]
    except ImportError:
        sys.stderr.write(
            "llmbuffer is not importable. It is installed only into the benchmark's own\n"
            f"environment; run:\n\n    {RUN_COMMAND}\n"
        )
        raise SystemExit(2) from None
    version = getattr(llmbuffer, "__version__", "?")
    if version != PEER_VERSION:
        sys.stderr.write(
            f"llmbuffer {version} is installed; this benchmark compares against "
            f"{PEER_VERSION}. Run:\n\n    {RUN_COMMAND}\n"
        )
        raise SystemExit(2)
    return llmbuffer


class Ours:
    """stableprefix, driven the way an application would drive it."""

    def __init__(self) -> None:
        self.config = sp.PromptConfig(static_system_prompt=SYSTEM_PROMPT, transition_mode="none")

    def state_of(self, history: list[Message]) -> sp.State:
        pm = sp.PromptManager(self.config)
        pm.extend(history)
        return pm.state

    def manager(self, state: sp.State, config: sp.PromptConfig | None = None) -> Any:
        return sp.PromptManager(config or self.config, state)

    @staticmethod
    def turn(pm: Any, user: Message, reply: Message) -> None:
        pm.append(user)
        pm.build_request()
        pm.append(reply)

    @staticmethod
    def messages(pm: Any) -> Any:
        return pm.build_request()["messages"]


class Peer:
    """llmbuffer 0.3.0 through its own ``PromptManager``."""

    def __init__(self, lib: Any) -> None:
        self.lib = lib

    @staticmethod
    def state_of(history: list[Message]) -> list[Message]:
        return list(history)  # llmbuffer's manager starts from a plain list of messages

    def manager(self, history: list[Message], max_tokens: int | None = None) -> Any:
        state = {"version": 1, "long_lived": list(history), "short_term": []}
        return self.lib.PromptManager(
            static_system_prompt=SYSTEM_PROMPT, max_tokens=max_tokens, state=state
        )

    @staticmethod
    def turn(pm: Any, user: Message, reply: Message) -> None:
        pm.append(user)
        pm.build_messages()
        pm.append(reply)

    @staticmethod
    def messages(pm: Any) -> Any:
        return pm.build_messages()


# ------------------------------------------------------------------ timing


@dataclass(frozen=True)
class Stat:
    """Summary of timing samples (or a single size in bytes)."""

    median: float
    p25: float
    p75: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stat:
        if len(samples) == 1:
            return cls(samples[0], samples[0], samples[0], 1)
        q = statistics.quantiles(samples, n=4)
        return cls(statistics.median(samples), q[0], q[2], len(samples))


@dataclass(frozen=True)
class Plan:
    """Timed repetitions per measurement, and in how many alternating rounds."""

    turns: dict[int, tuple[int, int]]  # size -> (stableprefix turns, llmbuffer turns)
    compactions: tuple[int, int]
    serialisations: int
    rounds: int


FULL = Plan(
    turns={10: (6000, 6000), 100: (6000, 3000), 1_000: (4000, 600), 10_000: (3000, 100)},
    compactions=(25, 5),
    serialisations=60,
    rounds=10,
)
QUICK = Plan(
    turns={10: (300, 300), 100: (300, 200), 1_000: (200, 40), 10_000: (200, 10)},
    compactions=(3, 1),
    serialisations=6,
    rounds=2,
)

Job = Callable[[int], list[int]]


def alternate(ours: tuple[int, Job], peer: tuple[int, Job], rounds: int) -> tuple[Stat, Stat]:
    """Run both jobs in alternating chunks and summarise each one's samples.

    The machine's speed drifts between phases of a run; alternating puts
    both libraries in every phase, so the drift cannot favour either.
    """
    samples: tuple[list[int], list[int]] = ([], [])
    rounds = max(1, min(rounds, ours[0], peer[0]))
    for r in range(rounds):
        for (total, job), out in zip((ours, peer), samples, strict=True):
            out.extend(job(total * (r + 1) // rounds - total * r // rounds))
    return Stat.of(samples[0]), Stat.of(samples[1])


def turn_job(side: Any, base: Any, size: int, pool: list[tuple[Message, Message]]) -> Job:
    """Times turns one by one; rebuilds the manager so history stays within 5% of size."""
    batch = max(1, size // 40)
    clock = time.perf_counter_ns
    cursor = [0]

    def job(turns: int) -> list[int]:
        samples: list[int] = []
        while len(samples) < turns:
            pm = side.manager(base)
            for _ in range(min(batch, turns - len(samples))):
                user, reply = pool[cursor[0] % len(pool)]
                cursor[0] += 1
                start = clock()
                side.turn(pm, user, reply)
                samples.append(clock() - start)
        return samples

    return job


def fixed(value: Any) -> Callable[[], Any]:
    """A setup that hands the same value to every repetition."""
    return lambda: value


def op_job(setup: Callable[[], Any], action: Callable[[Any], object]) -> Job:
    """Times ``action(setup())``; the setup and a garbage collection before it are untimed."""

    def job(reps: int) -> list[int]:
        samples: list[int] = []
        for _ in range(reps):
            arg = setup()
            gc.collect()
            start = time.perf_counter_ns()
            action(arg)
            samples.append(time.perf_counter_ns() - start)
        return samples

    return job


# ------------------------------------------------------------ measurements


@dataclass
class Row:
    """One line of the report."""

    label: str
    ours: Stat
    peer: Stat
    unit: str  # "ns" or "B"

    @property
    def ratio(self) -> float:
        """llmbuffer/ours for times, ours/llmbuffer for sizes (see ``ratio_label``)."""
        if self.unit == "B":
            return self.ours.median / self.peer.median
        return self.peer.median / self.ours.median

    @property
    def ratio_label(self) -> str:
        return "ours/llmbuffer" if self.unit == "B" else "llmbuffer/ours"


@dataclass
class Report:
    """Everything measured, plus notes that qualify the numbers."""

    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def get(self, label: str) -> Row:
        return next(r for r in self.rows if r.label == label)

    def add(self, row: Row, log: Callable[[str], None]) -> None:
        log(f"  {row.label}: stableprefix {fmt_value(row)}, llmbuffer {fmt_value(row, True)}")
        self.rows.append(row)


Log = Callable[[str], None]


def check_same_work(ours: Ours, peer: Peer, history: list[Message]) -> None:
    """Both libraries must build the same messages from the same history."""
    mine = ours.messages(ours.manager(ours.state_of(history)))
    theirs = peer.messages(peer.manager(peer.state_of(history)))
    if mine != theirs:
        raise SystemExit(
            "the two libraries built different message lists from the same "
            "history; the comparison would not be like for like"
        )


def measure_turns(report: Report, ours: Ours, peer: Peer, plan: Plan, log: Log) -> None:
    top = max(SIZES)
    convo = conversation(top // 2 + 2_000)
    extra = convo[top:]
    pool = list(zip(extra[0::2], extra[1::2], strict=True))
    for size in SIZES:
        history = convo[:size]
        check_same_work(ours, peer, history)
        mine, theirs = plan.turns[size]
        row = Row(
            f"per turn, {size:,} msgs",
            *alternate(
                (mine, turn_job(ours, ours.state_of(history), size, pool)),
                (theirs, turn_job(peer, peer.state_of(history), size, pool)),
                plan.rounds,
            ),
            "ns",
        )
        report.add(row, log)


def measure_compaction(report: Report, ours: Ours, peer: Peer, plan: Plan, log: Log) -> None:
    convo = conversation(COMPACTION_TURNS + 1, seed=SEED + 1)
    history, trigger = convo[: 2 * COMPACTION_TURNS], convo[2 * COMPACTION_TURNS]
    base = ours.state_of(history)
    budget = base["committed_tokens"] + ours.config.adapter.count_tokens(trigger) - 1
    cfg = ours.config.replace(history_max_tokens=budget)
    counter = peer.lib.OpenAIAdapter()
    peer_base = peer.state_of(history)
    peer_budget = counter.count_tokens([*history, trigger]) - 1
    if counter.count_tokens(history) > peer_budget:
        raise SystemExit("llmbuffer budget is below its history; the setup is wrong")
    last: dict[str, Any] = {}

    def append(key: str) -> Callable[[Any], None]:
        def run(pm: Any) -> None:
            pm.append(trigger)
            last[key] = pm

        return run

    row = Row(
        f"compaction, {COMPACTION_TURNS:,} turns",
        *alternate(
            (plan.compactions[0], op_job(lambda: ours.manager(base, cfg), append("ours"))),
            (
                plan.compactions[1],
                op_job(lambda: peer.manager(peer_base, peer_budget), append("peer")),
            ),
            plan.rounds,
        ),
        "ns",
    )
    mine, theirs = last["ours"].state, last["peer"].state["long_lived"]
    if mine["compactions"] != 1 or mine["committed_tokens"] > (cfg.compaction_target or 0):
        raise SystemExit("stableprefix did not compact to its target; the timing is void")
    if counter.count_tokens(theirs) > peer_budget // 2 or len(theirs) > len(history):
        raise SystemExit("llmbuffer did not compact to its target; the timing is void")
    report.add(row, log)
    report.notes.append(
        f"compaction: 10,001 messages -> kept {len(mine['committed']):,} (stableprefix, whole "
        f"rounds) and {len(theirs):,} (llmbuffer); each to its default target, max_tokens // 2 "
        f"of its own token count (budgets {budget:,} and {peer_budget:,} tokens)."
    )


def measure_state(report: Report, ours: Ours, peer: Peer, plan: Plan, log: Log) -> None:
    history = conversation(STATE_TURNS, seed=SEED + 2)
    pm = ours.manager(ours.state_of(history))
    lb = peer.manager(peer.state_of(history))
    text, peer_text = pm.dumps(), lb.to_json()
    if sp.PromptManager.loads(text, ours.config).state != pm.state:
        raise SystemExit("stableprefix state did not survive dumps/loads")
    if peer.lib.PromptManager.from_json(peer_text).state != lb.state:
        raise SystemExit("llmbuffer state did not survive dumps/loads")

    def restore(t: str) -> Any:
        return sp.PromptManager.loads(t, ours.config)

    def load_checked(t: str) -> Any:
        return sp.check_state(sp.loads(t), ours.config)

    state = load_checked(text)

    def peer_restore(t: str) -> Any:
        return peer.lib.PromptManager.from_json(t, static_system_prompt=SYSTEM_PROMPT)

    # label -> (setup, our operation, llmbuffer's setup, its operation)
    Setup = Callable[[], Any]
    work: dict[str, tuple[Setup, Callable[[Any], object], Setup, Callable[[Any], object]]] = {
        "dumps": (fixed(pm), lambda m: m.dumps(), fixed(lb), lambda m: m.to_json()),
        # A manager dumped once, as a request handler does (ours then has no
        # message texts of an earlier call to reuse).
        "first dumps of a manager": (
            lambda: restore(text),
            lambda m: m.dumps(),
            lambda: peer_restore(peer_text),
            lambda m: m.to_json(),
        ),
        "loads -> state": (fixed(text), sp.loads, fixed(peer_text), peer.lib.loads),
        "loads -> manager": (fixed(text), restore, fixed(peer_text), peer_restore),
        "loads + check_state": (fixed(text), load_checked, fixed(peer_text), peer.lib.loads),
        "dumps of a state": (fixed(state), sp.dumps, fixed(lb), lambda m: m.to_json()),
        # The floor under any loads: parsing our document with the standard
        # library and nothing else, beside llmbuffer's whole (unchecked) loads.
        "json.loads alone": (fixed(text), json.loads, fixed(peer_text), peer.lib.loads),
    }
    for label, (setup, action, peer_setup, peer_action) in work.items():
        # One repetition each in turn: a load spike lasting a few
        # milliseconds then hits both sides alike, not a chunk of one.
        stats = alternate(
            (plan.serialisations, op_job(setup, action)),
            (plan.serialisations, op_job(peer_setup, peer_action)),
            plan.serialisations,
        )
        report.add(Row(f"{label}, {STATE_TURNS:,} turns", *stats, "ns"), log)
    sizes = Stat.of([len(text.encode())]), Stat.of([len(peer_text.encode())])
    report.add(Row(f"state size, {STATE_TURNS:,} turns", *sizes, "B"), log)
    compact_peer = len(json.dumps(lb.state, separators=(",", ":")).encode())
    report.notes.append(
        "json.loads alone: the standard library parsing our document, with no check and no "
        "state built: the floor under any loads of it, beside llmbuffer's whole loads."
    )
    report.notes.append(
        f"state size: each library's default dumps; llmbuffer's to_json() uses json.dumps "
        f"defaults (a space after separators); written compactly it is {compact_peer:,} B."
    )


# ------------------------------------------------------------------ report


def fmt_ns(ns: float) -> str:
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} us"
    return f"{ns:.0f} ns"


def fmt_value(row: Row, peer: bool = False) -> str:
    value = (row.peer if peer else row.ours).median
    return f"{int(value):,} B" if row.unit == "B" else fmt_ns(value)


def checks(report: Report) -> list[tuple[str, bool, str]]:
    """The targets: (description, passed, the numbers behind it)."""
    t1k = report.get("per turn, 1,000 msgs")
    t100, t10k = report.get("per turn, 100 msgs"), report.get("per turn, 10,000 msgs")
    comp = report.get(f"compaction, {COMPACTION_TURNS:,} turns")
    size = report.get(f"state size, {STATE_TURNS:,} turns")
    growth = t10k.ours.median / t100.ours.median
    return [
        ("per turn at 1,000 messages: llmbuffer/ours >= 50", t1k.ratio >= 50, f"{t1k.ratio:,.1f}x"),
        (
            "ours per turn at 10,000 messages <= 3 x ours at 100",
            growth <= 3,
            f"{growth:.2f}x: {fmt_value(t10k)} vs {fmt_value(t100)}",
        ),
        (
            f"compaction at {COMPACTION_TURNS:,} turns: llmbuffer/ours >= 100",
            comp.ratio >= 100,
            f"{comp.ratio:,.1f}x",
        ),
        ("state size: ours <= 1.25 x llmbuffer's", size.ratio <= 1.25, f"{size.ratio:.3f}x"),
    ]


def render(report: Report) -> str:
    head = ("measurement", "stableprefix", "llmbuffer", "ratio")
    body = [
        (r.label, fmt_value(r), fmt_value(r, True), f"{r.ratio:,.2f}x {r.ratio_label}")
        for r in report.rows
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(4)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|:" + "-" * (widths[0] + 1) + "|" + "".join("-" * (w + 1) + ":|" for w in widths[1:])
    out = [line(head), rule, *(line(b) for b in body), ""]
    out += [f"- {n}" for n in report.notes]
    out.append("")
    for text, passed, numbers in checks(report):
        out.append(f"{'PASS' if passed else 'FAIL'}  {text}  [{numbers}]")
    return "\n".join(out)


def environment(peer_lib: Any, quick: bool) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "stableprefix": sp.__version__,
        "llmbuffer": peer_lib.__version__,
        "quick": quick,
        "seed": SEED,
    }


def write_json(path: str, report: Report, env: dict[str, Any]) -> None:
    data = {
        "environment": env,
        "rows": [{**asdict(r), "ratio": r.ratio, "ratio_is": r.ratio_label} for r in report.rows],
        "notes": report.notes,
        "checks": [{"check": t, "passed": p, "value": v} for t, p, v in checks(report)],
    }
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="few repetitions (smoke run)")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    peer_lib = import_peer()
    plan = QUICK if args.quick else FULL
    env = environment(peer_lib, args.quick)
    print(
        f"stableprefix {env['stableprefix']} vs llmbuffer {env['llmbuffer']} | Python "
        f"{env['python']} | {env['cpus']} CPUs | {'quick' if args.quick else 'full'} run",
        flush=True,
    )

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    ours, peer = Ours(), Peer(peer_lib)
    report = Report()
    started = time.perf_counter()
    measure_turns(report, ours, peer, plan, log)
    measure_compaction(report, ours, peer, plan, log)
    measure_state(report, ours, peer, plan, log)
    report.notes.append(
        "per turn = append(user) + build + append(assistant); every figure is "
        "the median of repetitions run in alternating rounds of the two "
        "libraries. Ratio of times is llmbuffer/ours, of sizes ours/llmbuffer."
    )
    print()
    print(render(report))
    print(f"\n(measured in {time.perf_counter() - started:.0f} s)")
    if args.json:
        write_json(args.json, report, env)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
