"""OpenAIAdapter(engine="llama.cpp") on a real llama.cpp server: one chat, and slots.

Run it from the repository root (several minutes on 2 busy cores)::

    uv run python benchmarks/engine_slots.py
    uv run python benchmarks/engine_slots.py --rounds 6 --json slots.json

Two measurements, both through the official ``openai`` SDK against
llama.cpp's server in-process (xllamacpp, SmolLM2-135M, greedy replies of at
most 8 tokens that go back into the conversation):

1. One 8-turn conversation (the ~460-token static prompt of
   ``engine_layouts.py``, a clock line that changes every turn) sent with
   ``OpenAIAdapter(engine="llama.cpp")`` and every other setting default,
   beside the same conversation with the hosted default ``OpenAIAdapter()``:
   the share of prompt tokens of turns 2-8 the engine reported as cached.
2. Three conversations of one app (same static prompt, their own
   questions) interleaved round by round on a 3-slot server with its
   default host-RAM prompt cache (8192 MiB): without affinity (the server
   picks a slot by prompt similarity) and with ``slots=3`` (each
   conversation pinned to the slot its key hashes to), one request at a
   time and with each round's three requests in flight together.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

# tests/engine.py, found through the path set just above.
import engine as E
from stableprefix import OpenAIAdapter, PromptConfig, PromptManager, new_state
from stableprefix.adapters._engines import slot_for
from stableprefix.benchmark._truth_slots import SLOT_SYSTEM_PROMPT

KEYS = ("chat-1", "chat-2", "chat-3")


def one_chat(engine: E.Engine) -> dict[str, float]:
    shares = {}
    for label, adapter in (
        ('OpenAIAdapter(engine="llama.cpp")', OpenAIAdapter(engine="llama.cpp")),
        ("OpenAIAdapter() (hosted default)", OpenAIAdapter()),
    ):
        config = PromptConfig(static_system_prompt=E.STATIC_SYSTEM_PROMPT, adapter=adapter)
        turns = E.play_conversation(engine, E.stableprefix_layout(config))
        shares[label] = E.cached_share(turns[1:])
    return shares


def _send(client: Any, model: str, request: dict[str, Any], out: list[Any], i: int) -> None:
    reply = client.chat.completions.create(model=model, max_tokens=8, temperature=0, **request)
    out[i] = reply


def three_chats(engine: E.Engine, *, affinity: bool, concurrent: bool, rounds: int) -> float:
    """Cached share of all prompt tokens after each conversation's first request."""
    tag = f"{'pinned' if affinity else 'free'} {'concurrent' if concurrent else 'sequential'}"
    static = f"Desk session: {tag}.\n\n{SLOT_SYSTEM_PROMPT}"
    adapter = OpenAIAdapter(engine="llama.cpp", slots=3 if affinity else None)
    config = PromptConfig(static_system_prompt=static, adapter=adapter)
    managers = [PromptManager(config, new_state(key)) for key in KEYS]
    client = engine.openai_client()
    engine.erase_slots()
    prompt = cached = 0
    for turn in range(rounds):
        requests = []
        for c, manager in enumerate(managers):
            question = E.USER_MESSAGES[(3 * c + turn) % len(E.USER_MESSAGES)]
            manager.append({"role": "user", "content": question})
            requests.append(manager.build_request(E.clock_line(turn)))
        replies: list[Any] = [None] * len(managers)
        if concurrent:
            threads = [
                threading.Thread(target=_send, args=(client, engine.model, r, replies, i))
                for i, r in enumerate(requests)
            ]
            for i, thread in enumerate(threads):
                if i:
                    time.sleep(0.05)
                thread.start()
            for thread in threads:
                thread.join()
        else:
            for i, r in enumerate(requests):
                _send(client, engine.model, r, replies, i)
        for manager, reply in zip(managers, replies, strict=True):
            manager.append({"role": "assistant", "content": reply.choices[0].message.content})
            if turn:
                prompt += reply.usage.prompt_tokens
                cached += reply.usage.prompt_tokens_details.cached_tokens or 0
    return cached / prompt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="requests per conversation")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    reason = E.missing_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    engine = E.start_engine()
    try:
        chat = one_chat(engine)
    finally:
        engine.close()
    print("One 8-turn conversation, one slot; cached share of prompt tokens, turns 2-8:\n")
    print("| adapter | cached |\n|---|---:|")
    for label, share in chat.items():
        print(f"| {label} | {share:.1%} |")
    engine = E.start_engine(slots=3, ram_cache_mib=8192)
    table = {}
    try:
        for concurrent in (False, True):
            for affinity in (False, True):
                table[(concurrent, affinity)] = three_chats(
                    engine, affinity=affinity, concurrent=concurrent, rounds=args.rounds
                )
    finally:
        engine.close()
    slots = ", ".join(f"{k} -> {slot_for(k, 3)}" for k in KEYS)
    print(
        f"\nThree conversations interleaved, {args.rounds} rounds, 3 slots, RAM cache on; "
        f"cached share of prompt tokens after each conversation's first request "
        f"(slots=3 pins {slots}):\n"
    )
    print("| requests | no affinity | slots=3 |\n|---|---:|---:|")
    for concurrent in (False, True):
        label = "three in flight per round" if concurrent else "one at a time"
        print(f"| {label} | {table[(concurrent, False)]:.1%} | {table[(concurrent, True)]:.1%} |")
    if args.json:
        doc = {"one_chat": chat, "rounds": args.rounds,
               "three_chats": {f"{'concurrent' if c else 'sequential'}, "
                               f"{'slots=3' if a else 'no affinity'}": v
                               for (c, a), v in table.items()}}  # fmt: skip
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
