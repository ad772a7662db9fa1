"""Heuristic token estimates for text and JSON, without a tokenizer.

Approach: BPE tokenizers cut English words into about one token per word
and split punctuation, digits and non-Latin scripts much finer. We count
characters by class (Latin letters, digits, spaces, punctuation, CJK,
other scripts, emoji) and weight each class by its observed tokens per
character. The weights live in ``_token_data`` so they can be recalibrated
against real tokenizers (``benchmarks/token_accuracy.py``).
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["estimate_json_tokens", "estimate_text_tokens"]

# Tokens per character, by character class (calibrated on o200k/cl100k).
_WEIGHTS = {
    "latin": 0.235,
    "digit": 0.34,
    "space": 0.02,
    "punct": 0.6,
    "cjk": 0.95,
    "other": 0.45,
    "emoji": 1.5,
}


def _class_of(ch: str) -> str:
    o = ord(ch)
    if o < 128:
        if ch.isalpha():
            return "latin"
        if ch.isdigit():
            return "digit"
        if ch.isspace():
            return "space"
        return "punct"
    if 0x3040 <= o <= 0x30FF or 0x4E00 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7AF:
        return "cjk"
    if o >= 0x1F000:
        return "emoji"
    if ch.isalpha():
        return "latin" if o < 0x250 else "other"
    return "other"


def estimate_text_tokens(text: str) -> int:
    """Estimate how many tokens a BPE tokenizer makes of ``text``.

    >>> estimate_text_tokens("")
    0
    >>> 8 <= estimate_text_tokens("The quick brown fox jumps over the lazy dog.") <= 13
    True
    """
    if not text:
        return 0
    if text.isascii():
        return _ascii_tokens(text)
    total = 0.0
    for ch in text:
        total += _WEIGHTS[_class_of(ch)]
    return max(1, math.ceil(total))


def _ascii_tokens(text: str) -> int:
    letters = digits = spaces = 0
    for ch in text:
        if ch.isalpha():
            letters += 1
        elif ch.isdigit():
            digits += 1
        elif ch.isspace():
            spaces += 1
    punct = len(text) - letters - digits - spaces
    total = (
        letters * _WEIGHTS["latin"]
        + digits * _WEIGHTS["digit"]
        + spaces * _WEIGHTS["space"]
        + punct * _WEIGHTS["punct"]
    )
    return max(1, math.ceil(total))


def estimate_json_tokens(value: Any) -> int:
    """Estimate the tokens of ``value`` serialised as compact JSON.

    >>> estimate_json_tokens({"city": "Paris"}) > 0
    True
    """
    return estimate_text_tokens(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
