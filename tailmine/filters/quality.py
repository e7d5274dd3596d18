"""Quality signals: Gopher quality and repetition, C4 and FineWeb, as named, versioned numbers per document.

Each signal is a plain number (a column ``<family>_<name>_v1``); the rules in
:mod:`tailmine.filters.rules` compare them with thresholds from the config, so thresholds change without
recomputing anything. Definitions follow datatrove's implementations of the published rules (the
reference tool of ``benchmarks/filters.py``) so that decisions agree; word splitting is
:func:`tailmine.filters.text.split_words` instead of spaCy, and the n-gram repetition signals use
64-bit hashes of word ids with numpy instead of joined strings, which gives the same numbers much faster.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

from tailmine.filters.text import PUNCTUATION, split_words

VERSION = "v1"
GOPHER_STOP_WORDS = frozenset(["the", "be", "to", "of", "and", "that", "have", "with"])
"""Gopher's stop words (Rae et al. 2021, arXiv 2112.11446, §A.1.1)."""
STOP_WORDS = {"en": GOPHER_STOP_WORDS}
"""Stop-word lists per language; the stop-word rule is skipped for languages without a list."""

_PUNCT_SET = frozenset(PUNCTUATION)
_PARAGRAPH_SPLIT = re.compile(r"\n{2,}")
_LINE_SPLIT = re.compile(r"\n+")
_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
_SENTENCE_END = re.compile(r"[.!?…。！？]+(?=[\s\"'”’)\]]|$)")
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
C4_END_PUNCTUATION = (".", "?", "!", '"', "'")
C4_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
# FineWeb's stop characters: datatrove's TERMINAL_PUNCTUATION, the common ones.
FINEWEB_STOP_CHARS = tuple(".!?…。！？؟।॥۔።᙮᠃᠉‼‽⁇⁈⁉⸮﹒﹖﹗．？｡")

_MASK = (1 << 64) - 1
_MULTIPLIERS = np.random.default_rng(20240617).integers(1, 1 << 63, size=16, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def duplicate_stats(items: list[str]) -> tuple[int, int]:
    """Gopher's duplicate count and duplicate characters: every repeat after the first occurrence."""
    seen: set[str] = set()
    dup_items = dup_chars = 0
    for item in items:
        if item in seen:
            dup_items += 1
            dup_chars += len(item)
        else:
            seen.add(item)
    return dup_items, dup_chars


def _ngram_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """64-bit hashes of the word-id n-grams starting at each position (wrap-around arithmetic)."""
    m = len(ids) - n + 1
    h = np.zeros(m, dtype=np.uint64)
    for j in range(n):
        h += ids[j : j + m] * _MULTIPLIERS[j]
    return h


def _top_ngram_chars(h: np.ndarray, char_len: np.ndarray) -> int:
    """Characters of the most frequent n-gram times its count (ties: the first seen, like Counter)."""
    uniq, first, counts = np.unique(h, return_index=True, return_counts=True)
    best = counts.max()
    position = first[counts == best].min()
    return int(char_len[position]) * int(best)


def _dup_ngram_chars(h: np.ndarray, char_len: np.ndarray, n: int) -> int:
    """Gopher's duplicated n-gram characters: scan left to right, a repeated n-gram counts its characters
    and the scan jumps past it (datatrove ``find_all_duplicate``). Only n-grams that occur twice or more
    can matter, so only their positions are visited."""
    if len(h) == 0:
        return 0
    order = np.argsort(h, kind="stable")
    sorted_h = h[order]
    repeated = np.zeros(len(h), dtype=bool)
    same = sorted_h[1:] == sorted_h[:-1]
    if not same.any():
        return 0
    repeated[order[1:][same]] = True
    repeated[order[:-1][same]] = True
    seen: set[int] = set()
    total = 0
    skip_until = -1
    positions = np.flatnonzero(repeated).tolist()
    values = h[repeated].tolist()
    lengths = char_len[repeated].tolist()
    for pos, value, length in zip(positions, values, lengths):
        if pos < skip_until:
            continue
        if value in seen:
            total += length
            skip_until = pos + n
        else:
            seen.add(value)
    return total


def gopher_repetition_signals(text: str, words: list[str]) -> dict[str, float]:
    """Gopher repetition fractions (Rae et al. 2021, Table A1), over ``len(text)`` characters."""
    n_chars = len(text)
    paragraphs = _PARAGRAPH_SPLIT.split(text.strip())
    para_dups, para_dup_chars = duplicate_stats(paragraphs)
    lines = _LINE_SPLIT.split(text)
    line_dups, line_dup_chars = duplicate_stats(lines)
    out = {
        "gopher_dup_para_frac": _ratio(para_dups, len(paragraphs)),
        "gopher_dup_para_char_frac": _ratio(para_dup_chars, n_chars),
        "gopher_dup_line_frac": _ratio(line_dups, len(lines)),
        "gopher_dup_line_char_frac": _ratio(line_dup_chars, n_chars),
    }
    vocabulary: dict[str, int] = {}
    ids = np.fromiter((vocabulary.setdefault(w, len(vocabulary)) for w in words), dtype=np.uint64, count=len(words))
    rng_values = np.random.default_rng(len(vocabulary)).integers(0, 1 << 63, size=max(1, len(vocabulary)), dtype=np.uint64)
    ids = rng_values[ids.astype(np.int64)] if len(words) else ids
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    cumulative = np.concatenate([[0], np.cumsum(lengths)])
    for n in TOP_NGRAMS:
        key = f"gopher_top_{n}gram_char_frac"
        if len(words) < n:
            out[key] = 0.0
            continue
        # " ".join of n words: their characters plus n-1 spaces
        char_len = cumulative[n:] - cumulative[:-n] + (n - 1)
        out[key] = _ratio(_top_ngram_chars(_ngram_hashes(ids, n), char_len), n_chars)
    for n in DUP_NGRAMS:
        key = f"gopher_dup_{n}gram_char_frac"
        if len(words) < n:
            out[key] = 0.0
            continue
        char_len = cumulative[n:] - cumulative[:-n]  # "".join of n words
        out[key] = _ratio(_dup_ngram_chars(_ngram_hashes(ids, n), char_len, n), n_chars)
    return out


def gopher_quality_signals(text: str, words: list[str], lang: str) -> dict[str, float]:
    """Gopher quality measurements (Rae et al. 2021, §A.1.1) of one document."""
    punct = _PUNCT_SET
    non_symbol = [w for w in words if not punct.issuperset(w)]
    n_words = len(words)
    lines = text.splitlines()
    stop_words = STOP_WORDS.get(lang)
    return {
        "gopher_words": float(len(non_symbol)),
        "gopher_mean_word_length": (sum(map(len, non_symbol)) / len(non_symbol)) if non_symbol else float("nan"),
        "gopher_hash_ratio": _ratio(text.count("#"), n_words),
        "gopher_ellipsis_ratio": _ratio(text.count("...") + text.count("…"), n_words),
        "gopher_bullet_lines_ratio": _ratio(sum(1 for s in lines if s.lstrip().startswith(("•", "-"))), len(lines)),
        "gopher_end_ellipsis_lines_ratio": _ratio(sum(1 for s in lines if s.rstrip().endswith(("...", "…"))), len(lines)),
        "gopher_alpha_words_ratio": _ratio(sum(1 for w in words if not w.isdigit() and _has_alpha(w)), n_words),
        "gopher_stop_words": float(len(stop_words.intersection(words))) if stop_words is not None else float("nan"),
    }


def _has_alpha(word: str) -> bool:
    if word.isalpha():
        return True
    return any(c.isalpha() for c in word)


def c4_signals(text: str) -> dict[str, float]:
    """C4 page rules (Raffel et al. 2020, §2.2) over the lines C4 keeps (end in terminal punctuation,
    at least 3 words, no 'javascript', no policy boilerplate): sentences left, 'lorem ipsum', '{'."""
    sentences = 0
    lorem = curly = 0.0
    for line in text.splitlines():
        line = line.strip()
        words = line.split()
        if any(len(w) > 1000 for w in words):
            continue
        line = _CITATION.sub("", line)
        if not line.endswith(C4_END_PUNCTUATION) or line.endswith("..."):
            continue
        if len(words) < 3:
            continue
        lowered = line.lower()
        if "lorem ipsum" in lowered:
            lorem = 1.0
        if "javascript" in lowered:
            continue
        if "{" in line:
            curly = 1.0
        if any(p in lowered for p in C4_POLICY):
            continue
        sentences += max(1, len(_SENTENCE_END.findall(line)))
    return {"c4_sentences": float(sentences), "c4_lorem_ipsum": lorem, "c4_curly_bracket": curly}


def fineweb_signals(text: str, words: list[str]) -> dict[str, float]:
    """FineWeb's line rules (Penedo et al. 2024, arXiv 2406.17557, §3.3)."""
    lines = [line for line in text.split("\n") if line.strip()]
    _, dup_chars = duplicate_stats(lines)
    return {
        "fineweb_line_punct_ratio": _ratio(sum(1 for line in lines if line.endswith(FINEWEB_STOP_CHARS)), len(lines)),
        "fineweb_short_line_ratio": _ratio(sum(1 for line in lines if len(line) <= 30), len(lines)),
        "fineweb_char_dup_ratio": _ratio(dup_chars, len(text) - text.count("\n")),
        "fineweb_list_ratio": _ratio(text.count("\n"), len(words)),
    }


def quality_signals(text: str, lang: str = "en") -> dict[str, float]:
    """Every quality signal of one document (keys without the ``_v1`` suffix)."""
    words = split_words(text)
    return {
        **gopher_quality_signals(text, words, lang),
        **gopher_repetition_signals(text, words),
        **c4_signals(text),
        **fineweb_signals(text, words),
    }


SIGNAL_NAMES = tuple(quality_signals("The cat sat on the mat.\nAnd that was that.").keys())
