"""Workers that response-cache tests run in separate processes (kept light to spawn)."""

from __future__ import annotations

import pathlib
import time
from typing import Any

from stableprefix import ResponseCache

REQ: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "temperature": 0,
    "messages": [{"role": "user", "content": "2+2?"}],
}


def lease_worker(url: str, folder: str, i: int) -> None:
    """Ask REQ through a leased cache; the upstream call waits for a ``gate`` file."""
    root = pathlib.Path(folder)
    cache = ResponseCache(url, namespace="procs", lease=120)

    def upstream() -> dict[str, Any]:
        (root / f"upstream-{i}").touch()
        while not (root / "gate").exists():
            time.sleep(0.01)
        return {"answer": 4}

    (root / f"started-{i}").touch()
    result = cache.call(REQ, upstream, endpoint="any", load=dict)
    (root / f"result-{i}").write_text(str(result["answer"]))
    cache.close()


def sqlite_worker(path: str, worker: int, n: int) -> None:
    """Fill a shared SQLite cache with n answers (the first process to ask stores each)."""
    cache = ResponseCache(f"sqlite:///{path}", namespace="shared")
    for i in range(n):
        request = {"model": "m", "messages": [{"role": "user", "content": f"q{i}"}]}
        if cache.get(request) is None:
            cache.put(request, {"answer": i, "by": worker})
    cache.close()


def lease_rounds_worker(url: str, folder: str, i: int, workers: int, rounds: int) -> None:
    """Ask ``rounds`` different requests in a row, all workers together, through a leased cache.

    Each upstream call leaves a file ``upstream-{round}-{worker}`` and takes a few
    milliseconds, so the workers' calls overlap and their lease steps interleave.
    """
    root = pathlib.Path(folder)
    cache = ResponseCache(url, namespace="rounds", lease=60)
    (root / f"ready-{i}").touch()
    while len(list(root.glob("ready-*"))) < workers:  # start together
        time.sleep(0.005)
    for n in range(rounds):
        request = {**REQ, "messages": [{"role": "user", "content": f"round {n}"}]}

        def upstream(n: int = n) -> dict[str, Any]:
            (root / f"upstream-{n}-{i}").touch()
            time.sleep(0.02)
            return {"answer": n}

        result = cache.call(request, upstream, endpoint="any", load=dict)
        (root / f"result-{n}-{i}").write_text(str(result["answer"]))
    cache.close()
