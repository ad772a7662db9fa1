"""Response cache: key latency by history length, and hits / false hits on multi-turn chats.

Run (the peers are installed into a throwaway environment only):

    uv run --with langchain-core==1.8.1 --with langchain-community==0.4.2 \
        --with lix-open-cache==2.1.6 python benchmarks/response_cache.py

Part 1 times a lookup (key + get of a stored answer) and a store (key + put)
for requests of 10, 1,000 and 10,000 messages, two ways: the key of the whole
request (canonical JSON of every message, hashed) and ``turn_key``, derived
from the ``PromptManager``'s prefix fingerprint plus the turn in progress.

Part 2 plays a multi-turn workload: users with several conversations, each
opened on its own topic and followed by the same generic questions ("What is
the capital?"), so the right answer depends on the conversation. After the
conversations are played once (filling every cache), four kinds of probes
are sent:

- ``repeat``: the very same request again (should hit);
- ``rebuilt``: the same conversation rebuilt by another worker: request
  bookkeeping (``metadata``, ``user``) differs for the SDK-level caches, and
  the assistant messages carry new message ids for LangChain (which gives
  every model answer a fresh run id) -- the answer cannot differ (should hit);
- ``paraphrase``: the last question reworded, same conversation (a semantic
  cache may hit; the answer is the same);
- ``new chat``: a new conversation of the same user on another topic asking
  the same generic questions: never asked before, so any hit is a false hit
  (a wrong answer from another conversation).

Each cache is used as its documentation shows: stableprefix ``get``/``put``;
LangChain ``set_llm_cache`` around a chat model's ``invoke``; lix-open-cache
``CacheCoordinator(session_id=user).get_semantic_response(url, embedding)`` /
``cache_semantic_response`` (one coordinator per user, as its quick start
keys sessions), against a redis-server this script starts on 127.0.0.1
(which also serves stableprefix's own Redis backend, one more row).
Both semantic caches use one embedding (hashed bag of words, 256
dimensions) and one cosine threshold (``SIMILARITY``).
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from stableprefix import PromptConfig, PromptManager, ResponseCache

TOPICS = [
    "France",
    "Japan",
    "Peru",
    "Kenya",
    "Norway",
    "Egypt",
    "Canada",
    "India",
    "Chile",
    "Ghana",
    "Spain",
    "Nepal",
]  # one per conversation: no two chats share a topic
QUESTIONS = [  # (question, the same question reworded)
    ("What is the capital?", "what is the capital please"),
    ("What language is spoken there?", "what language is spoken there please"),
    ("What currency is used?", "what currency is used please"),
    ("What is the population?", "what is the population please"),
]
SIMILARITY = 0.85  # both semantic caches; the rewordings score 0.89-0.91 with this embedding
USERS = 4
CHATS_PER_USER = 2  # played in phase 1; a third topic per user is the "new chat"
SETTINGS = {"model": "gpt-4o-mini", "temperature": 0, "max_tokens": 200}


def embed(text: str) -> list[float]:
    """Hashed bag of words, unit length (the same for every semantic cache here)."""
    vector = [0.0] * 256
    for word in text.lower().replace("?", " ").replace(",", " ").split():
        vector[int.from_bytes(hashlib.sha256(word.encode()).digest()[:2], "big") % 256] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def answer(topic: str, turn: int) -> str:
    return f"{topic}/{turn}"


# ------------------------------------------------------------ part 1: latency


def _median_seconds(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _manager(n: int) -> PromptManager:
    pm = PromptManager(
        PromptConfig(static_system_prompt="You are helpful.", transition_mode="agent_cycle")
    )
    for i in range(n - 1):
        role = "user" if i % 2 == 0 else "assistant"
        pm.append({"role": role, "content": f"message {i}: " + "lorem ipsum " * 8})
    pm.append({"role": "user", "content": "And now?"})
    return pm


def _latency_row(n: int, repeat: int) -> str:
    pm = _manager(n)
    cache = ResponseCache(namespace="bench")
    request = {**SETTINGS, **pm.build_request()}
    reply = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
    cache.put(request, reply)
    cache.put(request, reply, key=cache.turn_key(pm, SETTINGS))
    full_get = _median_seconds(lambda: cache.get(request), repeat)
    fp_get = _median_seconds(lambda: cache.get(request, key=cache.turn_key(pm, SETTINGS)), repeat)
    full_put = _median_seconds(lambda: cache.put(request, reply), repeat)
    fp_put = _median_seconds(
        lambda: cache.put(request, reply, key=cache.turn_key(pm, SETTINGS)), repeat
    )
    return (
        f"| {n:,} | {full_get * 1e6:,.0f} us | {fp_get * 1e6:,.1f} us | "
        f"{full_get / fp_get:,.0f}x | {full_put * 1e6:,.0f} us | "
        f"{fp_put * 1e6:,.1f} us | {full_put / fp_put:,.0f}x |"
    )


def latency_table() -> list[str]:
    rows = [
        "| messages | lookup, whole request | lookup, fingerprint | ratio | "
        "store, whole request | store, fingerprint | ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, repeat in ((10, 2000), (1_000, 100), (10_000, 15)):
        rows.append(_latency_row(n, repeat))
    return rows


# ---------------------------------------------------------- part 2: hit rates

Probe = tuple[str, str, str, list[tuple[str, str]], bool]  # kind, user, topic, turns, rebuilt


def workload() -> tuple[list[Probe], list[Probe]]:
    """(phase-1 requests, probes); turns are (question, answer-so-far) pairs."""
    fill: list[Probe] = []
    probes: list[Probe] = []
    for u in range(USERS):
        user = f"user-{u}"
        topics = [TOPICS[u * (CHATS_PER_USER + 1) + k] for k in range(CHATS_PER_USER + 1)]
        for c, topic in enumerate(topics):
            for t in range(len(QUESTIONS)):
                turns = [(q, answer(topic, i)) for i, (q, _) in enumerate(QUESTIONS[:t])]
                opener = f"Let's talk about {topic}."
                asked = [(opener, "Sure."), *turns]
                if c == CHATS_PER_USER:
                    probes.append(("new chat", user, topic, [*asked, (QUESTIONS[t][0], "")], False))
                    continue
                fill.append(("fill", user, topic, [*asked, (QUESTIONS[t][0], "")], False))
                probes.append(("repeat", user, topic, [*asked, (QUESTIONS[t][0], "")], False))
                probes.append(("rebuilt", user, topic, [*asked, (QUESTIONS[t][0], "")], True))
                probes.append(("paraphrase", user, topic, [*asked, (QUESTIONS[t][1], "")], False))
    return fill, probes


def truth(probe: Probe) -> str:
    return answer(probe[2], len(probe[3]) - 2)


def openai_request(probe: Probe) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for question, reply in probe[3]:
        messages.append({"role": "user", "content": question})
        if reply:
            messages.append({"role": "assistant", "content": reply})
    request: dict[str, Any] = {**SETTINGS, "messages": messages}
    if probe[4]:
        request |= {"metadata": {"request_id": uuid.uuid4().hex}, "user": probe[1]}
    return request


class Runner:
    """One cache under test: ``ask(probe) -> (answer, served_from_cache)``."""

    name = ""

    def prepare(self) -> None:
        """Called once before the runner plays."""

    def ask(self, probe: Probe) -> tuple[str, bool]:
        raise NotImplementedError


class Ours(Runner):
    def __init__(self, name: str, **options: Any) -> None:
        self.name = name
        self.cache = ResponseCache(namespace="app", **options)

    def ask(self, probe: Probe) -> tuple[str, bool]:
        request = openai_request(probe)
        hit = self.cache.get(request, endpoint="openai.chat")
        if hit is not None:
            return str(hit["choices"][0]["message"]["content"]), True
        reply = truth(probe)
        self.cache.put(
            request,
            {"choices": [{"message": {"content": reply}, "finish_reason": "stop"}]},
            endpoint="openai.chat",
        )
        return reply, False


def langchain_runner(name: str, cache: Any) -> Runner:
    from langchain_core.globals import set_llm_cache
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    class Oracle(BaseChatModel):
        """Answers with the workload's ground truth and counts its calls."""

        calls: int = 0
        pending: str = ""

        @property
        def _llm_type(self) -> str:
            return "oracle"

        def _generate(
            self,
            messages: list[BaseMessage],
            stop: Any = None,
            run_manager: Any = None,
            **kwargs: Any,
        ) -> ChatResult:
            self.calls += 1
            message = AIMessage(content=self.pending)
            return ChatResult(generations=[ChatGeneration(message=message)])

    class LangChain(Runner):
        def __init__(self) -> None:
            self.name = name
            self.model = Oracle()

        def prepare(self) -> None:
            set_llm_cache(cache)  # LangChain's cache is global: set it when this one plays

        def ask(self, probe: Probe) -> tuple[str, bool]:
            messages: list[BaseMessage] = []
            for question, reply in probe[3]:
                messages.append(HumanMessage(content=question))
                if reply:
                    # a worker rebuilding the chat gets new run ids on the answers
                    run = "run-" + (
                        uuid.uuid4().hex
                        if probe[4]
                        else hashlib.sha256(reply.encode()).hexdigest()[:32]
                    )
                    messages.append(AIMessage(content=reply, id=run))
            self.model.pending = truth(probe)
            before = self.model.calls
            out = self.model.invoke(messages)
            return str(out.content), self.model.calls == before

    return LangChain()


def start_redis() -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = subprocess.Popen(
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
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return server, port
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError("redis-server did not start")


def lix_runner(port: int, archive: str) -> Runner:
    import numpy as np
    from lix_open_cache import CacheConfig, CacheCoordinator
    from loguru import logger

    logger.disable("lix_open_cache")  # it logs every lookup at DEBUG level
    config = CacheConfig(
        redis_host="127.0.0.1",
        redis_port=port,
        archive_dir=archive,
        semantic_similarity_threshold=SIMILARITY,
    )

    class Lix(Runner):
        name = "lix-open-cache semantic (Redis)"

        def __init__(self) -> None:
            self.coordinators: dict[str, Any] = {}

        def ask(self, probe: Probe) -> tuple[str, bool]:
            user = probe[1]
            if user not in self.coordinators:
                self.coordinators[user] = CacheCoordinator(session_id=user, config=config)
            coordinator = self.coordinators[user]
            vector = np.array(embed(probe[3][-1][0]), dtype=np.float32)
            hit = coordinator.get_semantic_response("chat", vector)
            if hit is not None:
                return str(hit["answer"]), True
            reply = truth(probe)
            coordinator.cache_semantic_response("chat", vector, {"answer": reply})
            return reply, False

    return Lix()


def play(runner: Runner, fill: list[Probe], probes: list[Probe]) -> dict[str, tuple[int, int, int]]:
    runner.prepare()
    for probe in fill:
        runner.ask(probe)
    out: dict[str, list[int]] = {}
    for probe in probes:
        got, served = runner.ask(probe)
        counts = out.setdefault(probe[0], [0, 0, 0])
        counts[0] += 1
        counts[1] += served
        counts[2] += served and got != truth(probe)
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}


def rate_table(runners: list[Runner]) -> list[str]:
    fill, probes = workload()
    kinds = ["repeat", "rebuilt", "paraphrase", "new chat"]
    rows = [
        "| cache | "
        + " | ".join(f"{k}: hits" for k in kinds)
        + " | hit rate | false hits | false-hit rate |",
        "|---|" + "---:|" * (len(kinds) + 3),
    ]
    for runner in runners:
        result = play(runner, fill, probes)
        total = sum(v[0] for v in result.values())
        hits = sum(v[1] for v in result.values())
        wrong = sum(v[2] for v in result.values())
        cells = [f"{result[k][1]}/{result[k][0]}" for k in kinds]
        rows.append(
            f"| {runner.name} | "
            + " | ".join(cells)
            + f" | {hits / total:.0%} | {wrong} | {wrong / total:.1%} |"
        )
    return rows


def main() -> int:
    print("## Lookup and store latency (median; key computed on every call)\n")
    print("\n".join(latency_table()))
    runners: list[Runner] = [
        Ours("stableprefix exact (memory)"),
        Ours("stableprefix semantic (memory)", embed=embed, similarity=SIMILARITY),
    ]
    folder = tempfile.mkdtemp()
    runners.append(Ours("stableprefix exact (SQLite)", url=f"sqlite:///{folder}/rc.db"))
    redis = None
    try:
        from langchain_community.cache import SQLiteCache
        from langchain_core.caches import InMemoryCache

        runners.append(langchain_runner("langchain-core InMemoryCache", InMemoryCache()))
        runners.append(
            langchain_runner("langchain SQLiteCache", SQLiteCache(database_path=f"{folder}/lc.db"))
        )
    except ImportError:
        print("\n(langchain-core / langchain-community not installed: skipped)", file=sys.stderr)
    if shutil.which("redis-server"):
        redis, port = start_redis()
        runners.append(
            Ours("stableprefix exact (Redis)", url=f"redis://127.0.0.1:{port}/1?prefix=bench")
        )
        try:
            import lix_open_cache  # noqa: F401

            runners.append(lix_runner(port, os.path.join(folder, "lix")))
        except ImportError:
            print("\n(lix-open-cache not installed: skipped)", file=sys.stderr)
    try:
        fill, probes = workload()
        print(f"\n## Multi-turn workload: {len(fill)} requests to fill, {len(probes)} probes\n")
        print("\n".join(rate_table(runners)))
    finally:
        if redis is not None:
            redis.terminate()
            redis.wait()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
