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
