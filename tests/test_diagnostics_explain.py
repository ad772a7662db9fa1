"""explain(): golden scenario table in four wire formats, documented numbers, properties."""

from __future__ import annotations

import copy
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diag_scenarios import BASE, SCENARIOS, cases, path_of, render, requests
from helpers import ALL_FORMAT_IDS, ALL_FORMATS, Fmt, config_for
from stableprefix import DiagnosticsError, PromptManager
from stableprefix.adapters import AnthropicAdapter, OpenAIAdapter, OpenAIResponsesAdapter
from stableprefix.diagnostics import explain

MODELS = {
    "anthropic": "claude-sonnet-4-5",
    "openai": "gpt-5",
    "openai_responses": "gpt-5",
    "gemini": "gemini-2.5-flash",
}


class Words:
    """One token per whitespace-separated word: offsets you can count by hand."""

    def count_text(self, text: str) -> int:
        return len(text.split())


@pytest.mark.parametrize(("scenario", "fmt"), cases(), ids=[f"{s.name}-{f}" for s, f in cases()])
def test_scenario_table(scenario, fmt):
    prev, cur = requests(scenario, fmt)
    e = explain(prev, cur, adapter=fmt, **scenario.options)
    assert e.cause == scenario.cause, e.text()
    want = path_of(scenario.where, fmt, scenario.current) if scenario.where else None
    assert (e.divergence.path if e.divergence else None) == want
    assert len({c.code for c in e.causes}) == len(e.causes)
    assert all(c.fix for c in e.causes)


def test_every_cause_is_in_the_table():
    causes = {s.cause for s in SCENARIOS}
    assert causes >= {
        "volatile_value",
        "system_changed",
        "tools_reordered",
        "tools_added",
        "tools_removed",
        "tool_schema_changed",
        "tool_key_order",
        "model_changed",
        "settings_changed",
        "history_rewritten",
        "history_trimmed",
        "compaction",
        "marker_moved",
        "marker_missing",
        "below_minimum",
        "ttl_expired",
        "beyond_lookback",
        "parallel_requests",
        "no_breakpoint",
    }
    four = [s for s in SCENARIOS if len(s.formats) == 4]
    assert len(four) >= 17


def _timestamped(minute: str) -> str:
    return f"Current time: 2026-12-01T10:{minute}:00Z\n" + "word " * 1200


def test_golden_anthropic_timestamp_numbers():
    """Sonnet 4.5: $3 input, $3.75 5-minute write, $0.30 read per MTok (Anthropic pricing)."""
    marker = {"type": "ephemeral"}

    def req(minute: str) -> dict:
        return {
            "model": "claude-sonnet-4-5",
            "system": [{"type": "text", "text": _timestamped(minute), "cache_control": marker}],
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "Hi", "cache_control": marker}],
                }
            ],
        }

    e = explain(req("00"), req("05"), adapter=AnthropicAdapter(token_counter=Words()))
    assert e.verdict == "bust"
    assert e.codes == ("volatile_value",)
    # "Current time: 2026-12-01T10:0" is three words.
    assert e.divergence.token_offset == 3
    assert e.divergence.path == "$.system[0]"
    assert (e.divergence.before, e.divergence.after) == (
        "2026-12-01T10:00:00Z",
        "2026-12-01T10:05:00Z",
    )
    assert (e.total_tokens, e.cached_before, e.reusable_tokens) == (1204, 1204, 0)
    assert e.reprefilled_tokens == 1204
    assert e.miss_cost_usd == pytest.approx(1204 * (3.75 - 0.30) / 1e6)
    assert "timestamp '2026-12-01T10:05:00Z'" in e.causes[0].detail


def test_golden_openai_timestamp_numbers():
    """gpt-5: $1.25 input, $0.125 cached per MTok; hits in 128-token steps (OpenAI docs)."""

    def req(minute: str) -> dict:
        return {
            "model": "gpt-5",
            "messages": [
                {"role": "system", "content": _timestamped(minute)},
                {"role": "user", "content": "Hi"},
            ],
        }

    e = explain(req("00"), req("05"), adapter=OpenAIAdapter(token_counter=Words()))
    assert e.divergence.path == "$.messages[0].content[0]"
    assert e.divergence.token_offset == 3
    # 1204 prompt tokens: the previous request cached 9 * 128 = 1152 of them.
    assert (e.cached_before, e.reusable_tokens, e.reprefilled_tokens) == (1152, 0, 1152)
    assert e.miss_cost_usd == pytest.approx(1152 * (1.25 - 0.125) / 1e6)


def test_append_reuses_the_whole_previous_prefix_in_128_steps():
    def req(n: int) -> dict:
        msgs = [{"role": "system", "content": "word " * 1300}]
        for i in range(n):
            msgs += [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]
        return {"model": "gpt-5", "messages": msgs}

    e = explain(req(1), req(2), adapter=OpenAIAdapter(token_counter=Words()))
    assert e.verdict == "no_change" and e.divergence is None
    assert e.reusable_tokens == e.cached_before == 1280  # 1302 tokens, rounded down to 128


@pytest.mark.parametrize("fmt", ["anthropic", "openai", "openai_responses", "gemini"])
def test_verdicts_by_kind(fmt):
    by_name = {s.name: s for s in SCENARIOS}
    expect = {
        "no_change_append": "no_change",
        "timestamp_in_system": "bust",
        "compaction": "planned",
        "ttl_expired": "expected_miss",
        "parallel_requests": "expected_miss",
        "below_minimum": "expected_miss",
    }
    for name, verdict in expect.items():
        s = by_name[name]
        prev, cur = requests(s, fmt)
        e = explain(prev, cur, adapter=fmt, **s.options)
        assert e.verdict == verdict, (name, e.text())
    s = by_name["compaction"]
    prev, cur = requests(s, fmt)
    e = explain(prev, cur, adapter=fmt)
    assert e.reprefilled_tokens > 0 and e.miss_cost_usd is not None and e.miss_cost_usd > 0


def test_known_compaction_overrides_the_guess():
    s = next(s for s in SCENARIOS if s.name == "history_trimmed_front")
    prev, cur = requests(s, "anthropic")
    assert explain(prev, cur, adapter="anthropic", compaction=True).cause == "compaction"
    assert explain(prev, cur, adapter="anthropic", compaction=False).cause == "history_trimmed"


def test_string_equals_one_text_block_and_markers_are_ignored():
    a = {
        "model": "claude-sonnet-4-5",
        "system": "Be brief. " * 400,
        "messages": [{"role": "user", "content": "Hi"}],
        "cache_control": {"type": "ephemeral"},
    }
    b = {
        "model": "claude-sonnet-4-5",
        "system": [
            {
                "type": "text",
                "text": "Be brief. " * 400,
                "cache_control": {"type": "ephemeral", "ttl": "1h"},
            }
        ],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "cache_control": {"type": "ephemeral"},
    }
    e = explain(a, b, adapter="anthropic")
    assert e.divergence is None and e.verdict == "no_change"


def test_model_argument_picks_rules_and_prices():
    prev, cur = requests(SCENARIOS[1], "anthropic")
    cheap = explain(prev, cur, adapter="anthropic", model="claude-haiku-4-5")
    dear = explain(prev, cur, adapter="anthropic", model="claude-sonnet-4-5")
    assert cheap.miss_cost_usd < dear.miss_cost_usd
    unknown = explain(prev, cur, adapter="anthropic", model="claude-unreleased-9")
    assert unknown.miss_cost_usd is None and unknown.cause == "volatile_value"


def test_bad_inputs_name_the_path_and_leave_inputs_alone():
    prev, cur = requests(SCENARIOS[1], "anthropic")
    before = copy.deepcopy((prev, cur))
    explain(prev, cur, adapter="anthropic")
    assert (prev, cur) == before
    with pytest.raises(TypeError, match="request must be a dict"):
        explain([], cur, adapter="anthropic")
    with pytest.raises(DiagnosticsError, match=r"\$\.messages\[1\] must be an object"):
        explain(prev, {**cur, "messages": [cur["messages"][0], "oops"]}, adapter="anthropic")
    with pytest.raises(DiagnosticsError, match=r"\$\.tools must be a list"):
        explain(prev, {**cur, "tools": {"a": 1}}, adapter="anthropic")
    with pytest.raises(DiagnosticsError, match="unknown provider 'claude'"):
        explain(prev, cur, adapter="claude")
    with pytest.raises(TypeError, match="adapter must be"):
        explain(prev, cur, adapter=3)
    with pytest.raises(ValueError, match="gap_seconds"):
        explain(prev, cur, adapter="anthropic", gap_seconds=-1)


@pytest.mark.parametrize("fmt", ["anthropic", "openai", "openai_responses", "gemini"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_request_explains_as_no_change_against_itself(fmt, data):
    s = data.draw(st.sampled_from(SCENARIOS))
    if fmt not in s.formats:
        return
    _prev, cur = requests(s, fmt)
    e = explain(cur, cur, adapter=fmt)
    assert e.divergence is None
    assert e.reusable_tokens == e.cached_before
    assert e.verdict in ("no_change", "expected_miss") or e.cause == "marker_missing"
    assert not e.reprefilled_tokens


def _library_requests(fmt: Fmt, turns: int, budget: int) -> list[dict]:
    """Requests a PromptManager builds over a conversation with a dynamic context."""
    conf = config_for(
        fmt,
        static_system_prompt="You answer questions about the policy. " * 200,
        tools=[fmt.tool()],
        history_max_tokens=budget,
    )
    pm = PromptManager(conf)
    out: list[dict] = []
    for turn in range(turns):
        pm.append(fmt.user(f"Question {turn}: " + "detail " * 30))
        out.append(pm.build_request(f"Clock: 10:{turn:02d}"))
        if turn % 3 == 1:
            for m in fmt.calls(f"c{turn}"):
                pm.append(m)
            for m in fmt.results(f"c{turn}"):
                pm.append(m)
            out.append(pm.build_request(f"Clock: 10:{turn:02d}"))
        pm.append(fmt.assistant(f"Answer {turn}: " + "words " * 30))
    assert pm.state["compactions"] > 0
    return out


@pytest.mark.parametrize("fmt", ALL_FORMATS, ids=ALL_FORMAT_IDS)
def test_the_librarys_own_requests_are_never_busts(fmt):
    reqs = _library_requests(fmt, turns=14, budget=1200)
    kinds = []
    for prev, cur in itertools.pairwise(reqs):
        e = explain(prev, cur, adapter=fmt.adapter, model=MODELS[fmt.name])
        assert e.verdict != "bust", e.text()
        kinds.append(e.cause)
    assert "compaction" in kinds  # the budget forces at least one compaction


def test_render_covers_all_formats():
    assert {type(render(BASE, f)) for f in ALL_FORMAT_IDS} == {dict}


def test_diagnostics_namespace_and_purity():
    import ast
    import pathlib

    import stableprefix.diagnostics as diag

    for name in diag.__all__:
        assert hasattr(diag, name)
    assert list(diag.__all__) == sorted(diag.__all__)
    root = pathlib.Path(diag.__file__).parent
    io = {"socket", "sqlite3", "time", "urllib", "http", "random", "subprocess", "asyncio"}
    for path in root.glob("_*.py"):
        if path.name in ("_cli.py", "__main__.py"):
            continue
        tree = ast.parse(path.read_text())
        names = {
            a.name.split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.Import)
            for a in n.names
        }
        names |= {
            n.module.split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module and n.level == 0
        }
        assert not names & io, f"{path.name} imports {names & io}"


@pytest.mark.parametrize(
    ("adapter", "model"),
    [
        (OpenAIAdapter(model="gpt-5.6-terra"), "gpt-5.6-terra"),
        (OpenAIResponsesAdapter(model="gpt-5.6-terra"), "gpt-5.6-terra"),
        (AnthropicAdapter(cache_strategy="automatic"), "claude-sonnet-4-6"),
    ],
    ids=["chat-gpt-5.6", "responses-gpt-5.6", "anthropic-automatic"],
)
def test_breakpoint_and_automatic_layouts_are_never_busts(adapter, model):
    fmt = Fmt(adapter)
    reqs = _library_requests(fmt, turns=14, budget=1200)
    for prev, cur in itertools.pairwise(reqs):
        e = explain(prev, cur, adapter=adapter, model=model)
        assert e.verdict != "bust", e.text()
        assert not {"no_breakpoint", "marker_moved", "marker_missing"} & set(e.codes)


def test_golden_responses_and_gemini_timestamp_numbers():
    """gpt-5 $1.25 / $0.125 per MTok (OpenAI pricing); Gemini 2.5 Flash $0.30 input,
    $0.03 cached, 2,048-token implicit minimum (Gemini API pricing and caching pages)."""
    from stableprefix.adapters import GeminiAdapter

    def responses(minute: str) -> dict:
        return {"model": "gpt-5", "instructions": _timestamped(minute), "input": "Hi"}

    e = explain(
        responses("00"), responses("05"), adapter=OpenAIResponsesAdapter(token_counter=Words())
    )
    assert (e.divergence.path, e.divergence.token_offset) == ("$.instructions", 3)
    assert (e.cached_before, e.reusable_tokens, e.reprefilled_tokens) == (1152, 0, 1152)
    assert e.miss_cost_usd == pytest.approx(1152 * (1.25 - 0.125) / 1e6)

    def gemini(minute: str) -> dict:
        text = f"Current time: 2026-12-01T10:{minute}:00Z\n" + "word " * 2500
        return {
            "model": "gemini-2.5-flash",
            "config": {"system_instruction": text},
            "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        }

    g = explain(gemini("00"), gemini("05"), adapter=GeminiAdapter(token_counter=Words()))
    assert (g.divergence.path, g.divergence.token_offset) == (
        "$.config.system_instruction.parts[0]",
        3,
    )
    assert (g.cached_before, g.reusable_tokens, g.reprefilled_tokens) == (2504, 0, 2504)
    assert g.miss_cost_usd == pytest.approx(2504 * (0.30 - 0.03) / 1e6)
    assert g.cause == "volatile_value"
