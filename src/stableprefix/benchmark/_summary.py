"""The short summary at the top of a benchmark report.

Approach: runs are grouped by (workload, cache model) in the order they
first appear, so every strategy played under one cache model sits together.
For each group the summary names the cheapest strategy, what it saves
against ``naive`` (when naive was played) and how the library's default
compares with the cheapest strategy that is not the library (a "peer"):
the peer's bill over ours, so above 1 means the peer costs more. Bills are
dollars with prices, computed prompt tokens without (local engines).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._score import Run

__all__ = ["OURS", "group_runs", "is_ours", "summary"]

#: The strategy whose numbers the summary speaks for.
OURS = "stableprefix"


def is_ours(strategy: str) -> bool:
    """Whether ``strategy`` is the library (any ``dynamic_position``).

    >>> is_ours("stableprefix-tail"), is_ours("naive")
    (True, False)
    """
    return strategy == OURS or strategy.startswith(OURS + "-")


def group_runs(runs: Sequence[Run]) -> list[list[Run]]:
    """``runs`` grouped by (workload, cache model), in order of first appearance.

    >>> from stableprefix import CacheUsage
    >>> def run(w, p, s):
    ...     return Run(workload=w, strategy=s, provider=p, model=None, usage=CacheUsage(),
    ...                requests=0, ideal_read=0, cost=None, cost_uncached=None)
    >>> groups = group_runs([run("w", "a", "x"), run("w", "b", "x"), run("w", "a", "y")])
    >>> [[(r.provider, r.strategy) for r in g] for g in groups]
    [[('a', 'x'), ('a', 'y')], [('b', 'x')]]
    """
    groups: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.workload, r.provider), []).append(r)
    return list(groups.values())


def _ours(group: Sequence[Run]) -> Run | None:
    exact = [r for r in group if r.strategy == OURS]
    mine = exact or [r for r in group if is_ours(r.strategy)]
    return min(mine, key=lambda r: r.bill) if mine else None


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def summary(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """One dict per (workload, cache model): best strategy, saving, us vs the best peer.

    Keys: ``workload``, ``provider``, ``model``, ``best`` (cheapest
    strategy), ``best_vs_naive`` (share of naive's bill the best strategy
    saves, ``None`` without a naive run), ``peer`` (cheapest strategy that
    is not the library, ``None`` without one) and ``peer_vs_ours`` (peer
    bill / the library's bill). Failed runs are left out.

    >>> from stableprefix import CacheUsage
    >>> def run(s, cost):
    ...     return Run(workload="w", strategy=s, provider="p", model="m", usage=CacheUsage(),
    ...                requests=1, ideal_read=0, cost=cost, cost_uncached=2.0)
    >>> row = summary([run("stableprefix", 0.5), run("naive", 2.0), run("sliding-window", 1.0)])[0]
    >>> row["best"], row["best_vs_naive"], row["peer"], row["peer_vs_ours"]
    ('stableprefix', 0.75, 'sliding-window', 2.0)
    """
    out: list[dict[str, Any]] = []
    for group in group_runs(runs):
        ok = [r for r in group if r.error is None]
        if not ok:
            continue
        best = min(ok, key=lambda r: r.bill)
        naive = next((r for r in ok if r.strategy == "naive"), None)
        peers = [r for r in ok if not is_ours(r.strategy)]
        peer = min(peers, key=lambda r: r.bill) if peers else None
        ours = _ours(ok)
        out.append(
            {
                "workload": best.workload,
                "provider": best.provider,
                "model": best.model,
                "best": best.strategy,
                "best_vs_naive": (
                    None
                    if naive is None or not naive.bill
                    else round(1 - best.bill / naive.bill, 4)
                ),
                "peer": None if peer is None else peer.strategy,
                "peer_vs_ours": (
                    None if peer is None or ours is None else _ratio(peer.bill, ours.bill)
                ),
            }
        )
    return out
