"""Turn scored runs into a report: a fixed-width table, Markdown or JSON.

Approach: the text reports fit a 100-column terminal. First the run
settings, then a summary (one line per workload x cache model: the
cheapest strategy, its saving against naive, the best peer against
stableprefix), then every strategy grouped by cache model in a few
columns: hit ratio (cache reads over all prompt tokens), cost with
caching, cost with no caching (every input token at the input price),
savings and the bill relative to the cheapest strategy on that workload
and cache model (local engines have no prices: their bill is the prompt
tokens they compute). ``--detail`` adds the wide table (tokens read,
written and uncached, efficiency against the ideal radix cache on the same
request stream) and one line per request; JSON always has every number.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

from ._score import Run
from ._summary import group_runs, summary

__all__ = ["FORMATS", "WIDTH", "fit_width", "render", "rows"]

#: Output formats.
FORMATS = ("table", "markdown", "json")
#: Columns the table and Markdown reports fit in (without ``detail``).
WIDTH = 100

_SUMMARY = (
    ("workload", "<"),
    ("cache model", "<"),
    ("cheapest strategy", "<"),
    ("saves vs naive", ">"),
    ("best peer", "<"),
    ("peer / ours", ">"),
)
_SUMMARY_NOTE = (
    "per workload and cache model, the cheapest strategy and the share of naive's bill it "
    "saves; the cheapest strategy that is not stableprefix (the best peer) and its bill "
    "over stableprefix's (above 1.00x the peer costs more)."
)
_COMPACT = (
    ("workload", "<"),
    ("cache model", "<"),
    ("strategy", "<"),
    ("hit", ">"),
    ("cost", ">"),
    ("no-cache", ">"),
    ("savings", ">"),
    ("vs best", ">"),
)
_COMPACT_NOTE = (
    "every strategy played under each cache model (local engines: the prompt tokens they "
    "compute instead of a cost). --detail adds tokens read, written and uncached, and one line per "
    "request."
)

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


def _shown(data: list[list[str]], groups: int) -> list[tuple[bool, list[str]]]:
    """Rows with each workload and cache model named once; True where a group starts."""
    out: list[tuple[bool, list[str]]] = []
    last: list[str] | None = None
    for r in data:
        shown = list(r)
        if last is not None:
            if r[0] == last[0]:
                shown[0] = ""
            if r[:2] == last[:2]:
                shown[1] = ""
        out.append((last is not None and r[:groups] != last[:groups], shown))
        last = r
    return out


def _table(
    data: list[list[str]], columns: Sequence[tuple[str, str]] = _COLUMNS, groups: int = 2
) -> str:
    """A fixed-width table: a blank line between groups (rows equal in their first
    ``groups`` cells), and each workload and cache model named once."""
    heads = [c for c, _ in columns]
    widths = [
        max(len(h), *(len(r[i]) for r in data)) if data else len(h) for i, h in enumerate(heads)
    ]

    def line(cells: Sequence[str]) -> str:
        out = []
        for (_, align), cell, w in zip(columns, cells, widths, strict=True):
            out.append(cell.ljust(w) if align == "<" else cell.rjust(w))
        return "  ".join(out).rstrip()

    body: list[str] = []
    for new_group, shown in _shown(data, groups):
        body += [""] if new_group else []
        body.append(line(shown))
    return "\n".join([line(heads), "  ".join("-" * w for w in widths), *body])


def _markdown(
    data: list[list[str]], columns: Sequence[tuple[str, str]] = _COLUMNS, groups: int = 2
) -> str:
    """A Markdown table, each workload and cache model named once (as in ``_table``)."""
    heads = [c for c, _ in columns]
    align = ["---" if a == "<" else "---:" for _, a in columns]
    out = ["| " + " | ".join(heads) + " |", "| " + " | ".join(align) + " |"]
    for _new, shown in _shown(data, groups):
        cells = [c.replace("|", "\\|") for c in shown]
        out.append("|" + "|".join(f" {c} " if c else " " for c in cells) + "|")
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


def _wrap(text: str) -> str:
    return "\n".join(
        textwrap.fill(par, WIDTH, break_on_hyphens=False) if par else "" for par in text.split("\n")
    )


def fit_width(text: str, width: int = WIDTH) -> str:
    """Wrap the prose lines of ``text`` longer than ``width``; table rows stay whole.

    A table row is a line starting with ``|`` (Markdown) or holding two
    spaces in a row (fixed-width columns).

    >>> print(fit_width("one two three", 8))
    one two
    three
    >>> fit_width("a  b  c", 3)
    'a  b  c'
    """
    out = []
    for line in text.split("\n"):
        if len(line) <= width or line.startswith("|") or "  " in line.strip():
            out.append(line)
        else:
            out.append(textwrap.fill(line, width, break_on_hyphens=False))
    return "\n".join(out)


def _ordered(runs: Sequence[Run]) -> list[Run]:
    return [r for group in group_runs(runs) for r in group]


def _summary_cells(row: dict[str, Any]) -> list[str]:
    saving = row["best_vs_naive"]
    ratio = row["peer_vs_ours"]
    return [
        row["workload"],
        row["provider"],
        row["best"],
        "-" if saving is None else _pct(saving),
        row["peer"] or "-",
        "-" if ratio is None else f"{ratio:.2f}x",
    ]


def _compact_cells(row: dict[str, Any]) -> list[str]:
    if "error" in row:
        return [row["workload"], row["provider"], row["strategy"], "failed: see notes",
                *(["-"] * (len(_COMPACT) - 4))]  # fmt: skip
    cost = _usd(row["cost_usd"])
    if row["cost_usd"] is None:  # local engines: the prompt tokens they compute
        cost = _tok(row["cache_write_tokens"] + row["uncached_input_tokens"])
    return [
        row["workload"],
        row["provider"],
        row["strategy"],
        _pct(row["hit_ratio"]),
        cost,
        _usd(row["cost_uncached_usd"]),
        _pct(row["savings"]),
        f"{row['vs_best']:.2f}x",
    ]


def _models_line(runs: Sequence[Run]) -> str:
    models: dict[str, str] = {}
    for r in runs:
        if r.model:
            models.setdefault(r.provider, r.model)
    if not models:
        return ""
    return "models: " + ", ".join(f"{p} = {m}" for p, m in models.items())


def _text_report(
    runs: Sequence[Run], fmt: str, *, detail: bool, meta: dict[str, Any] | None, notes: list[str]
) -> str:
    ordered = _ordered(runs)
    data = rows(ordered)
    table = _markdown if fmt == "markdown" else _table
    parts: list[str] = []
    if meta:
        head = "; ".join(f"{k}: {v}" for k, v in meta.items() if not isinstance(v, (dict, list)))
        parts.append(f"_{_wrap(head)}_" if fmt == "markdown" else _wrap(head))
    models = _models_line(ordered)
    if models:
        parts.append(_wrap(models))
    # With one strategy per cache model there is nothing to summarise or group.
    compared = any(len(group) > 1 for group in group_runs(ordered))
    if compared:
        title = "**Summary**" if fmt == "markdown" else "Summary"
        parts.append(_wrap(f"{title}: {_SUMMARY_NOTE}"))
        parts.append(table([_summary_cells(r) for r in summary(ordered)], _SUMMARY, 1))
    title = "**By cache model**" if fmt == "markdown" else "By cache model"
    parts.append(_wrap(f"{title}: {_COMPACT_NOTE}"))
    parts.append(table([_compact_cells(r) for r in data], _COMPACT, 2 if compared else 1))
    failures = [
        f"{r.workload} / {r.provider} / {r.strategy} failed: {r.error}"
        for r in ordered
        if r.error is not None
    ]
    tail = [_wrap(n) for n in [*notes, *failures]]
    if tail:
        parts.append("\n".join(tail))
    if detail:
        parts.append(table([_cells(r) for r in data], _COLUMNS))
        parts.append(_detail(ordered, fmt))
    return "\n\n".join(parts)


def render(
    runs: Sequence[Run],
    fmt: str = "table",
    *,
    detail: bool = False,
    meta: dict[str, Any] | None = None,
    notes: Iterable[str] = (),
) -> str:
    """The report of ``runs`` in format ``fmt``.

    The table and Markdown reports fit a 100-column terminal: the run
    settings, a summary per workload and cache model, then every strategy
    grouped by cache model; ``detail`` adds the wide table (tokens read,
    written and uncached, efficiency) and one line per request. JSON has
    everything: ``summary``, ``runs`` and, with ``detail``, each run's requests.

    Args:
        runs: scored runs (grouped by workload and cache model for printing).
        fmt: ``"table"``, ``"markdown"`` or ``"json"``.
        detail: add the wide table and one line per request of each run.
        meta: run settings, printed as JSON fields or a header line.
        notes: lines printed under the tables (ignored in JSON).

    Returns:
        The report text (no trailing newline).

    Raises:
        ValueError: an unknown format.

    >>> from stableprefix import CacheUsage
    >>> r = Run(workload="w", strategy="s", provider="radix", model=None,
    ...         usage=CacheUsage(cache_read_tokens=90, uncached_input_tokens=10),
    ...         requests=2, ideal_read=90, cost=None, cost_uncached=None)
    >>> print(render([r], "markdown").splitlines()[-1])
    | w | radix | s | 90.0% | 10 | - | - | 1.00x |
    >>> json.loads(render([r], "json"))["runs"][0]["hit_ratio"]
    0.9
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "json":
        data = rows(runs)
        doc: dict[str, Any] = {**(meta or {}), "summary": summary(runs), "runs": data}
        if detail:
            for row, run in zip(data, runs, strict=True):
                row["turns"] = _turn_dicts(run)
        return json.dumps(doc, indent=2)
    return _text_report(runs, fmt, detail=detail, meta=meta, notes=list(notes))
