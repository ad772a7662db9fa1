"""The benchmark report and command line, simulated and live (real SDKs, fake server)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fakeserver import FakeServer, FakeUsage
from stableprefix.benchmark import (
    build_workload,
    builtin_factories,
    main,
    render,
    rows,
    simulate_runs,
)

KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------ report


@pytest.fixture(scope="module")
def runs() -> list[Any]:
    workloads = [build_workload("agent-loop", turns=1), build_workload("clock-chat", turns=4)]
    return simulate_runs(
        workloads,
        builtin_factories(["stableprefix", "naive", "sliding-window"]),
        [("anthropic-sim", "claude-sonnet-4-5"), ("openai-sim", "gpt-5-mini"), ("radix", None)],
    )


def test_usage_parts_add_up_per_run_and_per_request(runs: list[Any]) -> None:
    assert len(runs) == 2 * 3 * 3
    for r in runs:
        u = r.usage
        assert u.cache_read_tokens + u.cache_write_tokens + u.uncached_input_tokens == (
            u.input_tokens
        )
        assert sum(t.usage.input_tokens for t in r.turns) == u.input_tokens
        assert sum(t.usage.cache_read_tokens for t in r.turns) == u.cache_read_tokens
        assert sum(t.ideal_read for t in r.turns) == r.ideal_read
        assert r.requests == len(r.turns)
        if r.cost is not None:
            assert sum(t.cost for t in r.turns) == pytest.approx(r.cost)


def test_radix_rows_are_their_own_ideal(runs: list[Any]) -> None:
    for r in runs:
        if r.provider == "radix":
            assert r.usage.cache_read_tokens == r.ideal_read


def test_rows_rank_against_the_cheapest(runs: list[Any]) -> None:
    data = rows(runs)
    groups: dict[tuple[str, str], list[float]] = {}
    for row in data:
        groups.setdefault((row["workload"], row["provider"]), []).append(row["vs_best"])
        if row["cost_usd"] is not None:
            saved = 1 - row["cost_usd"] / row["cost_uncached_usd"]
            assert row["savings"] == pytest.approx(saved, abs=1e-3)
    assert all(min(v) == 1.0 for v in groups.values())


def test_stableprefix_beats_naive_on_the_agent_loop_under_anthropic(runs: list[Any]) -> None:
    cost = {
        r.strategy: r.cost
        for r in runs
        if r.workload == "agent-loop" and r.provider == "anthropic-sim"
    }
    assert cost["stableprefix"] < cost["naive"]


def test_table_and_markdown_have_one_line_per_run(runs: list[Any]) -> None:
    table = render(runs, "table", notes=["a note"]).splitlines()
    assert (
        table[0].startswith("models: anthropic-sim = claude-sonnet-4-5") and table[-1] == "a note"
    )
    strategies = [line for line in table if " sliding-window " in line]
    md = render(runs, "markdown").splitlines()
    # two tables (summary, then one row per run), each with a header and a rule
    summary = 2 * 3  # workloads x cache models
    assert len([line for line in md if line.startswith("| ")]) == summary + len(runs) + 4
    detail = render(runs[:1], "table", detail=True)
    assert detail.count("\n") > len(runs[0].turns)
    with pytest.raises(ValueError, match="unknown format"):
        render(runs, "html")
    assert strategies  # every strategy is listed by name


def test_strategies_for_one_cache_model_sit_together(runs: list[Any]) -> None:
    md = render(runs, "markdown").splitlines()
    rule = md.index("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    groups: list[tuple[str, str]] = []
    for line in md[rule + 1 :]:  # a blank cell repeats the cell above
        cells = [c.strip() for c in line.split("|")[1:-1]]
        groups.append((cells[0] or groups[-1][0], cells[1] or groups[-1][1]))
    assert len(groups) == len(runs)
    # each (workload, cache model) is one contiguous block holding all three strategies
    starts = [i for i in range(len(groups)) if i == 0 or groups[i] != groups[i - 1]]
    assert len(starts) == len(set(groups)) == 2 * 3
    assert all(groups[i : i + 3] == [groups[i]] * 3 for i in starts)


def test_summary_names_the_cheapest_strategy_and_the_best_peer(runs: list[Any]) -> None:
    doc = json.loads(render(runs, "json"))
    assert len(doc["summary"]) == 2 * 3
    for row in doc["summary"]:
        group = [r for r in runs if (r.workload, r.provider) == (row["workload"], row["provider"])]
        bills = {r.strategy: r.bill for r in group}
        assert bills[row["best"]] == min(bills.values())
        assert row["peer"] in ("naive", "sliding-window")
        assert bills[row["peer"]] == min(bills["naive"], bills["sliding-window"])
        assert row["peer_vs_ours"] == pytest.approx(
            bills[row["peer"]] / bills["stableprefix"], abs=1e-4
        )
        assert row["best_vs_naive"] == pytest.approx(
            1 - bills[row["best"]] / bills["naive"], abs=1e-4
        )


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_default_report_fits_100_columns(capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    # every workload, strategy and cache model: the widest names and numbers there are
    code, out, _err = run_cli(capsys, "--compare", "--turns", "1", "--format", fmt)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) > 6 * 7 * 6  # one line per run at least
    too_wide = [line for line in lines if len(line) > 100]
    assert not too_wide, too_wide[:3]
    one = ["--workload", "clock-chat", "--turns", "1", "--format", fmt]
    code, out, _err = run_cli(capsys, "--compare", *one, "--detail")
    assert any(len(line) > 100 for line in out.splitlines())  # the wide detail is extra
    # one strategy: nothing to summarise, and still within 100 columns
    code, out, _err = run_cli(capsys, *one)
    assert code == 0 and "Summary" not in out and "stableprefix" in out
    assert max(len(line) for line in out.splitlines()) <= 100


# --------------------------------------------------------------------- CLI


def test_json_report_parses(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys,
        "--provider",
        "simulated",
        "--compare",
        "--turns",
        "2",
        "--workload",
        "clock-chat",
        "--format",
        "json",
        "--detail",
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["seed"] == 0
    assert len(doc["runs"]) == 6 * 6
    assert {r["strategy"] for r in doc["runs"]} >= {"stableprefix", "naive", "sliding-window"}
    assert not [r for r in doc["runs"] if "error" in r]
    assert all(len(r["turns"]) == 2 for r in doc["runs"])


def test_output_file(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "report.md"
    code, out, _ = run_cli(
        capsys,
        "--provider",
        "radix",
        "--workload",
        "rag-chat",
        "--turns",
        "2",
        "--format",
        "markdown",
        "--output",
        str(path),
    )
    assert code == 0 and out == ""
    assert "| rag-chat | radix | stableprefix |" in path.read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--provider", "bedrock"], "invalid choice: 'bedrock'"),
        (["--workload", "chat"], "invalid choice: 'chat'"),
        (["--turns", "0"], "--turns must be between 1 and"),
        (["--turns", "ten"], "--turns must be a whole number"),
        (["--seed", "-1"], "--seed must be >= 0"),
        (["--format", "html"], "invalid choice: 'html'"),
        (["--model", "gpt-0"], "not in the price table"),
        (["--provider", "openai-sim", "--model", "claude-sonnet-4-5"], "is a anthropic model"),
        (["--provider", "vllm", "--model", "gpt-5"], "does not apply to --provider vllm"),
        (["--base-url", "http://127.0.0.1:1"], "--base-url applies only to live providers"),
        (["--provider", "openai-compatible"], "needs --base-url"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_argument_errors_exit_2_with_a_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err


@pytest.mark.parametrize(
    ("provider", "var"),
    [
        ("anthropic", "ANTHROPIC_API_KEY"),
        ("openai", "OPENAI_API_KEY"),
        ("gemini", "GEMINI_API_KEY"),
    ],
)
def test_live_provider_without_key_names_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, provider: str, var: str
) -> None:
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    code, out, err = run_cli(capsys, "--provider", provider)
    assert code == 2 and out == ""
    assert var in err and "API key" in err


# ------------------------------------------------------------ live, offline


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Any:
    for key in KEYS:
        monkeypatch.setenv(key, "test-key")
    with FakeServer() as srv:
        srv.usage = FakeUsage(prompt=5000, cached=4096, output=7)
        yield srv


LIVE = [
    ("anthropic", "", "anthropic", "agent-loop"),
    ("openai", "/v1", "chat", "clock-chat"),
    ("openai-compatible", "/v1", "chat", "clock-chat"),
    ("gemini", "", "gemini", "clock-chat"),
]


@pytest.mark.parametrize(("provider", "suffix", "kind", "workload"), LIVE)
def test_live_run_through_the_real_sdk(
    capsys: pytest.CaptureFixture[str],
    server: FakeServer,
    provider: str,
    suffix: str,
    kind: str,
    workload: str,
) -> None:
    many = ["--turns", "1"] if workload == "agent-loop" else ["--turns", "1", "--compare"]
    code, out, err = run_cli(
        capsys,
        "--provider",
        provider,
        "--base-url",
        server.url + suffix,
        "--workload",
        workload,
        *many,
        "--format",
        "json",
        "--max-output-tokens",
        "8",
    )
    assert code == 0, err
    doc = json.loads(out)
    bodies = server.bodies(kind)
    assert len(bodies) == sum(r.get("requests", 0) for r in doc["runs"]) >= 6
    assert not [r for r in doc["runs"] if "error" in r]
    for r in doc["runs"]:
        assert r["cache_read_tokens"] == 4096 * r["requests"]
        assert r["input_tokens"] == 5000 * r["requests"]
        assert r["output_tokens"] == 7 * r["requests"]
    assert "request" in err  # the progress line
    if kind == "anthropic":
        assert bodies[0]["max_tokens"] == 8
        assert any("cache_control" in json.dumps(b) for b in bodies)
    elif provider == "openai":
        # no key by default: conversations share the cached tools and system prompt
        assert bodies[0]["max_completion_tokens"] == 8 and "prompt_cache_key" not in bodies[0]
    elif provider == "openai-compatible":
        assert bodies[0]["max_tokens"] == 8
        assert all(r["cost_usd"] is None for r in doc["runs"])  # "local" has no prices
    else:
        assert bodies[0]["generationConfig"]["maxOutputTokens"] == 8


def test_live_runs_do_not_share_a_prefix(
    capsys: pytest.CaptureFixture[str], server: FakeServer
) -> None:
    code, _out, err = run_cli(
        capsys,
        "--provider",
        "anthropic",
        "--base-url",
        server.url,
        "--workload",
        "clock-chat",
        "--turns",
        "1",
        "--compare",
    )
    assert code == 0, err
    systems = {b["system"][0]["text"][:20] for b in server.bodies("anthropic")}
    assert len(systems) == 6  # one run id per strategy
    assert len(server.bodies("anthropic")) == 6


def test_live_failure_exits_1_with_the_providers_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    with FakeServer() as srv:
        url = srv.url
    code, _out, err = run_cli(
        capsys,
        "--provider",
        "anthropic",
        "--base-url",
        url,
        "--workload",
        "clock-chat",
        "--turns",
        "1",
    )
    assert code == 1
    assert f"anthropic request 1/1 (clock-chat, stableprefix) to {url} failed" in err
    assert f"could not connect to {url}" in err


def test_a_refused_connection_names_the_url(
    capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    with FakeServer() as srv:  # a loopback port that nothing listens on any more
        url = srv.url + "/v1"
    out = tmp_path / "report.json"
    code, _out, err = run_cli(
        capsys, "--provider", "openai-compatible", "--base-url", url, "--workload",
        "clock-chat", "--turns", "1", "--output", str(out),
    )  # fmt: skip
    assert code == 1
    assert f"could not connect to {url}" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("missing/report.md", "does not exist: create it first"),
        (".", "it is a directory"),
        ("locked/report.md", "is not writable"),
    ],
)
def test_output_is_checked_before_anything_runs(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    where: str,
    message: str,
) -> None:
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if where.startswith("locked") and os.access(locked, os.W_OK):  # root writes anywhere
        locked.chmod(0o700)
        pytest.skip("running as a user that ignores directory permissions")
    played: list[Any] = []
    import stableprefix.benchmark._cli as cli

    monkeypatch.setattr(cli, "_simulate", lambda *a: played.append(a) or [])
    try:
        code, out, err = run_cli(capsys, "--workload", "clock-chat", "--output",
                                 str(tmp_path / where))  # fmt: skip
    finally:
        locked.chmod(0o700)
    assert code == 2 and out == "" and played == []
    assert f"cannot write --output {tmp_path / where}: " in err and message in err


def test_a_strategy_that_cannot_play_is_reported_not_fatal() -> None:
    class Broken:
        def __init__(self, workload: Any, wire: Any) -> None:
            pass

        def request(self, step: Any) -> Any:
            raise RuntimeError("cannot build")

        def reply(self, step: Any) -> None:
            pass

    w = build_workload("clock-chat", turns=1)
    runs = simulate_runs([w], {**builtin_factories(["naive"]), "broken": Broken}, [("radix", None)])
    assert runs[1].error == "RuntimeError: cannot build" and runs[0].error is None
    assert "radix / broken failed: RuntimeError: cannot build" in render(runs, "table")
    assert json.loads(render(runs, "json"))["runs"][1]["error"].startswith("RuntimeError")
    assert rows(runs)[0]["vs_best"] == 1.0


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_truth_check_report_fits_100_columns(fmt: str) -> None:
    # the report --truth-check prints (its engine run is in the engine tests)
    from stableprefix.benchmark._report import fit_width
    from stableprefix.benchmark._truth import LayoutCheck, render_checks

    checks = [
        LayoutCheck(name, (600, 640, 700), (0, 590, 630), (0, 591, 630), (600, 640, 700))
        for name in ("naive", "tail", "append", "default")
    ]
    meta = {"stableprefix": "0.1.0", "engine": "llama.cpp (xllamacpp), SmolLM2-135M.gguf",
            "cache model": "llamacpp", "turns": 3}  # fmt: skip
    raw = render_checks(checks, fmt, meta)
    assert max(len(line) for line in raw.splitlines()) > 100  # what needed fitting
    text = fit_width(raw)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert text.split() == raw.split()  # only line breaks changed
