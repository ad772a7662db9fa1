"""Do cache-break diagnostics name the right cause and the right first divergence?

Runs the scenario table of ``tests/diag_scenarios.py`` (every cause in the
Anthropic Messages format, the format all peers read) through stableprefix
and, when installed, through three peers, each used as its README shows:

- prefixguard: ``PrefixGuard().observe(messages=, system=, tools=)`` per request;
  the second report's first finding and ``divergence_block``.
- hearth-ai: ``hearth.wrap(anthropic.Anthropic(...), mode=...)`` for
  ``observe`` and ``safe``; the breaks its JSONL trace records.
- cacheguardian: ``cacheguardian.wrap(anthropic.Anthropic(...))``; the
  ``CACHE BREAK — reason`` / ``Diverged at:`` lines it prints.

The wrapped clients talk to a loopback server (``tests/fakeserver.py``); no
request leaves 127.0.0.1. stableprefix is also run on the same table in all
four wire formats. Install the peers only into the benchmark's environment::

    uv run --with hearth-ai==0.1.0 --with prefixguard==0.2.1 \\
        --with cacheguardian==0.3.1 python benchmarks/diagnostics.py

Exit status 1 when stableprefix is wrong on any scenario.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from diag_scenarios import SCENARIOS, Scenario, cases, path_of, requests
from stableprefix.diagnostics import explain

Verdict = tuple[bool, bool, str]  # (right cause, right divergence, what it said)


def _where(scenario: Scenario) -> str | None:
    """Expected divergence as ``system``/``tools[i]``/``messages[n]``/``model``/``settings``."""
    w = scenario.where
    if w is None:
        return None
    if w[0] in ("tools", "messages"):
        return f"{w[0]}[{w[1]}]"
    return str(w[0])


def ours(scenario: Scenario, fmt: str = "anthropic") -> Verdict:
    prev, cur = requests(scenario, fmt)
    e = explain(prev, cur, adapter=fmt, **scenario.options)
    want = path_of(scenario.where, fmt, scenario.current) if scenario.where else None
    got = e.divergence.path if e.divergence else None
    return e.cause == scenario.cause, got == want, e.cause


# ------------------------------------------------------------------ prefixguard

_PG = {
    "SYSTEM_MUTATED": "system_changed",
    "VOLATILE_CONTENT": "volatile_value",
    "TOOL_REORDER": "tools_reordered",
    "TOOL_SCHEMA_DRIFT": "tool_schema_changed",
    "HISTORY_REWRITE": "history_rewritten",
    "HISTORY_DROP": "history_trimmed",
    "COMPACTION": "compaction",
    "NON_DETERMINISTIC_SERIALIZATION": "tool_key_order",
}


def _pg_cause(finding: Any) -> str:
    if finding.cause == "TOOL_SET_CHANGED":
        return "tools_added" if "added=[" in finding.detail else "tools_removed"
    return _PG.get(finding.cause, finding.cause)


def prefixguard(scenario: Scenario) -> Verdict:
    from prefixguard import PrefixGuard

    guard = PrefixGuard()
    report = None
    for req in requests(scenario, "anthropic"):
        report = guard.observe(
            messages=req["messages"], system=req.get("system"), tools=req.get("tools")
        )
    assert report is not None
    if not report.broken:
        said = "no_change"
        return said == scenario.cause, _where(scenario) is None, said
    said = _pg_cause(report.findings[-1]) if report.findings else "broken"
    block = report.divergence_block or ""
    return said == scenario.cause, block == _where(scenario), said


# ------------------------------------------------------------ wrapped clients


def _fake_server() -> Any:
    from fakeserver import FakeServer, FakeUsage

    server = FakeServer().start()
    # No cache fields: hearth-ai's usage parser rejects Anthropic usage with cache
    # reads or writes (input_tokens excludes them), and detection must not hinge on it.
    server.usage = FakeUsage(prompt=4000, cached=0, written=0)
    return server


# hearth-ai prices only these two Claude models and raises on any other; the
# model names do not matter to the other peers' detection.
_PEER_MODELS = {
    "claude-sonnet-4-6": "claude-3-5-sonnet-20241022",
    "claude-opus-4-5": "claude-3-5-haiku-20241022",
}


def _send(client: Any, scenario: Scenario) -> None:
    for req in requests(scenario, "anthropic"):
        client.messages.create(**{**req, "model": _PEER_MODELS.get(req["model"], req["model"])})


_HEARTH = {
    "volatile_in_prefix": "volatile_value",
    "system_changed": "system_changed",
    "tools_reordered": "tools_reordered",
    "tools_changed": "tool_schema_changed",
    "history_rewritten": "history_rewritten",
    "params_changed": "settings_changed",
    "below_minimum": "below_minimum",
    "ttl_expired": "ttl_expired",
}


def hearth(scenario: Scenario, mode: str) -> Verdict:
    import anthropic
    import hearth as hearth_ai

    trace = Path(os.environ["HEARTH_TRACE_DIR"]) / "default.jsonl"
    trace.unlink(missing_ok=True)
    server = _fake_server()
    try:
        client = hearth_ai.wrap(
            anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0), mode=mode
        )
        try:
            _send(client, scenario)
        except Exception as exc:  # a peer failing is a result, not a crash of the run
            return False, False, f"error: {type(exc).__name__}"
    finally:
        server.close()
    entries = hearth_ai.get_trace_recorder().read_session("default")
    breaks = [b for e in entries[1:] for b in e.get("breaks", [])]
    if not breaks:
        return scenario.cause == "no_change", _where(scenario) is None, "no_change"
    said = _HEARTH.get(breaks[0].get("cause", ""), breaks[0].get("cause", "?"))
    level = breaks[0].get("level", "")
    return said == scenario.cause, level == _where(scenario), said


def _cg_where(label: str) -> str:
    return re.sub(r"^message\[", "messages[", label)


def cacheguardian(scenario: Scenario) -> Verdict:
    import anthropic
    import cacheguardian as cg

    server = _fake_server()
    out = io.StringIO()
    try:
        # It prints its findings to standard error through rich.
        with contextlib.redirect_stderr(out), contextlib.redirect_stdout(out):
            client = cg.wrap(anthropic.Anthropic(api_key="k", base_url=server.url, max_retries=0))
            try:
                _send(client, scenario)
            except Exception as exc:
                return False, False, f"error: {type(exc).__name__}"
    finally:
        server.close()
    text = " ".join(out.getvalue().split())
    found = re.search(r"CACHE BREAK \S (.+?)(?: Suggestion:|$)", text)
    if not found:
        return scenario.cause == "no_change", _where(scenario) is None, "no_change"
    reason = found.group(1).strip()
    at = re.match(r"prefix changed at (\S+)", reason)
    said = (
        "model_changed"
        if reason.startswith("model changed")
        else "system_changed"
        if reason.startswith("system prompt changed")
        else "tool_schema_changed"
        if reason.startswith("tool change")
        else "prefix_changed"
    )
    where = at.group(1) if at else None
    if where is None:
        div = re.search(r"Diverged at: (\S+)", text)
        where = div.group(1) if div else ("system" if said == "system_changed" else None)
    return said == scenario.cause, where is not None and _cg_where(where) == _where(scenario), said


# --------------------------------------------------------------------- report


def _cell(v: Verdict) -> str:
    cause, div, said = v
    return f"{'✓' if cause else '✗'}{'✓' if div else '✗'} {said}"


def main() -> int:
    home = tempfile.mkdtemp(prefix="hearth-bench-")
    os.environ["HEARTH_HOME"] = home
    os.environ["HEARTH_TRACE_DIR"] = str(Path(home) / "traces")
    peers: dict[str, Callable[[Scenario], Verdict]] = {}
    for name, module, fn in (
        ("prefixguard", "prefixguard", prefixguard),
        ("hearth-ai observe", "hearth", lambda s: hearth(s, "observe")),
        ("hearth-ai safe", "hearth", lambda s: hearth(s, "safe")),
        ("cacheguardian", "cacheguardian", cacheguardian),
    ):
        try:
            __import__(module)
        except ImportError:
            print(f"({name} is not installed: skipped; see the module docstring)")
            continue
        peers[name] = fn
    cols = ["stableprefix", *peers]
    print("Each cell: right cause, right first divergence (✓/✗), then the cause named.")
    print("Anthropic Messages format; stableprefix's four-format result is summarised below.\n")
    print("| scenario | expected | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 2) + "|")
    totals = {c: [0, 0] for c in cols}
    for s in SCENARIOS:
        if "anthropic" not in s.formats:
            continue
        row = {"stableprefix": ours(s)}
        for name, fn in peers.items():
            with contextlib.redirect_stderr(io.StringIO()):
                row[name] = fn(s)
        for c in cols:
            totals[c][0] += row[c][0]
            totals[c][1] += row[c][1]
        print(f"| {s.name} | {s.cause} | " + " | ".join(_cell(row[c]) for c in cols) + " |")
    n = sum(1 for s in SCENARIOS if "anthropic" in s.formats)
    print(
        f"| **right / {n}** | | "
        + " | ".join(f"cause {t[0]}, divergence {t[1]}" for t in totals.values())
        + " |"
    )
    every = [(s, f, ours(s, f)) for s, f in cases()]
    wrong = [(s.name, f) for s, f, v in every if not (v[0] and v[1])]
    print(f"\nstableprefix, all four wire formats: {len(every) - len(wrong)}/{len(every)} right")
    for name, fmt in wrong:
        print(f"  wrong: {name} ({fmt})")
    return 1 if wrong or totals["stableprefix"] != [n, n] else 0


if __name__ == "__main__":
    raise SystemExit(main())
