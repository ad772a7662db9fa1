"""Weights of the heuristic token estimate, one set per tokenizer family.

An estimate is ``sum(weight[name] * count[name])`` over the counts that
``_tokens.text_features`` takes (names in ``FEATURES``), rounded. Weights
are tokens per counted thing: per letter, per run of letters, per Han
character, and so on. A missing name weighs 0.

How the weights were obtained (rerun after changing the corpus or the
features, and paste the printed tables here)::

    uv run python benchmarks/token_accuracy.py --fit

- "openai": fitted to tiktoken o200k_base (GPT-4o, GPT-4.1, GPT-5, o-series).
- "cl100k": fitted to tiktoken cl100k_base (GPT-4, GPT-3.5).
- "llama": fitted to SmolLM2's tokenizer (read through llama.cpp), a
  49k-entry GPT-2-style BPE like most small models served locally. It
  over-counts for Llama 3 (128k vocabulary), whose counts are closer to
  "cl100k".
- "gemini": fitted to the 256k-entry SentencePiece vocabulary of Gemma,
  which Google ships as the open subset of Gemini's tokenizer.
- "anthropic": Claude's tokenizer is not public and cannot be run offline.
  Its weights are the "openai" ones scaled by ``ANTHROPIC_SCALE``, from
  published comparisons on identical inputs: Claude 3.5 Sonnet against
  GPT-4o, 16% more tokens for English prose, 21% more for maths, 30% more
  for Python code; and a recent Claude against OpenAI on one text in nine
  languages, about 1.43 times the tokens for Chinese and roughly twice for
  Hindi. Scripts nobody published a figure for get a value in between.
  Use an exact counter (Anthropic's count-tokens endpoint through
  ``stableprefix.tokens.CallableCounter``) where it matters.

Fitting minimises the squared *relative* error per corpus sample with all
weights kept >= 0, which keeps every estimate monotone: appending text
never lowers it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["ALIASES", "ANTHROPIC_SCALE", "FAMILY_WEIGHTS", "FEATURES"]

FEATURES: tuple[str, ...] = (
    "letters",  # ASCII and accented Latin letters
    "upper",  # ASCII capitals (also counted as letters)
    "digits",
    "punct",  # ASCII punctuation and symbols
    "spaces",  # space, tab, carriage return
    "newlines",
    "letter_runs",  # words and identifiers: maximal runs of letters
    "digit_runs",
    "punct_runs",
    "script_word_runs",  # words of Greek, Cyrillic, Hebrew, Arabic, Indic, ... letters
    "latin_ext",  # accented Latin letters (extra cost on top of "letters")
    "greek",
    "cyrillic",
    "hebrew",  # and Armenian
    "arabic",  # and Persian, Urdu, Syriac
    "indic",  # Devanagari, Bengali, Tamil, ..., Thai, Lao
    "other_bmp",  # U+1000-1FFF: Georgian, Khmer, Vietnamese letters, ...
    "symbols",  # U+2000-2FFF: typographic punctuation, arrows, dingbats
    "kana",  # hiragana and katakana
    "han",  # CJK ideographs
    "hangul",
    "fullwidth",  # fullwidth forms (，：！), variation selectors, private use
    "emoji",  # any character beyond U+FFFF
    "latin1_symbols",  # U+0080-00BF: no-break space, degree sign, guillemets
    "combining",  # spacing modifiers and combining marks
    "cjk_punct",  # U+3000-303F: 、。「」
    "zwj",  # zero-width joiners inside emoji sequences
)

_O200K: dict[str, float] = {
    "letters": 0.1610,
    "upper": 0.1702,
    "digits": 0.2999,
    "punct": 0.0402,
    "spaces": 0.0876,
    "newlines": 0.8588,
    "letter_runs": 0.2268,
    "digit_runs": 1.0414,
    "punct_runs": 0.6743,
    "latin_ext": 0.5840,
    "greek": 0.3674,
    "cyrillic": 0.2865,
    "hebrew": 0.4066,
    "arabic": 0.3079,
    "indic": 0.3617,
    "other_bmp": 0.2000,
    "symbols": 0.7500,
    "kana": 0.6017,
    "han": 0.6077,
    "hangul": 0.7771,
    "fullwidth": 1.8862,
    "emoji": 2.2494,
    "latin1_symbols": 0.2000,
    "combining": 0.2000,
    "cjk_punct": 2.0470,
    "zwj": 1.3929,
}
_CL100K: dict[str, float] = {
    "letters": 0.2123,
    "upper": 0.2450,
    "digits": 0.3132,
    "punct": 0.0561,
    "spaces": 0.1418,
    "newlines": 0.8369,
    "digit_runs": 1.1184,
    "punct_runs": 0.5057,
    "script_word_runs": 0.7955,
    "latin_ext": 1.8790,
    "greek": 0.8822,
    "cyrillic": 0.3840,
    "hebrew": 0.9566,
    "arabic": 0.6186,
    "indic": 1.0303,
    "other_bmp": 0.2000,
    "symbols": 0.9188,
    "kana": 0.9581,
    "han": 1.0797,
    "hangul": 1.3088,
    "fullwidth": 1.7081,
    "emoji": 3.1288,
    "latin1_symbols": 0.2000,
    "combining": 0.2000,
    "cjk_punct": 0.9744,
    "zwj": 2.3086,
}
_SMOLLM2: dict[str, float] = {
    "letters": 0.1333,
    "upper": 0.2418,
    "digits": 0.8879,
    "punct": 0.2160,
    "newlines": 2.1196,
    "letter_runs": 0.5100,
    "digit_runs": 0.8148,
    "punct_runs": 0.4420,
    "latin_ext": 3.8702,
    "greek": 0.9634,
    "cyrillic": 0.8984,
    "hebrew": 1.3066,
    "arabic": 1.1713,
    "indic": 1.6306,
    "other_bmp": 1.0378,
    "symbols": 1.7173,
    "kana": 1.7689,
    "han": 1.6399,
    "hangul": 2.8140,
    "fullwidth": 2.6925,
    "emoji": 2.3395,
    "latin1_symbols": 0.2000,
    "combining": 0.2000,
    "cjk_punct": 1.8151,
    "zwj": 4.3261,
}
_GEMMA: dict[str, float] = {
    "letters": 0.1674,
    "upper": 0.1721,
    "digits": 1.0525,
    "spaces": 0.1439,
    "newlines": 1.0540,
    "letter_runs": 0.1123,
    "digit_runs": 0.0395,
    "punct_runs": 1.0981,
    "script_word_runs": 0.0658,
    "latin_ext": 0.3952,
    "greek": 0.3813,
    "cyrillic": 0.2513,
    "hebrew": 0.4049,
    "arabic": 0.2999,
    "indic": 0.3941,
    "other_bmp": 0.2000,
    "symbols": 0.2000,
    "kana": 0.4909,
    "han": 0.4520,
    "hangul": 0.8542,
    "fullwidth": 3.5167,
    "emoji": 1.0633,
    "latin1_symbols": 0.8179,
    "combining": 0.2000,
    "cjk_punct": 0.2000,
    "zwj": 2.5517,
}

# Claude = "openai" weights times these multipliers (see the module docstring).
# Letters, whitespace/punctuation and digits are solved (printed by --fit) so
# that the corpus's prose, code and numbers come out 16%, 30% and 21% above
# the "openai" estimate; CJK and
# Hangul follow the Chinese ratio (1.43), Indic scripts the Hindi one; other
# scripts lie between, and the rest is treated like prose.
ANTHROPIC_SCALE: Mapping[str, float] = MappingProxyType(
    {
        "letters": 1.08,
        "upper": 1.08,
        "letter_runs": 1.08,
        "latin_ext": 1.08,
        "punct": 1.52,
        "punct_runs": 1.52,
        "spaces": 1.52,
        "newlines": 1.52,
        "digits": 1.10,
        "digit_runs": 1.10,
        "han": 1.43,
        "kana": 1.43,
        "cjk_punct": 1.43,
        "fullwidth": 1.43,
        "hangul": 1.43,
        "indic": 2.2,
        "greek": 1.6,
        "cyrillic": 1.6,
        "hebrew": 1.6,
        "arabic": 1.6,
        "other_bmp": 1.6,
        "script_word_runs": 1.6,
    }
)
_DEFAULT_SCALE = 1.16  # emoji, symbols, ...: as for prose


def _anthropic() -> dict[str, float]:
    return {
        name: round(weight * ANTHROPIC_SCALE.get(name, _DEFAULT_SCALE), 4)
        for name, weight in _O200K.items()
    }


FAMILY_WEIGHTS: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        "openai": MappingProxyType(_O200K),
        "cl100k": MappingProxyType(_CL100K),
        "anthropic": MappingProxyType(_anthropic()),
        "gemini": MappingProxyType(_GEMMA),
        "llama": MappingProxyType(_SMOLLM2),
    }
)

ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "o200k": "openai",
        "o200k_base": "openai",
        "gpt-4o": "openai",
        "cl100k_base": "cl100k",
        "gpt-4": "cl100k",
        "claude": "anthropic",
        "gemma": "gemini",
        "google": "gemini",
        "smollm2": "llama",
        "llama.cpp": "llama",
        "generic": "llama",
    }
)
