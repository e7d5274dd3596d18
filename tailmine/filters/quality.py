"""Quality signals: Gopher quality and repetition, C4 and FineWeb, as named, versioned numbers per document.

Each signal is a plain number (a column ``<family>_<name>_v1``); the rules in
:mod:`tailmine.filters.rules` compare them with thresholds from the config, so thresholds change without
recomputing anything. Definitions follow datatrove's implementations of the published rules (the
reference tool of ``benchmarks/filters.py``) so that decisions agree; word splitting is
:func:`tailmine.filters.text.token_spans` instead of spaCy, and every word-level number (counts, stop
words, top and duplicated n-grams over 64-bit token hashes instead of joined strings) comes from one
numba pass over one tokenization (:func:`word_stats`), which gives the same numbers ~20x faster.
"""
from __future__ import annotations

import re

import numpy as np

from numba import njit

from tailmine.filters.text import PUNCTUATION, char_table, token_hash, token_spans

VERSION = "v1"
GOPHER_STOP_WORDS = frozenset(["the", "be", "to", "of", "and", "that", "have", "with"])
"""Gopher's stop words (Rae et al. 2021, arXiv 2112.11446, §A.1.1)."""
STOP_WORDS = {"en": GOPHER_STOP_WORDS}
"""Stop-word lists per language; the stop-word rule is skipped for languages without a list."""
_STOP_HASHES = {
    lang: np.array(sorted(int(token_hash(np.frombuffer(w.encode("utf-32-le"), dtype=np.uint32), 0, len(w))) for w in words), dtype=np.uint64)
    for lang, words in STOP_WORDS.items()
}
_NO_STOP_WORDS = np.zeros(0, dtype=np.uint64)

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


@njit(cache=True)
def _group_ids(h):
    """Dense ids of the values of ``h`` (equal values, equal ids; ids in order of first occurrence)."""
    m = len(h)
    size = 16
    while size < 2 * m:
        size <<= 1
    mask = np.uint64(size - 1)
    keys = np.empty(size, dtype=np.uint64)
    slots = np.full(size, -1, dtype=np.int64)
    gid = np.empty(m, dtype=np.int64)
    groups = 0
    for i in range(m):
        v = h[i]
        s = np.int64(v & mask)
        while True:
            g = slots[s]
            if g < 0:
                slots[s] = groups
                keys[s] = v
                gid[i] = groups
                groups += 1
                break
            if keys[s] == v:
                gid[i] = g
                break
            s = (s + 1) & (size - 1)
    return gid, groups


@njit(cache=True)
def _top_chars(gid, groups, char_len):
    """Characters of the most frequent n-gram times its count; ties go to the first seen (ids are in
    order of first occurrence), as ``Counter.most_common`` does."""
    counts = np.zeros(groups, dtype=np.int64)
    for g in gid:
        counts[g] += 1
    best = 0
    for g in range(groups):
        if counts[g] > counts[best]:
            best = g
    for i in range(len(gid)):
        if gid[i] == best:
            return char_len[i] * counts[best]
    return 0


@njit(cache=True)
def _dup_chars(gid, groups, char_len, n):
    """Gopher's duplicated n-gram characters: scan left to right; an n-gram seen before counts its
    characters and the scan jumps past it, unseen ones are remembered (datatrove ``find_all_duplicate``)."""
    seen = np.zeros(groups, dtype=np.bool_)
    total = 0
    i = 0
    m = len(gid)
    while i < m:
        g = gid[i]
        if seen[g]:
            total += char_len[i]
            i += n
        else:
            seen[g] = True
            i += 1
    return total


@njit(cache=True)
def _word_signals(cp, starts, ends, F, stop_hashes, multipliers, out):
    """Gopher's word-level numbers of one document from its token spans, written into ``out``:
    tokens, non-symbol words, their characters, words with a letter, distinct stop words, then the top
    2/3/4-gram characters and the duplicated 5..10-gram characters."""
    k = len(starts)
    hashes = np.empty(k, dtype=np.uint64)
    lengths = np.empty(k, dtype=np.int64)
    non_symbol = 0
    non_symbol_chars = 0
    alpha = 0
    found = np.zeros(len(stop_hashes), dtype=np.bool_)
    for t in range(k):
        s, e = starts[t], ends[t]
        lengths[t] = e - s
        h = token_hash(cp, s, e)
        hashes[t] = h
        symbol = True
        has_alpha = False
        for q in range(s, e):
            f = F[cp[q]]
            if (f & 16) == 0:
                symbol = False
            if (f & 32) != 0:
                has_alpha = True
        if not symbol:
            non_symbol += 1
            non_symbol_chars += e - s
        if has_alpha:
            alpha += 1
        for w in range(len(stop_hashes)):
            if stop_hashes[w] == h:
                found[w] = True
    out[0] = k
    out[1] = non_symbol
    out[2] = non_symbol_chars
    out[3] = alpha
    out[4] = found.sum()
    cumulative = np.zeros(k + 1, dtype=np.int64)
    for t in range(k):
        cumulative[t + 1] = cumulative[t] + lengths[t]
    ngram = hashes * multipliers[0]
    any_repeat = True
    for n in range(2, 11):
        m = k - n + 1
        if m <= 0:
            out[n + 3] = 0
            continue
        ngram = ngram[:m] + hashes[n - 1 : n - 1 + m] * multipliers[n - 1]
        if n >= 5 and not any_repeat:  # no repeated 5-gram: no longer n-gram repeats either
            out[n + 3] = 0
            continue
        gid, groups = _group_ids(ngram)
        char_len = cumulative[n : n + m] - cumulative[:m]
        if n <= 4:
            out[n + 3] = _top_chars(gid, groups, char_len + (n - 1))  # " ".join: n-1 spaces
        else:
            any_repeat = groups < m
            out[n + 3] = _dup_chars(gid, groups, char_len, n) if any_repeat else 0


def word_stats(text: str, lang: str = "en") -> np.ndarray:
    """One tokenization (:func:`tailmine.filters.text.token_spans`) and every word-level number the
    Gopher and FineWeb rules need, in one compiled pass (see :func:`_word_signals` for the order)."""
    cp, starts, ends = token_spans(text)
    out = np.zeros(14, dtype=np.int64)
    stop = _STOP_HASHES.get(lang, _NO_STOP_WORDS)
    _word_signals(cp, starts, ends, char_table(), stop, _MULTIPLIERS, out)
    return out


def gopher_repetition_signals(text: str, stats: np.ndarray) -> dict[str, float]:
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
    for n in TOP_NGRAMS:
        out[f"gopher_top_{n}gram_char_frac"] = _ratio(int(stats[n + 3]), n_chars)
    for n in DUP_NGRAMS:
        out[f"gopher_dup_{n}gram_char_frac"] = _ratio(int(stats[n + 3]), n_chars)
    return out


def gopher_quality_signals(text: str, stats: np.ndarray, lang: str) -> dict[str, float]:
    """Gopher quality measurements (Rae et al. 2021, §A.1.1) of one document."""
    n_words, non_symbol, non_symbol_chars, alpha_words, stop_found = (int(x) for x in stats[:5])
    lines = text.splitlines()
    bullets = end_ellipsis = 0
    for line in lines:
        if line.lstrip().startswith(("•", "-")):
            bullets += 1
        if line.rstrip().endswith(("...", "…")):
            end_ellipsis += 1
    return {
        "gopher_words": float(non_symbol),
        "gopher_mean_word_length": (non_symbol_chars / non_symbol) if non_symbol else float("nan"),
        "gopher_hash_ratio": _ratio(text.count("#"), n_words),
        "gopher_ellipsis_ratio": _ratio(text.count("...") + text.count("…"), n_words),
        "gopher_bullet_lines_ratio": _ratio(bullets, len(lines)),
        "gopher_end_ellipsis_lines_ratio": _ratio(end_ellipsis, len(lines)),
        "gopher_alpha_words_ratio": _ratio(alpha_words, n_words),
        "gopher_stop_words": float(stop_found) if lang in STOP_WORDS else float("nan"),
    }


def c4_signals(text: str) -> dict[str, float]:
    """C4 page rules (Raffel et al. 2020, §2.2) over the lines C4 keeps (end in terminal punctuation,
    at least 3 words, no 'javascript', no policy boilerplate): sentences left, 'lorem ipsum', '{'.

    C4's line removal itself (rewriting the text without those lines) is deliberately not offered: the
    stage annotates then selects, every signal is measured on the text as it arrived and a re-selection
    with new thresholds reuses them, which rewriting would break (Gopher, FineWeb and PII numbers would
    depend on whether and where lines were cut, and a later run could not undo it). FineWeb (Penedo et al.
    2024) also left C4's terminal-punctuation line rule out because it removes too much web text (~30%
    of tokens in their ablation), and line-level boilerplate is the extractor's job
    (:mod:`tailmine.ingest.extract`), before this stage. The line rules are kept as the signal
    ``c4_sentences`` (what C4 would leave) so a page-level decision can use them."""
    sentences = 0
    lorem = curly = 0.0
    for line in text.splitlines():
        line = line.strip()
        words = line.split()
        if len(line) > 1000 and max(map(len, words)) > 1000:
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


def fineweb_signals(text: str, n_words: int) -> dict[str, float]:
    """FineWeb's line rules (Penedo et al. 2024, arXiv 2406.17557, §3.3)."""
    lines = [line for line in text.split("\n") if line.strip()]
    _, dup_chars = duplicate_stats(lines)
    return {
        "fineweb_line_punct_ratio": _ratio(sum(1 for line in lines if line.endswith(FINEWEB_STOP_CHARS)), len(lines)),
        "fineweb_short_line_ratio": _ratio(sum(1 for line in lines if len(line) <= 30), len(lines)),
        "fineweb_char_dup_ratio": _ratio(dup_chars, len(text) - text.count("\n")),
        "fineweb_list_ratio": _ratio(text.count("\n"), n_words),
    }


def quality_signals(text: str, lang: str = "en") -> dict[str, float]:
    """Every quality signal of one document (keys without the ``_v1`` suffix)."""
    stats = word_stats(text, lang)
    return {
        **gopher_quality_signals(text, stats, lang),
        **gopher_repetition_signals(text, stats),
        **c4_signals(text),
        **fineweb_signals(text, int(stats[0])),
    }


SIGNAL_NAMES = tuple(quality_signals("The cat sat on the mat.\nAnd that was that.").keys())
