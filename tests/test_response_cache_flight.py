"""Single-flight: 16 threads or 16 asyncio tasks asking the same thing make one upstream
call (the real openai SDK against the loopback server); they share its answer or its error;
errors are not stored; cancelled waiters do not cancel the others."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import openai
import pytest

from fakeserver import FakeServer, fake_server
from stableprefix import ResponseCache

__all__ = ["fake_server"]

N = 16
REQ: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "temperature": 0,
    "messages": [{"role": "user", "content": "2+2?"}],
}


def wait_until(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


async def await_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)


def sync_client(server: FakeServer, cache: ResponseCache) -> Any:
    return cache.wrap(openai.OpenAI(api_key="sk", base_url=server.url + "/v1", max_retries=0))


def async_client(server: FakeServer, cache: ResponseCache) -> Any:
    return cache.wrap(openai.AsyncOpenAI(api_key="sk", base_url=server.url + "/v1", max_retries=0))


def run_threads(server: FakeServer, cache: ResponseCache) -> list[Any]:
    client = sync_client(server, cache)
    key = cache.key(REQ, endpoint="openai.chat")
    results: list[Any] = [None] * N

    def worker(i: int) -> None:
        try:
            results[i] = client.chat.completions.create(**REQ)
        except Exception as exc:
            results[i] = exc

    server.hold.clear()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    wait_until(lambda: server.arrived == 1 and cache._flights.waiting(key) == N - 1)
    server.hold.set()
    for t in threads:
        t.join()
    return results


def test_sixteen_threads_make_one_call(fake_server: FakeServer) -> None:
    cache = ResponseCache(namespace="t")
    fake_server.reply_text("four")
    results = run_threads(fake_server, cache)
    assert len(fake_server.requests) == 1
    assert [r.choices[0].message.content for r in results] == ["four"] * N
    stats = cache.stats
    assert (stats.misses, stats.coalesced, stats.hits, stats.stored) == (1, N - 1, 0, 1)


def test_sixteen_threads_share_an_error_that_is_not_stored(fake_server: FakeServer) -> None:
    cache = ResponseCache(namespace="t")
    fake_server.reply_error(500)
    results = run_threads(fake_server, cache)
    assert len(fake_server.requests) == 1
    assert all(isinstance(r, openai.InternalServerError) for r in results)
    assert cache.stats.stored == 0
    fake_server.reply_text("four")
    client = sync_client(fake_server, cache)
    assert client.chat.completions.create(**REQ).choices[0].message.content == "four"
    assert len(fake_server.requests) == 2


async def _tasks(server: FakeServer, cache: ResponseCache, cancel: set[int]) -> list[Any]:
    client = async_client(server, cache)
    key = cache.key(REQ, endpoint="openai.chat")
    server.hold.clear()
    tasks = [asyncio.create_task(client.chat.completions.create(**REQ)) for _ in range(N)]
    await await_until(lambda: server.arrived == 1 and cache._aflights.waiting(key) == N - 1)
    for i in cancel:
        tasks[i].cancel()
    await asyncio.sleep(0)
    server.hold.set()
    return list(await asyncio.gather(*tasks, return_exceptions=True))


def test_sixteen_tasks_make_one_call(fake_server: FakeServer) -> None:
    cache = ResponseCache(namespace="t")
    fake_server.reply_text("four")
    results = asyncio.run(_tasks(fake_server, cache, set()))
    assert len(fake_server.requests) == 1
    assert [r.choices[0].message.content for r in results] == ["four"] * N
    assert (cache.stats.misses, cache.stats.coalesced) == (1, N - 1)


def test_sixteen_tasks_share_an_error(fake_server: FakeServer) -> None:
    cache = ResponseCache(namespace="t")
    fake_server.reply_error(500)
    results = asyncio.run(_tasks(fake_server, cache, set()))
    assert len(fake_server.requests) == 1
    assert all(isinstance(r, openai.InternalServerError) for r in results)
    assert cache.stats.stored == 0


@pytest.mark.parametrize("cancel", [{0}, {0, 3, 7, 15}, {5}])
def test_cancelling_waiters_or_the_leader_does_not_cancel_the_others(
    fake_server: FakeServer, cancel: set[int]
) -> None:
    cache = ResponseCache(namespace="t")
    fake_server.reply_text("four")
    results = asyncio.run(_tasks(fake_server, cache, cancel))
    for i, r in enumerate(results):
        if i in cancel:
            assert isinstance(r, asyncio.CancelledError)
        else:
            assert r.choices[0].message.content == "four"
    assert len(fake_server.requests) == 1
    assert cache.stats.stored == 1  # the call finished and was stored all the same
    assert cache.get(REQ, endpoint="openai.chat") is not None


def test_processes_coalesce_through_a_redis_lease(redis_url: str, tmp_path: Any) -> None:
    import multiprocessing

    from rcachehelpers import lease_worker

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=lease_worker, args=(redis_url, str(tmp_path), i)) for i in range(4)]
    for p in procs:
        p.start()
    wait_until(
        lambda: (
            len(list(tmp_path.glob("started-*"))) == 4
            and len(list(tmp_path.glob("upstream-*"))) == 1
        ),
        seconds=180,
    )
    (tmp_path / "gate").touch()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert len(list(tmp_path.glob("upstream-*"))) == 1  # one call for four processes
    assert sorted(f.read_text() for f in tmp_path.glob("result-*")) == ["4"] * 4


# ------------------------------------------------------------------ the lease, step by step


def _walk(replies: list[Any]) -> tuple[list[str], Any]:
    """Drive the leader's decision steps with the given replies; the ops taken and the outcome."""
    from stableprefix.response_cache._calls import _turn

    steps, ops, reply = _turn(True), [], None
    feed = iter(replies)
    while True:
        try:
            op, _ = steps.send(reply)
        except StopIteration as done:
            return ops, done.value
        ops.append(op)
        reply = next(feed) if op in ("find", "claim") else None


ENTRY = {"response": {"answer": 4}}


def test_a_waiter_keeps_waiting_while_the_lease_is_held_then_finds_the_answer() -> None:
    ops, outcome = _walk([None, None, None, None, ENTRY])
    assert ops == ["find", "claim", "sleep", "find", "claim", "sleep", "find"]
    assert outcome == (ENTRY, None)


def test_a_lease_freed_between_lookup_and_claim_is_checked_for_the_answer() -> None:
    # the holder stored and released between our lookup and our claim: we win the lease,
    # find its answer, give the lease back and never call upstream
    ops, outcome = _walk([None, "token", ENTRY])
    assert ops == ["find", "claim", "find", "release"]
    assert outcome == (ENTRY, None)


def test_the_lease_winner_calls_upstream_when_nothing_is_stored() -> None:
    assert _walk([None, "token", None]) == (["find", "claim", "find"], (None, "token"))


def test_a_failing_lease_backend_fails_open() -> None:
    assert _walk([None, False]) == (["find", "claim"], (None, None))


def test_writing_the_answer_releases_the_lease_in_the_same_step(redis_url: str) -> None:
    from stableprefix.response_cache import RedisBackend

    backend = RedisBackend(redis_url)
    token = backend.acquire_lease("k", 30)
    assert token is not None and backend.acquire_lease("k", 30) is None
    backend.set("k", b"answer", ttl=None, partition=None, lease="someone else's")
    assert backend.lease_held("k")  # only the holder's token releases it
    backend.set("k", b"answer", ttl=None, partition=None, lease=token)
    assert not backend.lease_held("k") and backend.get("k") == b"answer"
    assert not backend.renew_lease("k", token, 30)  # gone: nothing to renew
    backend.close()


def test_the_leader_renews_its_lease_while_it_works(redis_url: str) -> None:
    import redis

    cache = ResponseCache(redis_url, namespace="t", lease=3)
    other = ResponseCache(redis_url, namespace="t", lease=3)  # another process, in effect
    admin = redis.Redis.from_url(redis_url)
    gate, calls = threading.Event(), []
    leases = lambda: admin.keys("*rcl:*")  # noqa: E731

    def upstream() -> dict[str, Any]:
        calls.append(1)
        gate.wait(60)
        return {"answer": 4}

    leader = threading.Thread(
        target=cache.call, args=(REQ, upstream), kwargs={"endpoint": "any", "load": dict}
    )
    leader.start()
    wait_until(lambda: len(calls) == 1 and len(leases()) == 1)
    seen = [admin.pttl(leases()[0])]
    # a renewal shows as the lease's time to live going back up
    wait_until(lambda: seen.append(admin.pttl(leases()[0])) or seen[-1] > min(seen))
    waiter: list[Any] = []
    follower = threading.Thread(
        target=lambda: waiter.append(other.call(REQ, upstream, endpoint="any", load=dict))
    )
    follower.start()
    gate.set()
    leader.join(30)
    follower.join(30)
    assert calls == [1] and waiter == [{"answer": 4}]
    assert leases() == []  # released with the write
    admin.close()


def test_processes_racing_through_many_keys_make_one_call_per_key(
    redis_url: str, tmp_path: Any
) -> None:
    import multiprocessing

    from rcachehelpers import lease_rounds_worker

    workers, rounds = 4, 25
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=lease_rounds_worker, args=(redis_url, str(tmp_path), i, workers, rounds))
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
        assert p.exitcode == 0
    calls = [len(list(tmp_path.glob(f"upstream-{n}-*"))) for n in range(rounds)]
    assert calls == [1] * rounds  # one upstream call per key, whoever made it
    for n in range(rounds):
        assert {f.read_text() for f in tmp_path.glob(f"result-{n}-*")} == {str(n)}


def test_async_callers_of_two_caches_coalesce_through_the_lease(redis_url: str) -> None:
    import redis

    first = ResponseCache(redis_url, namespace="t", lease=3)
    second = ResponseCache(redis_url, namespace="t", lease=3)  # another process, in effect
    admin = redis.Redis.from_url(redis_url)
    calls: list[int] = []

    async def main() -> list[Any]:
        release = asyncio.Event()

        async def upstream() -> dict[str, Any]:
            calls.append(1)
            await release.wait()
            return {"answer": 4}

        leader = asyncio.create_task(first.acall(REQ, upstream, endpoint="any", load=dict))
        await await_until(lambda: len(calls) == 1 and len(admin.keys("*rcl:*")) == 1)
        waiter = asyncio.create_task(second.acall(REQ, upstream, endpoint="any", load=dict))
        lease = admin.keys("*rcl:*")[0]
        seen = [admin.pttl(lease)]
        # renewed by the leader's task while its call runs: the time to live goes back up
        await await_until(lambda: seen.append(admin.pttl(lease)) or seen[-1] > min(seen))
        assert not waiter.done()  # it cannot answer before the leader stored
        release.set()
        out = [await leader, await waiter]
        await first.aclose()
        await second.aclose()
        return out

    try:
        assert asyncio.run(main()) == [{"answer": 4}] * 2
        assert calls == [1] and admin.keys("*rcl:*") == []
    finally:
        admin.close()
