"""The diagnostics CLI on JSONL logs in every wire format."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import replace

import pytest

from diag_scenarios import BASE, render
from stableprefix.diagnostics._cli import main

FORMATS = ["anthropic", "openai", "openai_responses", "gemini"]


def _log(tmp_path, fmt: str, *, usage: bool = True) -> str:
    t0 = replace(BASE, messages=(("user", "Q0"),))
    t1 = replace(BASE, messages=(("user", "Q0"), ("assistant", "A0"), ("user", "Q1")))
    t2 = replace(t1, system="Today is 2026-12-02.\n" + BASE.system)
    t3 = replace(
        t2,
        messages=(*t1.messages, ("assistant", "A1"), ("user", "Q2")),
        tools=(BASE.tools[1], BASE.tools[0], BASE.tools[2]),
    )
    lines = []
    for i, conv in enumerate((t0, t1, t2, t3)):
        entry: dict = {
            "time": f"2026-12-01T10:0{i}:00Z",
            "session": "s1",
            "request": render(conv, fmt),
        }
        if usage and fmt == "anthropic":
            entry["response"] = {
                "usage": {
                    "input_tokens": 10,
                    "cache_read_input_tokens": 0,
                    "cache_creation_input_tokens": 0,
                    "output_tokens": 3,
                }
            }
        lines.append(json.dumps(entry))
    path = tmp_path / f"{fmt}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_table_and_summary_largest_loss_first(tmp_path, fmt):
    out = io.StringIO()
    assert main([_log(tmp_path, fmt)], out=out) == 0
    text = out.getvalue()
    rows = [line.split()[-1] for line in text.splitlines()[1:5]]
    assert rows == ["first_request", "no_change", "volatile_value", "tools_reordered"]
    summary = text.split("lost to re-prefilled cached tokens\n")[1].splitlines()
    causes = [line.split(" x ")[1].split()[0] for line in summary if " x " in line]
    costs = [float(line.split()[0].lstrip("$")) for line in summary if " x " in line]
    assert set(causes) == {"volatile_value", "tools_reordered"}
    assert costs == sorted(costs, reverse=True) and costs[0] > 0
    assert "fix:" in text


def test_observed_usage_is_shown(tmp_path):
    out = io.StringIO()
    main([_log(tmp_path, "anthropic")], out=out)
    second = out.getvalue().splitlines()[2].split()
    assert second[4] == "0"  # observed read, from the logged response


def test_bare_requests_and_forced_format(tmp_path):
    path = tmp_path / "bare.jsonl"
    reqs = [render(replace(BASE, messages=(("user", f"Q{i}"),)), "openai") for i in range(2)]
    path.write_text("\n\n".join(json.dumps(r) for r in reqs))
    out = io.StringIO()
    assert main([str(path), "--format", "openai", "--model", "gpt-4.1"], out=out) == 0
    assert "tail_changed" in out.getvalue()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"bad.jsonl:1: not JSON"),
        ("[1, 2]", r"bad.jsonl:1: each line must be a JSON object"),
        ('{"request": {"messages": "x"}, "time": true}', r"bad.jsonl:1: a time must be"),
        ('{"request": {"system": "s", "messages": [1]}}', r"\$\.messages\[0\] must be an object"),
        ('{"request": {"messages": []}, "usage": {"prompt_tokens": "x"}}', "unreadable usage"),
    ],
)
def test_unreadable_logs_exit_2_naming_the_line(tmp_path, capsys, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content + "\n")
    assert main([str(path)], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    import re

    assert re.search(message, err), err


def test_missing_file(capsys):
    assert main(["/nonexistent/log.jsonl"]) == 2
    assert "cannot read /nonexistent/log.jsonl" in capsys.readouterr().err


def test_module_entry_point(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "stableprefix.diagnostics", _log(tmp_path, "gemini")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "volatile_value" in done.stdout


def test_readme_diagnostics_section_prints_what_it_shows():
    import contextlib
    import pathlib
    import re

    text = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    found = re.search(
        r"```python\n(import json\n[^`]*?diagnostics import explain[^`]*?)```\n\n```text\n(.*?)```",
        text,
        flags=re.S,
    )
    assert found, "README lost its diagnostics example"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(found.group(1), "README.md:diagnostics", "exec"), {"__name__": "readme"})
    assert out.getvalue() == found.group(2)


def _with_diagnoses(path: str, answers: list[dict]) -> str:
    with open(path) as fh:
        lines = fh.read().splitlines()
    out = []
    for line, extra in zip(lines, answers, strict=True):
        entry = json.loads(line)
        entry["response"] = {**entry.get("response", {}), **extra}
        out.append(json.dumps(entry))
    with open(path, "w") as fh:
        fh.write("\n".join(out) + "\n")
    return path


def _miss(reason: str, tokens: int) -> dict:
    return {"diagnostics": {"cache_miss_reason": {"type": reason,
                                                  "cache_missed_input_tokens": tokens}}}


def test_the_providers_diagnostics_are_shown_and_disagreements_flagged(tmp_path):
    path = _with_diagnoses(
        _log(tmp_path, "anthropic"),
        [
            {"diagnostics": {"cache_miss_reason": None}},
            _miss("messages_changed", 12),  # we see an intact prefix
            _miss("system_changed", 900),  # the date in the system prompt
            _miss("tools_changed", 950),  # the tools were reordered
        ],
    )
    out = io.StringIO()
    assert main([path], out=out) == 0
    rows = out.getvalue().splitlines()[1:5]
    assert rows[0].endswith("first_request  [anthropic: pending; pending]")
    assert rows[1].endswith("no_change  [anthropic: messages_changed 12; DISAGREE]")
    assert rows[2].endswith("volatile_value  [anthropic: system_changed 900; agree]")
    assert rows[3].endswith("tools_reordered  [anthropic: tools_changed 950; agree]")
    text = out.getvalue()
    assert "provider diagnostics: 2 agree, 1 disagree, 1 pending" in text
    assert "disagrees with our explanation on line(s) 2\n" in text


def test_openai_responses_diagnostics_in_a_log(tmp_path):
    usage = {"usage": {"input_tokens": 900, "input_tokens_details": {"cached_tokens": 0},
                       "output_tokens": 3}}
    path = _with_diagnoses(
        _log(tmp_path, "openai_responses"),
        [
            usage,
            {**usage, "prompt_cache_diagnostics": {"type": "cache_hit"}},
            {**usage, "prompt_cache_diagnostics": {"type": "cache_miss",
                                                   "reason": "input_changed",
                                                   "cache_missed_tokens": 800}},
            {**usage, "prompt_cache_diagnostics": {"type": "comparison_response_not_found"}},
        ],
    )
    out = io.StringIO()
    assert main([path], out=out) == 0
    rows = out.getvalue().splitlines()[1:5]
    assert rows[0].endswith("first_request")  # no diagnostics in that response
    assert rows[1].endswith("no_change  [openai: cache_hit; agree]")
    assert rows[2].endswith("[openai: input_changed 800; agree]")
    assert rows[3].endswith("[openai: comparison_response_not_found; not_found]")
    assert "provider diagnostics: 2 agree, 1 not_found" in out.getvalue()


def test_malformed_diagnostics_name_the_line(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"request": {"messages": []}, "format": "anthropic",
                                "response": {"usage": {"input_tokens": 5, "output_tokens": 1},
                                             "diagnostics": "oops"}}) + "\n")
    assert main([str(path)], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl:1: unreadable cache diagnostics" in err and "$.diagnostics" in err
