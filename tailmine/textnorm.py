"""Text normalisation and the table of scripts written without spaces: one definition each.

Why shared: the exact-duplicate key, the MinHash tokens, the concept ids and the classifier inputs are
all computed on normalised text, and the quality rules, the MinHash tokenizer and the filters all have
to know which scripts put no spaces between words. Written separately they drift (two range tables
disagreed on Katakana phonetic extensions and on CJK extensions G and H).

* :func:`normalize`: Unicode NFKC (skipped for ASCII, where it is the identity), optional character
  replacements, lower case or full case folding, whitespace runs collapsed to one space. Each caller
  picks its options once: dedup (lower, collapsed), concepts (casefold, layout kept: phrase breaks
  need the blank lines), classifiers (typography folded, lower, collapsed).
* :data:`UNSPACED_RANGES`: Han (with extensions and compatibility ideographs), Hiragana, Katakana,
  Thai, Lao, Khmer and Myanmar, as code-point ranges; :func:`is_unspaced` (compiled, for the kernels)
  and :func:`unspaced_class` (a regular-expression class) are both made from it.
"""
from __future__ import annotations

import unicodedata
from typing import Iterable

from numba import njit

UNSPACED_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # Han extension A
    (0x4E00, 0x9FFF),  # Han
    (0xF900, 0xFAFF),  # Han compatibility ideographs
    (0x20000, 0x3FFFF),  # Han extensions B-H (supplementary and tertiary ideographic planes)
)
"""Scripts written without spaces between words: each of their characters is a token of its own."""


def unspaced_class() -> str:
    """The body of a regular-expression character class (``[...]``) matching :data:`UNSPACED_RANGES`."""
    return "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in UNSPACED_RANGES)


@njit(cache=True, inline="always")
def is_unspaced(cp):
    """Whether code point ``cp`` belongs to a script written without spaces (:data:`UNSPACED_RANGES`)."""
    if cp < UNSPACED_RANGES[0][0]:  # Latin, Greek, Cyrillic, ...: the common case, one comparison
        return False
    for i in range(len(UNSPACED_RANGES)):
        if UNSPACED_RANGES[i][0] <= cp <= UNSPACED_RANGES[i][1]:
            return True
    return False


def nfkc(text: str) -> str:
    """Unicode NFKC; ASCII text is returned as it is (NFKC leaves it unchanged, at no cost)."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def normalize(text: str, *, casefold: bool = False, collapse_spaces: bool = True, replace: Iterable[tuple[str, str]] = ()) -> str:
    """NFKC, then each ``(old, new)`` of ``replace``, then lower case (``str.casefold`` when ``casefold``:
    ß -> ss, ς -> σ), then, when ``collapse_spaces``, whitespace runs collapsed to one space and trimmed."""
    if text.isascii():
        for old, new in replace:
            if old.isascii() and old in text:
                text = text.replace(old, new)
    else:
        text = unicodedata.normalize("NFKC", text)
        for old, new in replace:  # str.replace per character: far faster than str.translate
            if old in text:
                text = text.replace(old, new)
    text = text.casefold() if casefold else text.lower()
    return " ".join(text.split()) if collapse_spaces else text

