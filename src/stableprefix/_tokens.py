"""Heuristic token estimates for text and JSON, without a tokenizer.

Approach: a BPE tokenizer first cuts text into pieces (a word with its
leading space, a run of up to three digits, a run of punctuation, a line
break) and then splits rare pieces further. So its count is close to a
linear function of a few counts we can take cheaply: letters, digits,
punctuation and whitespace, the number of letter/digit/punctuation runs,
and the number of characters of each script (CJK, kana, Hangul, Cyrillic,
Arabic, emoji, ...), which cost very different amounts per character. The
weights of that function, one set per tokenizer family, are data in
``_token_data`` and are fitted against real tokenizers on the corpus in
``benchmarks/corpus`` (``benchmarks/token_accuracy.py --fit``).

Speed matters because an estimate is taken once per appended message, so
no Python-level loop runs per character. The text is encoded to UTF-8 and
continuation bytes are deleted, so each character is one byte (its lead
byte, which also tells its script). ``bytes.translate`` maps that to one
byte per class, and ``bytes.count`` counts each class. Runs need to see
neighbours: the class string is read as one big integer ``x``, and
``x ^ (x << 8)`` has a bit set wherever a class starts or stops, so the
popcount of that, masked to one class bit per byte, is twice the number of
runs. Everything runs in C: ``benchmarks/token_accuracy.py --speed``
times a 2,000-character message at about 10-20 us for English, code or
JSON and 15-40 us for CJK or mixed scripts on a shared 2-core machine.
"""

from __future__ import annotations

import json
from operator import mul
from typing import Any

from ._token_data import ALIASES, FAMILY_WEIGHTS, FEATURES

__all__ = [
    "estimate_json_tokens",
    "estimate_text_tokens",
    "known_families",
    "resolve_family",
    "text_features",
]

# Table A maps each character (each UTF-8 lead byte, once continuation
# bytes are deleted) to bits for the classes every text is measured by; the
# runs of the letter, digit, punctuation and script-letter bits are counted.
_LETTER, _UPPER, _DIGIT, _PUNCT, _SPACE, _NEWLINE, _WORD = (1 << i for i in range(7))
_RUN_BITS = (0, 2, 3, 6)  # letter, digit, punctuation and script-word runs
# Non-ASCII characters by UTF-8 lead byte, in the order of FEATURES.
_SCRIPTS = (
    (0xC3, 0xCA, "latin_ext"),  # Latin-1 supplement letters, Latin extended
    (0xCD, 0xCF, "greek"),
    (0xD0, 0xD4, "cyrillic"),
    (0xD5, 0xD7, "hebrew"),  # and Armenian
    (0xD8, 0xDF, "arabic"),  # and Syriac, Thaana, NKo
    (0xE0, 0xE0, "indic"),  # U+0800-0FFF: Devanagari ... Thai, Lao, Tibetan
    (0xE1, 0xE1, "other_bmp"),  # U+1000-1FFF: Georgian, Khmer, Vietnamese letters
    (0xE2, 0xE2, "symbols"),  # U+2000-2FFF: punctuation, arrows, dingbats
    (0xE3, 0xE3, "kana"),  # U+3000-3FFF: CJK punctuation, hiragana, katakana
    (0xE4, 0xE9, "han"),  # U+4000-9FFF: CJK ideographs
    (0xEA, 0xED, "hangul"),  # U+A000-DFFF: mostly Hangul syllables
    (0xEE, 0xEF, "fullwidth"),  # private use, fullwidth forms, variation selectors
    (0xF0, 0xF4, "emoji"),  # beyond U+FFFF
    (0xC2, 0xC2, "latin1_symbols"),  # no-break space, degree sign, guillemets
    (0xCB, 0xCC, "combining"),  # spacing modifiers, combining marks
)
_CJK_PUNCT = b"\xe3\x80"  # U+3000-303F (、。「」) shares its lead byte with kana
_ZWJ = b"\xe2\x80\x8d"  # joins emoji into one glyph and costs tokens of its own


def _table_a() -> bytes:
    table = bytearray(256)
    for byte in range(128):
        ch = chr(byte)
        if ch.isalpha():
            table[byte] = _LETTER | (_UPPER if ch.isupper() else 0)
        elif ch.isdigit():
            table[byte] = _DIGIT
        elif ch in " \t\r":
            table[byte] = _SPACE
        elif ch == "\n":
            table[byte] = _NEWLINE
        else:  # punctuation, and the rare control character
            table[byte] = _PUNCT
    for lead in range(0xC3, 0xCB):  # accented Latin letters belong to words
        table[lead] = _LETTER
    for lead in range(0xCD, 0xE2):  # so do the letters of alphabetic scripts
        table[lead] = _WORD
    return bytes(table)


def _script_table() -> bytes:
    table = bytearray(256)
    for index, (low, high, _) in enumerate(_SCRIPTS, start=1):
        table[low : high + 1] = bytes([index]) * (high + 1 - low)
    return bytes(table)


_TABLE_A = _table_a()
_CLASS_VALUES = (_LETTER | _UPPER, _DIGIT, _PUNCT, _SPACE, _NEWLINE)
_TABLE_SCRIPTS = _script_table()
_CONTINUATION = bytes(range(0x80, 0xC0))
_ASCII = bytes(range(0x80))
_KANA = [name for _, _, name in _SCRIPTS].index("kana")
_SYMBOLS = [name for _, _, name in _SCRIPTS].index("symbols")
_MASK_SIZE = 8192  # bit masks are prebuilt for texts up to this many characters


def _bit_masks(size: int) -> tuple[int, ...]:
    """``masks[i]`` has bit ``i`` set in each of ``size`` bytes."""
    return tuple(int.from_bytes(bytes([1 << i]) * size, "little") for i in range(8))


_MASKS = _bit_masks(_MASK_SIZE)


def _histogram(data: bytes, first: bytes) -> list[int]:
    """How often each byte value occurs in ``data``, one pass per value present.

    Deleting one value with ``bytes.translate`` and comparing lengths counts
    it; the string shrinks with every value removed, so removing the most
    frequent one (``first``, a guess) first keeps the later passes short.
    """
    counts = [0] * 256
    rest = data.translate(None, first)
    if first:
        counts[first[0]] = len(data) - len(rest)
    while rest:
        value = rest[:1]
        shorter = rest.translate(None, value)
        counts[rest[0]] = len(rest) - len(shorter)
        rest = shorter
    return counts


def _popcount(x: int, mask: int) -> int:
    hit = x & mask
    return hit.bit_count() if hit else 0


def text_features(text: str) -> tuple[int, ...]:
    """Count what the estimate is made of, in the order of ``FEATURES``.

    Args:
        text: any string.

    Returns:
        One count per name in ``stableprefix._token_data.FEATURES``.

    >>> dict(zip(FEATURES, text_features("Hello, world 42")))["letter_runs"]
    2
    """
    data = text.encode("utf-8", "surrogatepass")
    ascii_only = text.isascii()
    chars = data if ascii_only else data.translate(None, _CONTINUATION)
    size = len(chars)
    masks = _MASKS if size < _MASK_SIZE else _bit_masks(size + 1)
    classes = chars.translate(_TABLE_A)
    # A class count is a byte count (each class is one byte value); runs need
    # the neighbours, so they are counted on the string as one big integer.
    counts = _histogram(classes, classes[size // 2 : size // 2 + 1])
    upper, digits, punct, spaces, newlines = (counts[c] for c in _CLASS_VALUES)
    x = int.from_bytes(classes, "little")
    edges = x ^ (x << 8)  # a bit at every start and every end of a run
    runs = [_popcount(edges, masks[i]) >> 1 for i in _RUN_BITS]
    if ascii_only:
        # Every ASCII character is in exactly one class: letters are the rest.
        letters = size - digits - punct - spaces - newlines
        return (letters, upper, digits, punct, spaces, newlines, *runs, *_NO_SCRIPTS)
    ids = chars.translate(_TABLE_SCRIPTS, _ASCII)  # one byte per non-ASCII char
    middle = len(ids) // 2  # the middle character is likely of the main script
    scripts = _histogram(ids, ids[middle : middle + 1])[1 : len(_SCRIPTS) + 1]
    # Two byte patterns need a scan of their own, and only where their lead
    # byte occurs: U+3000-303F shares its lead byte with kana, ZWJ with symbols.
    cjk_punct = data.count(_CJK_PUNCT) if scripts[_KANA] else 0
    scripts[_KANA] -= cjk_punct
    zwj = data.count(_ZWJ) if scripts[_SYMBOLS] else 0
    scripts[_SYMBOLS] -= zwj
    return (
        counts[_LETTER] + upper,
        upper,
        digits,
        punct,
        spaces,
        newlines,
        *runs,
        *scripts,
        cjk_punct,
        zwj,
    )


_NO_SCRIPTS = (0,) * (len(_SCRIPTS) + 2)


def known_families() -> tuple[str, ...]:
    """The tokenizer families that have weights, without aliases.

    >>> "openai" in known_families() and "anthropic" in known_families()
    True
    """
    return tuple(FAMILY_WEIGHTS)


def resolve_family(family: str) -> str:
    """The canonical name of ``family`` (aliases such as "o200k" resolved).

    Args:
        family: a family name or alias.

    Returns:
        The name under which the weights are stored.

    Raises:
        TypeError: ``family`` is not a string.
        ValueError: no family or alias has that name.

    >>> resolve_family("claude")
    'anthropic'
    """
    if not isinstance(family, str):
        raise TypeError(f"family must be a str, got {type(family).__name__}")
    name = ALIASES.get(family.lower(), family.lower())
    if name not in FAMILY_WEIGHTS:
        known = ", ".join(sorted({*FAMILY_WEIGHTS, *ALIASES}))
        raise ValueError(f"unknown tokenizer family {family!r}; use one of: {known}")
    return name


def _weight_vector(family: str) -> tuple[float, ...]:
    weights = FAMILY_WEIGHTS[family]
    return tuple(weights.get(name, 0.0) for name in FEATURES)


_VECTORS = {name: _weight_vector(name) for name in FAMILY_WEIGHTS}


def estimate_text_tokens(text: str, family: str = "openai") -> int:
    """Estimate how many tokens a tokenizer of ``family`` makes of ``text``.

    Args:
        text: the string to measure.
        family: "openai" (o200k_base), "cl100k" (GPT-4, GPT-3.5),
            "anthropic", "gemini" or "llama" (small local models; also
            "generic"). See ``known_families()``.

    Returns:
        The estimate: 0 for an empty string, otherwise at least 1.

    Raises:
        TypeError: ``text`` is not a string.
        ValueError: ``family`` is unknown.

    >>> estimate_text_tokens("")
    0
    >>> 8 <= estimate_text_tokens("The quick brown fox jumps over the lazy dog.") <= 13
    True
    >>> estimate_text_tokens("缓存命中率", "cl100k") > estimate_text_tokens("缓存命中率", "openai")
    True
    """
    vector = _VECTORS.get(family)
    if vector is None:
        vector = _VECTORS[resolve_family(family)]
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text:
        return 0
    total = sum(map(mul, vector, text_features(text)))
    return max(1, int(total + 0.5))


def estimate_json_tokens(value: Any, family: str = "openai") -> int:
    """Estimate the tokens of ``value`` serialised as compact JSON.

    Args:
        value: anything ``json.dumps`` accepts.
        family: as for ``estimate_text_tokens``.

    Returns:
        The estimate for the compact serialisation (no spaces after
        separators, non-ASCII characters kept as they are).

    Raises:
        TypeError: ``value`` is not JSON-serialisable.
        ValueError: ``family`` is unknown.

    >>> estimate_json_tokens({"city": "Paris"}) > 0
    True
    """
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return estimate_text_tokens(text, family)
