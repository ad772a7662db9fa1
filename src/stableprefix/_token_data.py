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
    "letters": 0.1454,
    "upper": 0.1527,
    "digits": 0.3008,
    "punct": 0.0322,
    "spaces": 0.0701,
    "newlines": 0.8811,
    "letter_runs": 0.3167,
    "digit_runs": 1.0178,
    "punct_runs": 0.6968,
    "latin_ext": 0.6208,
    "greek": 0.3696,
    "cyrillic": 0.2896,
    "hebrew": 0.4096,
    "arabic": 0.3136,
    "indic": 0.3640,
    "symbols": 0.4474,
    "kana": 0.6104,
    "han": 0.6033,
    "hangul": 0.7818,
    "fullwidth": 1.9905,
    "emoji": 2.2850,
    "cjk_punct": 1.9478,
    "zwj": 1.1181,
}
_CL100K: dict[str, float] = {
    "letters": 0.2184,
    "upper": 0.2361,
    "digits": 0.3039,
    "punct": 0.0646,
    "spaces": 0.1305,
    "newlines": 0.9554,
    "digit_runs": 1.1773,
    "punct_runs": 0.4491,
    "script_word_runs": 0.9309,
    "latin_ext": 1.8374,
    "greek": 0.8610,
    "cyrillic": 0.3633,
    "hebrew": 0.9267,
    "arabic": 0.5945,
    "indic": 1.0147,
    "symbols": 0.2126,
    "kana": 0.9795,
    "han": 1.0676,
    "hangul": 1.3129,
    "fullwidth": 1.9417,
    "emoji": 3.1709,
    "cjk_punct": 0.7288,
    "zwj": 2.1897,
}
_SMOLLM2: dict[str, float] = {
    "letters": 0.1438,
    "upper": 0.2610,
    "digits": 0.8681,
    "punct": 0.2730,
    "newlines": 2.3668,
    "letter_runs": 0.5003,
    "digit_runs": 0.9968,
    "punct_runs": 0.2204,
    "latin_ext": 3.7846,
    "greek": 0.9627,
    "cyrillic": 0.9017,
    "hebrew": 1.3090,
    "arabic": 1.1707,
    "indic": 1.6298,
    "other_bmp": 1.0946,
    "symbols": 1.5947,
    "kana": 1.7906,
    "han": 1.6554,
    "hangul": 2.8185,
    "fullwidth": 2.6325,
    "emoji": 2.1478,
    "cjk_punct": 1.3958,
    "zwj": 5.0477,
}
_GEMMA: dict[str, float] = {
    "letters": 0.1595,
    "upper": 0.1400,
    "digits": 1.0529,
    "spaces": 0.1149,
    "newlines": 1.2036,
    "letter_runs": 0.1791,
    "digit_runs": 0.0319,
    "punct_runs": 1.0885,
    "script_word_runs": 0.1238,
    "latin_ext": 0.4179,
    "greek": 0.3745,
    "cyrillic": 0.2467,
    "hebrew": 0.3953,
    "arabic": 0.2928,
    "indic": 0.3889,
    "kana": 0.4950,
    "han": 0.4515,
    "hangul": 0.8615,
    "fullwidth": 3.5496,
    "emoji": 1.0476,
    "cjk_punct": 0.0833,
    "zwj": 2.5441,
}

# Claude = "openai" weights times these multipliers (see the module docstring).
# Letters, whitespace/punctuation and digits are solved so that the corpus's
# prose, code and numbers come out 16%, 30% and 21% above o200k; CJK and
# Hangul follow the Chinese ratio (1.43), Indic scripts the Hindi one; other
# scripts lie between, and the rest is treated like prose.
ANTHROPIC_SCALE: Mapping[str, float] = MappingProxyType(
    {
        "letters": 1.09,
        "upper": 1.09,
        "letter_runs": 1.09,
        "latin_ext": 1.09,
        "punct": 1.52,
        "punct_runs": 1.52,
        "spaces": 1.52,
        "newlines": 1.52,
        "digits": 1.11,
        "digit_runs": 1.11,
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
