"""Turn scored runs into a report: a fixed-width table, Markdown or JSON.

One row per workload x cache model x strategy. Columns: requests, hit
ratio (cache reads over all prompt tokens), prompt tokens read / written /
uncached, cost with caching, cost with no caching (every input token at
the input price), savings, efficiency (reads over the ideal radix cache's
reads on the same request stream) and the bill relative to the cheapest
strategy on that workload and cache model (for local engines, which have
no prices, the bill is the prompt tokens they must compute).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from ._score import Run

__all__ = ["FORMATS", "render", "rows"]

#: Output formats.
FORMATS = ("table", "markdown", "json")

_COLUMNS = (
    ("workload", "<"),
    ("provider", "<"),
    ("strategy", "<"),
    ("requests", ">"),
    ("hit", ">"),
    ("read", ">"),
    ("written", ">"),
    ("uncached", ">"),
    ("cost", ">"),
    ("no-cache", ">"),
    ("savings", ">"),
    ("vs radix", ">"),
    ("vs best", ">"),
)


def _best(runs: Sequence[Run]) -> dict[tuple[str, str], float]:
    best: dict[tuple[str, str], float] = {}
    for r in runs:
        if r.error is not None:
            continue
        key = (r.workload, r.provider)
        best[key] = min(best.get(key, r.bill), r.bill)
    return best


def rows(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """The report's numbers as plain dicts (what ``--format json`` prints).

    >>> from stableprefix import CacheUsage
    >>> r = Run(workload="w", strategy="s", provider="radix", model=None,
    ...         usage=CacheUsage(cache_read_tokens=90, uncached_input_tokens=10),
    ...         requests=2, ideal_read=90, cost=None, cost_uncached=None)
    >>> row = rows([r])[0]
    >>> row["hit_ratio"], row["efficiency"], row["vs_best"]
    (0.9, 1.0, 1.0)
    """
    best = _best(runs)
    out: list[dict[str, Any]] = []
    for r in runs:
        u = r.usage
        if r.error is not None:
            out.append(
                {
                    "workload": r.workload,
                    "provider": r.provider,
                    "model": r.model,
                    "strategy": r.strategy,
                    "error": r.error,
                }
            )
            continue
        floor = best[(r.workload, r.provider)]
        out.append(
            {
                "workload": r.workload,
                "provider": r.provider,
                "model": r.model,
                "strategy": r.strategy,
                "requests": r.requests,
                "input_tokens": u.input_tokens,
                "cache_read_tokens": u.cache_read_tokens,
                "cache_write_tokens": u.cache_write_tokens,
                "uncached_input_tokens": u.uncached_input_tokens,
                "output_tokens": u.output_tokens,
                "hit_ratio": round(u.hit_ratio, 4),
                "cost_usd": None if r.cost is None else round(r.cost, 6),
                "cost_uncached_usd": None if r.cost_uncached is None else round(r.cost_uncached, 6),
                "savings": None if r.savings is None else round(r.savings, 4),
                "ideal_read_tokens": r.ideal_read,
                "efficiency": round(r.efficiency, 4),
                "vs_best": round(r.bill / floor, 4) if floor else 1.0,
            }
        )
    return out


def _tok(n: int) -> str:
    if n >= 10_000_000:
        return f"{n / 1e6:.1f}M"
    if n >= 100_000:
        return f"{n / 1e3:.0f}k"
    return f"{n:,}"


def _usd(x: float | None) -> str:
    if x is None:
        return "-"
    return f"${x:.4f}" if x < 10 else f"${x:,.2f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _cells(row: dict[str, Any]) -> list[str]:
    provider = row["provider"] + (f" ({row['model']})" if row["model"] else "")
    if "error" in row:
        return [
            row["workload"],
            provider,
            row["strategy"],
            "failed: see notes",
            *(["-"] * (len(_COLUMNS) - 4)),
        ]
    return [
        row["workload"],
        provider,
        row["strategy"],
        str(row["requests"]),
        _pct(row["hit_ratio"]),
        _tok(row["cache_read_tokens"]),
        _tok(row["cache_write_tokens"]),
        _tok(row["uncached_input_tokens"]),
        _usd(row["cost_usd"]),
        _usd(row["cost_uncached_usd"]),
        _pct(row["savings"]),
        _pct(row["efficiency"]),
        f"{row['vs_best']:.2f}x",
    ]


def _table(data: list[list[str]]) -> str:
    heads = [c for c, _ in _COLUMNS]
    widths = [
        max(len(h), *(len(r[i]) for r in data)) if data else len(h) for i, h in enumerate(heads)
    ]

    def line(cells: Sequence[str]) -> str:
        out = []
        for (_, align), cell, w in zip(_COLUMNS, cells, widths, strict=True):
            out.append(cell.ljust(w) if align == "<" else cell.rjust(w))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    body: list[str] = []
    last = None
    for r in data:
        if last is not None and r[0] != last:
            body.append("")
        body.append(line(r))
        last = r[0]
    return "\n".join([line(heads), sep, *body])


def _markdown(data: list[list[str]]) -> str:
    heads = [c for c, _ in _COLUMNS]
    align = ["---" if a == "<" else "---:" for _, a in _COLUMNS]
    out = ["| " + " | ".join(heads) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in data]
    return "\n".join(out)


def _detail(runs: Sequence[Run], fmt: str) -> str:
    parts = []
    for r in runs:
        if r.error is not None:
            continue
        title = f"{r.workload} / {r.provider} / {r.strategy}"
        heads = ["#", "conv", "t (s)", "input", "read", "written", "uncached", "radix", "cost"]
        data = [
            [
                str(t.index),
                t.conversation,
                f"{t.time:.0f}",
                str(t.usage.input_tokens),
                str(t.usage.cache_read_tokens),
                str(t.usage.cache_write_tokens),
                str(t.usage.uncached_input_tokens),
                str(t.ideal_read),
                "-" if t.cost is None else f"{t.cost:.5f}",
            ]
            for t in r.turns
        ]
        if fmt == "markdown":
            lines = [
                f"#### {title}",
                "",
                "| " + " | ".join(heads) + " |",
                "|" + "---:|" * len(heads),
            ]
            lines += ["| " + " | ".join(d) + " |" for d in data]
        else:
            widths = [
                max(len(h), *(len(d[i]) for d in data)) if data else len(h)
                for i, h in enumerate(heads)
            ]
            lines = [title, "  ".join(h.rjust(w) for h, w in zip(heads, widths, strict=True))]
            lines += ["  ".join(c.rjust(w) for c, w in zip(d, widths, strict=True)) for d in data]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _turn_dicts(run: Run) -> list[dict[str, Any]]:
    return [
        {
            "index": t.index,
            "conversation": t.conversation,
            "time": round(t.time, 3),
            "cache_read_tokens": t.usage.cache_read_tokens,
            "cache_write_tokens": t.usage.cache_write_tokens,
            "uncached_input_tokens": t.usage.uncached_input_tokens,
            "output_tokens": t.usage.output_tokens,
            "ideal_read_tokens": t.ideal_read,
            "cost_usd": None if t.cost is None else round(t.cost, 8),
        }
        for t in run.turns
    ]


def render(
    runs: Sequence[Run],
    fmt: str = "table",
    *,
    detail: bool = False,
    meta: dict[str, Any] | None = None,
    notes: Iterable[str] = (),
) -> str:
    """The report of ``runs`` in format ``fmt``.

    Args:
        runs: scored runs, in the order to print.
        fmt: ``"table"``, ``"markdown"`` or ``"json"``.
        detail: add one line per request of each run.
        meta: run settings, printed as JSON fields or a header line.
        notes: lines printed under the table (ignored in JSON).

    Returns:
        The report text (no trailing newline).

    Raises:
        ValueError: an unknown format.

    >>> from stableprefix import CacheUsage
    >>> r = Run(workload="w", strategy="s", provider="radix", model=None,
    ...         usage=CacheUsage(cache_read_tokens=90, uncached_input_tokens=10),
    ...         requests=2, ideal_read=90, cost=None, cost_uncached=None)
    >>> print(render([r], "markdown").splitlines()[2])
    | w | radix | s | 2 | 90.0% | 90 | 0 | 10 | - | - | - | 100.0% | 1.00x |
    >>> json.loads(render([r], "json"))["runs"][0]["hit_ratio"]
    0.9
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    data = rows(runs)
    if fmt == "json":
        doc: dict[str, Any] = {**(meta or {}), "runs": data}
        if detail:
            for row, run in zip(data, runs, strict=True):
                row["turns"] = _turn_dicts(run)
        return json.dumps(doc, indent=2)
    cells = [_cells(r) for r in data]
    head = ""
    if meta:
        head = "; ".join(f"{k}: {v}" for k, v in meta.items() if not isinstance(v, (dict, list)))
        head = f"_{head}_\n\n" if fmt == "markdown" else head + "\n\n"
    body = _markdown(cells) if fmt == "markdown" else _table(cells)
    failures = [
        f"{r.workload} / {r.provider} / {r.strategy} failed: {r.error}"
        for r in runs
        if r.error is not None
    ]
    tail = "\n".join([*notes, *failures])
    out = head + body + ("\n\n" + tail if tail else "")
    if detail:
        out += "\n\n" + _detail(runs, fmt)
    return out
