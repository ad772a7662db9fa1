"""``python -m stableprefix.diagnostics log.jsonl``: where a log of requests lost money.

Approach: the only I/O of the diagnostics. Each line of the log is one JSON
object: a request as sent, or ``{"request": ..., "response": ...}`` with
optional ``"usage"``, ``"time"`` (seconds or ISO 8601), ``"answered"``,
``"session"`` and ``"format"``. Lines are grouped by session, each session
is replayed through ``attribute`` (explanations plus the cache models), and
the report prints one row per request and a summary of the money lost per
cause, largest first. A logged response that carries the provider's own
cache diagnostics (Anthropic ``diagnostics``, OpenAI
``prompt_cache_diagnostics``) is reconciled with our explanation: the row
shows what the provider said and whether we agree, and the summary lists
the lines where we do not.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from .._errors import DiagnosticsError, StablePrefixError
from .._usage import CacheUsage
from ._attribution import Attribution, attribute
from ._lint import guess_format
from ._provider import parse_diagnostics, reconcile
from ._report import ProviderDiagnosis
from ._rules import resolve_adapter

__all__ = ["LogEntry", "main", "read_log", "report"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntry:
    """One logged request.

    Attributes:
        line: its line number in the log (1-based).
        request: the request as sent.
        format: its wire format.
        session: the conversation it belongs to ("" when the log has none).
        time: when it was sent, in seconds.
        usage: the usage its response reported, if logged.
        answered: when its response began, if logged.
        diagnosis: the provider's own cache diagnostics in the logged
            response, if any.
    """

    line: int
    request: Mapping[str, Any]
    format: str
    session: str
    time: float
    usage: CacheUsage | None
    answered: float | None
    diagnosis: ProviderDiagnosis | None = None


def _seconds(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise DiagnosticsError("a time must be seconds or an ISO 8601 string", path=where)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError as exc:
            raise DiagnosticsError(f"cannot read time {value!r}: {exc}", path=where) from exc
    raise DiagnosticsError("a time must be seconds or an ISO 8601 string", path=where)


def _entry(obj: Any, n: int, where: str, fmt: str | None) -> LogEntry:
    if not isinstance(obj, Mapping):
        raise DiagnosticsError("each line must be a JSON object", path=where)
    request = obj.get("request", obj)
    if not isinstance(request, Mapping):
        raise DiagnosticsError('"request" must be a JSON object', path=where)
    name = fmt or obj.get("format") or guess_format(request)
    adapter = resolve_adapter(str(name))
    usage = None
    source = obj.get("usage") or obj.get("response")
    if source is not None:
        try:
            usage = adapter.parse_usage(source)
        except StablePrefixError as exc:
            raise DiagnosticsError(f"unreadable usage: {exc}", path=where) from exc
    time = _seconds(obj.get("time", obj.get("timestamp")), where)
    diagnosis = None
    response = obj.get("response")
    if isinstance(response, Mapping):
        try:
            diagnosis = parse_diagnostics(response)
        except DiagnosticsError as exc:
            raise DiagnosticsError(f"unreadable cache diagnostics: {exc}", path=where) from exc
    return LogEntry(
        line=n,
        request=request,
        format=adapter.name,
        session=str(obj.get("session", "")),
        time=float(n) if time is None else time,
        usage=usage,
        answered=_seconds(obj.get("answered"), where),
        diagnosis=diagnosis,
    )


def read_log(lines: Sequence[str], *, name: str = "log", fmt: str | None = None) -> list[LogEntry]:
    """Parse the lines of a JSONL log.

    Args:
        lines: the log's lines (blank lines are skipped).
        name: the log's name, for error paths (``name:line``).
        fmt: force one wire format instead of guessing per line.

    Returns:
        The entries, in log order.

    Raises:
        DiagnosticsError: a line is not JSON or not a request; the error's
            path is ``name:line``.

    >>> [e.format for e in read_log(['{"contents": []}'])]
    ['gemini']
    """
    out: list[LogEntry] = []
    for n, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        where = f"{name}:{n}"
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DiagnosticsError(
                f"not JSON ({exc.msg} at column {exc.colno})", path=where
            ) from exc
        out.append(_entry(obj, n, where, fmt))
    return out


@dataclass(frozen=True, slots=True)
class _Row:
    entry: LogEntry
    attribution: Attribution


def _analyse(entries: list[LogEntry], model: str | None) -> list[_Row]:
    sessions: dict[tuple[str, str], list[LogEntry]] = {}
    for e in entries:
        sessions.setdefault((e.session, e.format), []).append(e)
    rows: list[_Row] = []
    for (_session, fmt), group in sessions.items():
        group = sorted(group, key=lambda e: (e.time, e.line))
        found = attribute(
            [e.request for e in group],
            adapter=fmt,
            times=[e.time for e in group],
            model=model,
            usages=[e.usage for e in group],
            answered=[e.answered for e in group],
        )
        rows.extend(_Row(e, a) for e, a in zip(group, found, strict=True))
    return sorted(rows, key=lambda r: r.entry.line)


def _provider_note(row: _Row) -> tuple[str, str | None]:
    """The row's note on the provider's diagnosis, and the verdict (``None``: none)."""
    diag = row.entry.diagnosis
    if diag is None:
        return "", None
    said = diag.reason or diag.status
    if diag.missed_tokens is not None:
        said += f" {diag.missed_tokens}"
    exp = row.attribution.explanation
    verdict = reconcile(exp, diag).agreement if exp is not None else diag.status
    shown = "DISAGREE" if verdict == "disagree" else verdict
    return f"  [{diag.provider}: {said}; {shown}]", verdict


def _cost(row: _Row) -> float:
    exp = row.attribution.explanation
    return exp.miss_cost_usd or 0.0 if exp is not None else 0.0


def report(entries: list[LogEntry], *, model: str | None = None, out: TextIO) -> float:
    """Print the per-request table and the summary; return the USD lost.

    Args:
        entries: from ``read_log``.
        model: the model for rules and prices (default: each request's own).
        out: where to print.

    Returns:
        The money lost to re-prefilled cached tokens, in USD.
    """
    rows = _analyse(entries, model)
    head = f"{'line':>5} {'session':<10} {'tokens':>8} {'expected':>8} {'observed':>8} "
    out.write(head + f"{'lost':>7} {'cost $':>10}  cause\n")
    by_cause: dict[str, list[float]] = {}
    verdicts: dict[str, list[int]] = {}
    for r in rows:
        a = r.attribution
        lost = a.lost_to_prefix + a.lost_to_rules
        observed = "-" if a.observed_read is None else str(a.observed_read)
        cost = _cost(r)
        note, verdict = _provider_note(r)
        if verdict is not None:
            verdicts.setdefault(verdict, []).append(r.entry.line)
        out.write(
            f"{r.entry.line:>5} {r.entry.session[:10]:<10} {a.total_tokens:>8} "
            f"{a.expected_read:>8} {observed:>8} {lost:>7} {cost:>10.6f}  {a.cause}{note}\n"
        )
        if a.cause not in ("first_request", "no_change"):
            tally = by_cause.setdefault(a.cause, [0.0, 0.0, 0.0])
            tally[0] += cost
            tally[1] += 1
            tally[2] += lost
    total = sum(v[0] for v in by_cause.values())
    out.write(f"\n{len(rows)} requests; ${total:.6f} lost to re-prefilled cached tokens\n")
    for cause, (usd, count, tokens) in sorted(by_cause.items(), key=lambda kv: -kv[1][0]):
        usd_text = f"${usd:.6f}"
        out.write(f"  {usd_text:>11}  {int(count):>4} x {cause:<20} {int(tokens):>9} tokens\n")
        fix = _fix_of(rows, cause)
        if fix:
            out.write(f"               fix: {fix}\n")
    if verdicts:
        counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(verdicts.items()))
        out.write(f"\nprovider diagnostics: {counts}\n")
        if "disagree" in verdicts:
            lines = ", ".join(str(n) for n in verdicts["disagree"])
            out.write(f"  the provider disagrees with our explanation on line(s) {lines}\n")
    return total


def _fix_of(rows: list[_Row], cause: str) -> str:
    for r in rows:
        exp = r.attribution.explanation
        if exp is not None and exp.causes and exp.causes[0].code == cause:
            return exp.causes[0].fix
    return ""


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 unreadable log).

    Args:
        argv: the arguments (default ``sys.argv[1:]``).
        out: where to print the report (default standard output).

    Returns:
        The exit code.

    >>> main(["no-such-log.jsonl"])
    2
    """
    parser = argparse.ArgumentParser(
        prog="python -m stableprefix.diagnostics",
        description="Explain the prompt-cache misses in a JSONL log of requests.",
    )
    parser.add_argument("log", help="JSONL file: one request (or {request, response}) per line")
    parser.add_argument("--format", choices=("anthropic", "openai", "openai_responses", "gemini"))
    parser.add_argument("--model", help="model for cache rules and prices (default: per request)")
    args = parser.parse_args(argv)
    stream = out if out is not None else sys.stdout
    try:
        with open(args.log, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
        report(read_log(lines, name=args.log, fmt=args.format), model=args.model, out=stream)
    except OSError as exc:
        print(f"error: cannot read {args.log}: {exc.strerror}", file=sys.stderr)
        return 2
    except StablePrefixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
