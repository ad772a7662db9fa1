"""Session stores: bytes written and latency per turn, next to the alternatives.

Run it with the OpenAI Agents SDK installed only into the benchmark's
throw-away environment (never into the project); it starts its own
redis-server on 127.0.0.1 (``apt-get install -y redis-server``)::

    uv run --with 'openai-agents[redis]==0.24.0' python benchmarks/stores.py
    uv run --with 'openai-agents[redis]==0.24.0' python benchmarks/stores.py --quick
    uv run --with 'openai-agents[redis]==0.24.0' python benchmarks/stores.py --json s.json

Approach: a stateless handler's turn is "load, append the user message and
build the request, append the reply, save". Every contender plays that turn
on a conversation already holding N messages (N = 100, 1,000, 2,000 = 1,000
turns, 10,000), on the same backend, with the same deterministic messages
(a few hundred characters each, from a seeded word list):

- ``stableprefix``: ``store.load`` (full state check with the config),
  ``functional.append_message`` / ``build_turn`` / ``append_message``,
  ``store.save(expected_version=...)``. Two cases: *warm*, the same store
  object served the previous turn of this conversation (it remembers the
  version it saw, so the load reads only the version); *cold*, another
  worker served it (``_forget`` first), so the load reads every message.
- ``whole doc``: the same backend keeping the whole ``dumps`` document per
  conversation (SQLite: one row read and rewritten in a transaction; Redis:
  GET and SET), which is what a handler does without a store.
- ``agents-sdk``: the OpenAI Agents SDK's ``SQLiteSession`` and
  ``RedisSession`` (``get_items``, then ``add_items`` of the user item and
  the reply item), as its sessions documentation shows.

The contenders of one backend and size play their turns round-robin (the
same messages, turn 1 of each, then turn 2, ...), so load from elsewhere on
the machine slows them alike; compare the ratios.

Bytes written per turn: what the turn sends to the backend to store. For
stableprefix, the encoded entries, meta and archive record of the change;
for the whole document, its length; for the Agents SDK, the JSON of the
items it adds (the row values it inserts; its own bookkeeping columns not
counted). Latency: the median of the timed turns (``time.perf_counter``).
The history stays within a few messages of N while timing. Recall: median
latency of ``store.recall`` over an archive of 10,000 messages (one
compaction record), BM25 over whole rounds from the store's recall index
(the rankings equal ``rank_rounds`` over the whole archive, checked once).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stableprefix import PromptConfig, dumps, functional, loads, new_state
from stableprefix.stores import RedisStore, SQLiteStore, Store, rank_rounds

CFG = PromptConfig()
WORDS = [
    "cache",
    "prefix",
    "token",
    "request",
    "history",
    "model",
    "budget",
    "tool",
    "result",
    "system",
    "user",
    "reply",
    "session",
    "store",
    "version",
    "append",
    "compaction",
    "archive",
    "recall",
    "latency",
    "bytes",
    "turn",
    "round",
    "invoice",
    "travel",
    "weather",
    "garden",
    "recipe",
    "meeting",
    "deadline",
    "report",
    "summary",
    "question",
    "answer",
]


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def message(rng: random.Random, i: int) -> dict[str, Any]:
    role = "user" if i % 2 == 0 else "assistant"
    return {"role": role, "content": text(rng, 40 if role == "user" else 90)}


def history(size: int) -> list[dict[str, Any]]:
    rng = random.Random(size)
    return [message(rng, i) for i in range(size)]


# ------------------------------------------------------------------ contenders


def ours(store: Store, session_id: str, cold: bool) -> Callable[[dict, dict], int]:
    def turn(user: dict[str, Any], reply: dict[str, Any]) -> int:
        if cold:
            store._forget(session_id)
        before = store.bytes_written
        state, version = store.load(session_id, config=CFG)
        state = functional.append_message(state, user, CFG)
        state, _request = functional.build_turn(state, CFG)
        state = functional.append_message(state, reply, CFG)
        store.save(session_id, state, expected_version=version)
        return store.bytes_written - before

    return turn


def prefill_ours(store: Store, session_id: str, messages: list[dict[str, Any]]) -> None:
    state = functional.append_messages(new_state(), messages, CFG)
    store.save(session_id, state, expected_version=0)


def whole_doc_turn(read: Callable[[], str], write: Callable[[str], None]) -> Callable:
    def turn(user: dict[str, Any], reply: dict[str, Any]) -> int:
        state = loads(read())
        state = functional.append_message(state, user, CFG)
        state, _request = functional.build_turn(state, CFG)
        state = functional.append_message(state, reply, CFG)
        doc = dumps(state)
        write(doc)
        return len(doc.encode())

    return turn


def whole_doc_sqlite(path: str, session_id: str, messages: list[dict[str, Any]]) -> Callable:
    conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS docs (id TEXT PRIMARY KEY, doc TEXT NOT NULL)")
    doc = dumps(functional.append_messages(new_state(), messages, CFG))
    conn.execute("INSERT OR REPLACE INTO docs VALUES (?, ?)", (session_id, doc))

    def turn(user: dict[str, Any], reply: dict[str, Any]) -> int:
        conn.execute("BEGIN IMMEDIATE")
        holder: list[str] = []
        inner = whole_doc_turn(
            lambda: conn.execute("SELECT doc FROM docs WHERE id = ?", (session_id,)).fetchone()[0],
            holder.append,
        )
        size = inner(user, reply)
        conn.execute("UPDATE docs SET doc = ? WHERE id = ?", (holder[0], session_id))
        conn.execute("COMMIT")
        return size

    return turn


def whole_doc_redis(client: Any, session_id: str, messages: list[dict[str, Any]]) -> Callable:
    key = f"doc:{session_id}"
    client.set(key, dumps(functional.append_messages(new_state(), messages, CFG)))
    return whole_doc_turn(lambda: client.get(key).decode(), lambda d: client.set(key, d))


def agents_turn(session: Any, loop: asyncio.AbstractEventLoop) -> Callable:
    def turn(user: dict[str, Any], reply: dict[str, Any]) -> int:
        items = loop.run_until_complete(session.get_items())
        _request = [*items, user]
        loop.run_until_complete(session.add_items([user, reply]))
        return len(json.dumps(user)) + len(json.dumps(reply))

    return turn


def agents_sqlite(path: str, session_id: str, messages: list[dict], loop: Any) -> Any:
    from agents import SQLiteSession

    session = SQLiteSession(session_id, path)
    loop.run_until_complete(session.add_items(messages))
    return agents_turn(session, loop)


def agents_redis(url: str, session_id: str, messages: list[dict], loop: Any) -> Any:
    from agents.extensions.memory import RedisSession

    session = RedisSession.from_url(session_id, url=url)
    loop.run_until_complete(session.add_items(messages))
    return agents_turn(session, loop)


# --------------------------------------------------------------------- running


def play(
    contenders: list[tuple[str, Callable[[dict, dict], int]]], size: int, turns: int
) -> dict[str, tuple[float, float]]:
    """Median ms per turn and mean bytes written per turn, by contender.

    The contenders take turns round-robin (turn 1 of each, then turn 2, ...)
    with the same messages, so a busy machine slows them alike.
    """
    rng = random.Random(-size)
    pairs = [(message(rng, size + 2 * i), message(rng, size + 2 * i + 1)) for i in range(turns)]
    times: dict[str, list[float]] = {name: [] for name, _ in contenders}
    written: dict[str, list[int]] = {name: [] for name, _ in contenders}
    for i, (user, reply) in enumerate(pairs):
        order = contenders[i % len(contenders) :] + contenders[: i % len(contenders)]
        for name, turn in order:
            start = time.perf_counter()
            written[name].append(turn(user, reply))
            times[name].append((time.perf_counter() - start) * 1000)
    return {
        name: (statistics.median(times[name]), statistics.mean(written[name]))
        for name, _ in contenders
    }


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is not installed: apt-get install -y redis-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


def recall_latency(store: Store, runs: int = 5) -> float:
    messages = history(10_002)
    state = functional.append_messages(new_state(), messages, CFG)
    store.save("recall", state, expected_version=0)
    folded = functional.apply_summary(state, "Summary so far.", CFG, keep_last_rounds=1)
    store.save("recall", folded, expected_version=1)
    archived = sum(len(r.removed) for r in store.archive("recall"))
    assert archived == 10_000, archived
    query = "invoice deadline for the garden report"
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        found = store.recall("recall", query, k=3)
        times.append((time.perf_counter() - start) * 1000)
    assert len(found) == 3
    removed = [m for record in store.archive("recall") for m in record.removed]
    assert found == rank_rounds(removed, query, k=3), "the index ranks differently"
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer turns, sizes up to 1,000")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    sizes = [100, 1_000] if args.quick else [100, 1_000, 2_000, 10_000]
    turns = 5 if args.quick else 15
    folder = tempfile.mkdtemp()
    proc, url = start_redis()
    loop = asyncio.new_event_loop()
    rows: list[dict[str, Any]] = []
    try:
        import redis

        client = redis.Redis.from_url(url)
        sqlite_store = SQLiteStore(os.path.join(folder, "ours.db"))
        redis_store = RedisStore(url=url)
        try:
            import agents  # noqa: F401

            have_agents = True
        except ImportError:
            have_agents = False
            print("openai-agents not installed: run with --with 'openai-agents[redis]'")
        for size in sizes:
            msgs = history(size)
            for backend, store in (("sqlite", sqlite_store), ("redis", redis_store)):
                contenders: list[tuple[str, Callable]] = []
                for cold in (False, True):
                    sid = f"{backend}-{size}-{cold}"
                    prefill_ours(store, sid, msgs)
                    contenders.append(
                        (f"stableprefix ({'cold' if cold else 'warm'})", ours(store, sid, cold))
                    )
                if backend == "sqlite":
                    doc = whole_doc_sqlite(os.path.join(folder, "docs.db"), f"d{size}", msgs)
                else:
                    doc = whole_doc_redis(client, f"d{size}", msgs)
                contenders.append(("whole doc", doc))
                if have_agents:
                    if backend == "sqlite":
                        peer = agents_sqlite(
                            os.path.join(folder, "agents.db"), f"a{size}", msgs, loop
                        )
                    else:
                        peer = agents_redis(url, f"a{size}", msgs, loop)
                    contenders.append(("agents-sdk", peer))
                for name, (ms, written) in play(contenders, size, turns).items():
                    rows.append(
                        {
                            "backend": backend,
                            "messages": size,
                            "contender": name,
                            "ms_per_turn": round(ms, 3),
                            "bytes_per_turn": round(written),
                        }
                    )
                    print(
                        f"{backend:6} {size:>6} {name:22} {ms:9.2f} ms {written:>10.0f} B",
                        file=sys.stderr,
                    )
        recall = {"sqlite": recall_latency(sqlite_store), "redis": recall_latency(redis_store)}
    finally:
        loop.close()
        proc.terminate()
        proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
    report(rows, sizes, recall)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "recall_ms": recall}, indent=1))


def report(rows: list[dict[str, Any]], sizes: list[int], recall: dict[str, float]) -> None:
    def get(backend: str, size: int, name: str, field: str) -> float | None:
        for r in rows:
            if (r["backend"], r["messages"], r["contender"]) == (backend, size, name):
                return float(r[field])
        return None

    print("| backend | messages | contender | ms / turn | bytes written / turn |")
    print("|---|---:|---|---:|---:|")
    for r in rows:
        print(
            f"| {r['backend']} | {r['messages']:,} | {r['contender']} | "
            f"{r['ms_per_turn']:.2f} | {r['bytes_per_turn']:,} |"
        )
    print()
    for backend in ("sqlite", "redis"):
        small = get(backend, sizes[0], "stableprefix (warm)", "bytes_per_turn")
        big = get(backend, sizes[-1], "stableprefix (warm)", "bytes_per_turn")
        assert small and big
        print(
            f"{backend}: bytes per turn at {sizes[-1]:,} messages / at {sizes[0]:,}: "
            f"{big / small:.2f}x (target <= 1.1x)"
        )
        for size in sizes:
            doc = get(backend, size, "whole doc", "bytes_per_turn")
            mine = get(backend, size, "stableprefix (warm)", "bytes_per_turn")
            assert doc and mine
            line = f"  {size:>6,} messages: whole doc writes {doc / mine:6.1f}x the bytes"
            peer = get(backend, size, "agents-sdk", "ms_per_turn")
            for case in ("warm", "cold"):
                ms = get(backend, size, f"stableprefix ({case})", "ms_per_turn")
                if peer and ms:
                    line += f"; agents-sdk / stableprefix {case} latency {peer / ms:5.2f}x"
            print(line)
        print(f"  recall over a 10,000-message archive: {recall[backend]:.1f} ms (median)")


if __name__ == "__main__":
    main()
