"""Where should the dynamic context go? Measured on a real llama.cpp engine.

Run it from the repository root (about a minute on 2 cores)::

    uv run python benchmarks/engine_layouts.py
    uv run python benchmarks/engine_layouts.py --json layouts.json --show-template

Approach: llama.cpp's server (in-process through xllamacpp, one slot,
prompt caching on, host-memory cache off) serves SmolLM2-135M. The same
8-turn conversation is played once per layout through the official
``openai`` SDK: a ~460-token static system prompt, one- or two-sentence
user messages, a clock line that changes every turn, greedy replies of at
most 8 tokens that go back into the conversation. The engine reports the
cached prompt tokens of every request; the score of a layout is the share
of prompt tokens of turns 2-8 it reported as cached (turn 1 is always cold).

Layouts:

- ``naive``: the clock pasted at the end of the system prompt, built by hand.
- ``before_recent``, ``tail``, ``append``: ``stableprefix.PromptManager``
  with that ``dynamic_position`` and ``transition_mode="agent_cycle"`` (the
  user message is the recent turn until the reply ends it; with the default
  ``"none"``, recent is always empty and before_recent is the same as tail).
- ``append, context_role=user``: the context message as a user message.
- ``append, defaults``: the default configuration but for the position.
- ``default config``: ``PromptConfig`` untouched (``dynamic_position="auto"``,
  which for ``OpenAIAdapter`` puts the context at the tail;
  ``transition_mode="none"``): what the test suite holds to the 88% target.

The engine runner and the workload live in the library
(``stableprefix.benchmark._engine`` and ``_truth``, gathered for tests in
``tests/engine.py``), so the test suite (``tests/test_engine.py``) and
``python -m stableprefix.benchmark --truth-check`` measure exactly what this
script prints.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

# tests/engine.py, found through the path set just above.
import engine as E
from stableprefix import OpenAIAdapter, PromptConfig


def _managed(**options: Any) -> Callable[[], E.Layout]:
    def make() -> E.Layout:
        config = PromptConfig(static_system_prompt=E.STATIC_SYSTEM_PROMPT, **options)
        return E.stableprefix_layout(config)

    return make


LAYOUTS: dict[str, Callable[[], E.Layout]] = {
    "naive": E.naive_layout,
    "before_recent": _managed(dynamic_position="before_recent", transition_mode="agent_cycle"),
    "tail": _managed(dynamic_position="tail", transition_mode="agent_cycle"),
    "append": _managed(dynamic_position="append", transition_mode="agent_cycle"),
    "append, context_role=user": _managed(
        dynamic_position="append",
        transition_mode="agent_cycle",
        adapter=OpenAIAdapter(context_role="user"),
    ),
    "append, defaults": _managed(dynamic_position="append"),
    "default config": _managed(),
}


def measure(engine: E.Engine) -> list[dict[str, Any]]:
    """Play every layout once; one result row per layout."""
    rows = []
    for name, make in LAYOUTS.items():
        started = time.perf_counter()
        turns = E.play_conversation(engine, make())
        rows.append(
            {
                "layout": name,
                "cached_share": E.cached_share(turns[1:]),
                "prompt_tokens": [t.prompt_tokens for t in turns],
                "cached_tokens": [t.cached_tokens for t in turns],
                "replies": [t.reply for t in turns],
                "seconds": time.perf_counter() - started,
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    """The table: share cached, and the tokens behind it (turns 2-8).

    A layout that keeps the context in the history sends more tokens in
    total, so the uncached tokens (what is computed and billed in full)
    are shown next to the share.
    """
    print(
        f"{'layout':28} {'cached %':>8} {'prompt':>7} {'cached':>7} {'uncached':>8} "
        f"{'last':>5} {'s':>5}"
    )
    for row in rows:
        prompt = sum(row["prompt_tokens"][1:])
        cached = sum(row["cached_tokens"][1:])
        print(
            f"{row['layout']:28} {row['cached_share']:>8.1%} {prompt:>7} {cached:>7} "
            f"{prompt - cached:>8} {row['prompt_tokens'][-1]:>5} {row['seconds']:>5.1f}"
        )


def show_template(engine: E.Engine) -> None:
    """How SmolLM2's chat template renders a mid-conversation context message."""
    for role in ("system", "user"):
        messages = [
            {"role": "system", "content": "(static system prompt)"},
            {"role": "user", "content": "Hello! Is the library open right now?"},
            {"role": role, "content": E.clock_line(0)},
        ]
        print(f"--- context_role={role!r}:")
        print(engine.render_prompt(messages))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads (default 2)")
    parser.add_argument(
        "--ram-cache-mib",
        type=int,
        default=0,
        help="llama.cpp's host-memory prompt cache (default 0: the slot is the only cache)",
    )
    parser.add_argument(
        "--show-template", action="store_true", help="print how the context message renders"
    )
    args = parser.parse_args(argv)
    reason = E.missing_reason()
    if reason is not None:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    engine = E.start_engine(threads=args.threads, ram_cache_mib=args.ram_cache_mib)
    try:
        print(f"static system prompt: {len(engine.tokenize(E.STATIC_SYSTEM_PROMPT))} tokens")
        if args.show_template:
            show_template(engine)
        rows = measure(engine)
    finally:
        engine.close()
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
