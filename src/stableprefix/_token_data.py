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
    "letters": 0.1502,
    "upper": 0.1744,
    "digits": 0.2873,
    "punct": 0.0745,
    "spaces": 0.0784,
    "newlines": 0.9370,
    "letter_runs": 0.2833,
    "digit_runs": 1.1062,
    "punct_runs": 0.5914,
    "latin_ext": 0.6963,
    "greek": 0.3685,
    "cyrillic": 0.2830,
    "hebrew": 0.4094,
    "arabic": 0.3118,
    "indic": 0.3628,
    "symbols": 0.4597,
    "kana": 0.6174,
    "han": 0.6090,
    "hangul": 0.7814,
    "fullwidth": 1.9770,
    "emoji": 2.2782,
    "cjk_punct": 1.8118,
    "zwj": 0.7480,
}
_CL100K: dict[str, float] = {
    "letters": 0.2058,
    "upper": 0.2586,
    "digits": 0.3025,
    "spaces": 0.1412,
    "newlines": 0.5255,
    "digit_runs": 1.0389,
    "punct_runs": 0.7053,
    "script_word_runs": 0.7994,
    "latin_ext": 2.0626,
    "greek": 0.8836,
    "cyrillic": 0.3794,
    "hebrew": 0.9554,
    "arabic": 0.6213,
    "indic": 1.0320,
    "symbols": 0.8013,
    "kana": 0.9712,
    "han": 1.0606,
    "hangul": 1.3072,
    "fullwidth": 1.9950,
    "emoji": 3.3306,
    "cjk_punct": 1.0418,
    "zwj": 0.7346,
}
_SMOLLM2: dict[str, float] = {
    "letters": 0.1518,
    "upper": 0.2698,
    "digits": 0.8949,
    "punct": 0.1334,
    "newlines": 1.6735,
    "letter_runs": 0.3603,
    "digit_runs": 0.6273,
    "punct_runs": 0.7582,
    "latin_ext": 5.6720,
    "greek": 0.9656,
    "cyrillic": 0.8813,
    "hebrew": 1.3049,
    "arabic": 1.1709,
    "indic": 1.6325,
    "symbols": 2.2454,
    "kana": 1.7680,
    "han": 1.6333,
    "hangul": 2.8096,
    "fullwidth": 2.7583,
    "emoji": 2.6068,
    "cjk_punct": 2.0529,
    "zwj": 1.4038,
}
_GEMMA: dict[str, float] = {
    "letters": 0.1400,
    "upper": 0.1737,
    "digits": 0.9966,
    "spaces": 0.1264,
    "newlines": 1.0048,
    "letter_runs": 0.2457,
    "digit_runs": 0.1534,
    "punct_runs": 1.1199,
    "script_word_runs": 0.1170,
    "latin_ext": 0.2924,
    "greek": 0.3759,
    "cyrillic": 0.2453,
    "hebrew": 0.3966,
    "arabic": 0.2941,
    "indic": 0.3900,
    "kana": 0.4991,
    "han": 0.4527,
    "hangul": 0.8596,
    "fullwidth": 3.5767,
    "emoji": 1.1126,
    "cjk_punct": 0.1164,
    "zwj": 2.1830,
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
