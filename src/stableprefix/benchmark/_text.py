"""Realistic filler text for benchmark workloads, generated from a seed.

Approach: cache behaviour depends on sizes and on which bytes repeat, not on
meaning, but a benchmark whose prompts are lorem ipsum invites doubt, and
token estimates of real-looking text (words, numbers, JSON punctuation) are
what users see. So text here is assembled from word lists and sentence
templates of a few everyday domains (operations, billing, travel, data
work), and tool outputs look like what tools return: search hits as JSON,
log lines, table rows, source files. Everything is driven by a
``random.Random`` passed in, so a seed gives the same text on every machine.
Sizes are reached by adding units until the token estimate reaches the
target, so they hold whatever the vocabulary.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

__all__ = [
    "approx_tokens",
    "chunk",
    "log_lines",
    "paragraph",
    "question",
    "reply",
    "search_results",
    "sentence",
    "source_file",
    "table_rows",
    "tool_output",
]

_SUBJECTS = (
    "the billing service",
    "our staging cluster",
    "the nightly export job",
    "the mobile app",
    "the customer portal",
    "the search index",
    "the payments team",
    "the data warehouse",
    "the booking engine",
    "the support queue",
    "the onboarding flow",
    "the invoice generator",
    "the fraud model",
    "the load balancer",
    "the reporting dashboard",
    "the inventory sync",
)
_VERBS = (
    "depends on",
    "writes to",
    "reads from",
    "retries against",
    "caches",
    "validates",
    "schedules",
    "rate-limits",
    "replicates",
    "aggregates",
    "exports",
    "reconciles",
    "forwards",
    "throttles",
    "indexes",
    "archives",
)
_OBJECTS = (
    "the orders table",
    "every pending refund",
    "the regional replicas",
    "hourly snapshots",
    "the audit log",
    "customer addresses",
    "flight availability",
    "the currency rates feed",
    "the session store",
    "queued webhooks",
    "the pricing rules",
    "partner invoices",
    "room allocations",
    "shipment events",
    "the feature flags",
    "old attachments",
)
_QUALIFIERS = (
    "during peak hours",
    "after each deployment",
    "once a day",
    "when the queue backs up",
    "for enterprise accounts",
    "in the EU region",
    "since the last migration",
    "unless the cache is warm",
    "on the first of the month",
    "for trial users",
    "while the replica lags",
    "before the report is sent",
    "with exponential backoff",
    "in batches of five hundred",
    "behind the feature flag",
    "at the start of each shift",
)
_OPENERS = (
    "In practice,",
    "As far as we know,",
    "According to the runbook,",
    "Since March,",
    "For now,",
    "In the current setup,",
    "By default,",
    "After the incident,",
    "Strictly speaking,",
    "In most cases,",
    "On weekdays,",
    "From what the logs show,",
)
_ASKS = (
    "Can you check why {s} {v} {o} {q}?",
    "Why does {s} keep failing {q}?",
    "What changed in {s} {q}?",
    "Could you summarise how {s} {v} {o}?",
    "Is it safe to pause {s} {q}?",
    "How many errors did {s} log {q}?",
    "Please draft a note explaining why {s} {v} {o}.",
    "Which team owns {o} now?",
    "Compare last week's numbers for {s} with this week's.",
    "What would break if {s} stopped reading {o}?",
)
_NAMES = (
    "Amara",
    "Bruno",
    "Chen",
    "Dagny",
    "Esi",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kofi",
    "Lena",
    "Mateo",
    "Nadia",
    "Oskar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tomasz",
)
_SERVICES = ("api", "worker", "scheduler", "gateway", "billing", "search", "export", "auth")
_LEVELS = ("INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR")
_EVENTS = (
    "request completed",
    "retrying upstream call",
    "cache miss for key",
    "job enqueued",
    "connection reset by peer",
    "slow query detected",
    "token refreshed",
    "batch flushed",
    "rate limit reached",
    "health check passed",
    "payload validated",
    "lock acquired",
)
_CODE_NAMES = (
    "invoice",
    "booking",
    "refund",
    "account",
    "shipment",
    "report",
    "session",
    "rate",
)


def approx_tokens(text: str) -> int:
    """A tokenizer-free size: four characters a token, the usual rule of thumb.

    Workload sizes are set with this so that they do not move when the
    library's token estimator is recalibrated.

    >>> approx_tokens("abcd" * 25)
    25
    """
    return max(1, len(text) // 4)


def sentence(rng: random.Random) -> str:
    """One declarative sentence about an everyday system.

    >>> sentence(random.Random(1)).endswith(".")
    True
    """
    s, v, o, q = (rng.choice(x) for x in (_SUBJECTS, _VERBS, _OBJECTS, _QUALIFIERS))
    text = f"{s} {v} {o} {q}."
    if rng.random() < 0.4:
        text = f"{rng.choice(_OPENERS)} {text}"
    return text[0].upper() + text[1:]


def _grow(rng: random.Random, tokens: int, unit: Callable[[random.Random], str], sep: str) -> str:
    parts: list[str] = []
    size = 0
    while size < tokens:
        piece = unit(rng)
        parts.append(piece)
        size += approx_tokens(piece) + 1
    return sep.join(parts)


def paragraph(rng: random.Random, tokens: int) -> str:
    """Prose of about ``tokens`` tokens (at least one sentence).

    >>> 90 <= approx_tokens(paragraph(random.Random(2), 100)) <= 130
    True
    """
    return _grow(rng, tokens, sentence, " ")


def question(rng: random.Random) -> str:
    """A user's question, one or two sentences.

    >>> question(random.Random(3)).strip() != ""
    True
    """
    s, v, o, q = (rng.choice(x) for x in (_SUBJECTS, _VERBS, _OBJECTS, _QUALIFIERS))
    ask = rng.choice(_ASKS).format(s=s, v=v, o=o, q=q)
    ask = ask[0].upper() + ask[1:]
    if rng.random() < 0.5:
        ask = f"{sentence(rng)} {ask}"
    return ask


def reply(rng: random.Random, tokens: int) -> str:
    """An assistant's answer: a short lead, a few bullet points, a close.

    >>> "\\n- " in reply(random.Random(4), 200)
    True
    """
    lead = paragraph(rng, max(20, tokens // 4))
    bullets = _grow(rng, max(20, tokens // 2), lambda r: "- " + sentence(r), "\n")
    close = paragraph(rng, max(10, tokens // 6))
    return f"{lead}\n\n{bullets}\n\n{close}"


def chunk(rng: random.Random, tokens: int, index: int) -> str:
    """A retrieved document chunk with a source line, about ``tokens`` tokens.

    >>> chunk(random.Random(5), 100, 3).startswith("[doc 3]")
    True
    """
    title = rng.choice(_SUBJECTS).replace("the ", "").title()
    head = f"[doc {index}] {title} handbook, section {rng.randint(1, 40)}.{rng.randint(1, 9)}"
    return f"{head}\n{paragraph(rng, tokens)}"


def search_results(rng: random.Random, tokens: int) -> str:
    """Search hits as a JSON document of about ``tokens`` tokens."""
    hits: list[dict[str, object]] = []
    size = 0
    while size < tokens:
        hit = {
            "rank": len(hits) + 1,
            "title": sentence(rng)[:60],
            "url": f"https://docs.example.com/{rng.choice(_CODE_NAMES)}/{rng.randint(100, 999)}",
            "snippet": paragraph(rng, 60),
            "score": round(rng.uniform(0.5, 0.99), 3),
        }
        hits.append(hit)
        size += approx_tokens(json.dumps(hit))
    return json.dumps({"results": hits, "total": len(hits)}, indent=1)


def log_lines(rng: random.Random, tokens: int) -> str:
    """Service log lines with timestamps and ids."""

    def line(r: random.Random) -> str:
        return (
            f"2025-06-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:"
            f"{r.randint(0, 59):02d}.{r.randint(0, 999):03d}Z {r.choice(_LEVELS):5} "
            f"{r.choice(_SERVICES)}[{r.randint(1000, 9999)}] {r.choice(_EVENTS)} "
            f"id={r.getrandbits(40):010x} ms={r.randint(1, 2400)}"
        )

    return _grow(rng, tokens, line, "\n")


def table_rows(rng: random.Random, tokens: int) -> str:
    """Query results as a pipe-separated table."""
    header = "id | customer | status | amount_eur | updated_at"

    def row(r: random.Random) -> str:
        status = r.choice(("paid", "pending", "refunded", "failed", "disputed"))
        return (
            f"{r.randint(10000, 99999)} | {r.choice(_NAMES)} {r.choice(_NAMES)[0]}. | {status} | "
            f"{r.randint(5, 5000)}.{r.randint(0, 99):02d} | 2025-05-{r.randint(1, 31):02d}"
        )

    return header + "\n" + _grow(rng, tokens, row, "\n")


def source_file(rng: random.Random, tokens: int) -> str:
    """A Python-looking source file with small functions."""

    def func(r: random.Random) -> str:
        name = r.choice(_CODE_NAMES)
        verb = r.choice(("load", "check", "sync", "build", "close", "retry"))
        return (
            f"def {verb}_{name}(client, {name}_id, *, timeout={r.randint(1, 30)}):\n"
            f'    """{sentence(r)}"""\n'
            f"    row = client.fetch('{name}s', {name}_id, timeout=timeout)\n"
            f"    if row is None or row.status == '{r.choice(('closed', 'void', 'stale'))}':\n"
            f"        raise LookupError(f'{name} {{{name}_id}} not found')\n"
            f"    return row.amount * {r.randint(2, 99)} // {r.randint(2, 9)}\n"
        )

    return _grow(rng, tokens, func, "\n\n")


_OUTPUTS = (search_results, log_lines, table_rows, source_file)


def tool_output(rng: random.Random, tokens: int) -> str:
    """One tool's output of one of the kinds above, about ``tokens`` tokens.

    >>> out = tool_output(random.Random(6), 800)
    >>> 700 <= approx_tokens(out) <= 1100
    True
    """
    return rng.choice(_OUTPUTS)(rng, tokens)
