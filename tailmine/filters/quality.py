"""Quality signals: Gopher quality and repetition, C4 and FineWeb, as named, versioned numbers per document.

Each signal is a plain number (a column ``<family>_<name>_v1``); the rules in
:mod:`tailmine.filters.rules` compare them with thresholds from the config, so thresholds change without
recomputing anything. Words are :func:`words`: a segmenter for Chinese, Japanese and Thai
(:mod:`tailmine.filters.segment`), the compiled spaCy-like tokenizer otherwise. Definitions follow datatrove's implementations of the published rules (the
reference tool of ``benchmarks/filters.py``) so that decisions agree; word splitting is
:func:`tailmine.filters.text.token_spans` instead of spaCy, and every word-level number (counts, stop
words, top and duplicated n-grams over 64-bit token hashes instead of joined strings) comes from one
numba pass over one tokenization (:func:`word_stats`), which gives the same numbers ~20x faster.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Optional

import numpy as np

from numba import njit

from tailmine.filters.rules import SEGMENTED_LANGUAGES, UNSPACED_CHARACTER_LANGUAGES
from tailmine.filters.segment import Segmenters
from tailmine.filters.text import PUNCTUATION, _codepoints, char_table, token_hash, token_spans

VERSION = "v1"
GOPHER_STOP_WORDS = frozenset(["the", "be", "to", "of", "and", "that", "have", "with"])
"""Gopher's stop words (Rae et al. 2021, arXiv 2112.11446, §A.1.1)."""
_STOP_WORD_TABLE = """
ar في من على أن إلى التي عن ما
cs a se na v je že to s
da og i at det en til er som
de der die und in den von zu das
el και το να της του η την σε
es de la que el en y a los
fa و در به از که این را با
fi ja on ei se että oli hän mutta
fr de la le et les des en un
he של את על לא הוא זה עם גם
hi के है में की और से को का
hu a az és hogy nem is egy van
id yang dan di dengan untuk ini dari dalam
it di e il la che in un per
ja の に は を た が で て
nl de het een en van in is dat
no og i det på som er en til
pl w i na się z nie do to
pt de a o que e do da em
ro de și în a la cu că nu
ru и в не на что с по как
sv och i att det som en på är
th ที่ และ ใน การ ของ เป็น มี ได้
tr bir ve bu da için de ile çok
uk і в на не що з та до
vi của và các có là được cho trong
zh 的 是 在 了 和 有 我 不
"""
STOP_WORDS = {"en": GOPHER_STOP_WORDS, **{
    line.split()[0]: frozenset(line.split()[1:]) for line in _STOP_WORD_TABLE.strip().splitlines()}}
"""Stop-word lists per language: Gopher's 8 for English; for the others, 8 of the most frequent function
words, as Gopher chose its list (a document of real prose in the language contains at least 2; Chinese,
Japanese and Thai as their segmenters cut them). Languages without a list skip the rule (NaN signal).
``tailmine filter calibrate`` sets the threshold per language from a reference sample."""
_STOP_HASHES = {
    lang: np.array(sorted(int(token_hash(np.frombuffer(w.encode("utf-32-le"), dtype=np.uint32), 0, len(w))) for w in words), dtype=np.uint64)
    for lang, words in STOP_WORDS.items()
}
_NO_STOP_WORDS = np.zeros(0, dtype=np.uint64)

_PUNCT_SET = frozenset(PUNCTUATION)
_PARAGRAPH_SPLIT = re.compile(r"\n{2,}")
_LINE_SPLIT = re.compile(r"\n+")
_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
C4_END_PUNCTUATION = (".", "?", "!", '"', "'")
C4_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
# FineWeb's stop characters: datatrove's TERMINAL_PUNCTUATION (datatrove/utils/text.py, 159 characters;
# "…" is not one of them: a line cut off with an ellipsis has not ended).
TERMINAL_PUNCTUATION = "".join((
    '!.?\u0589\u061d\u061e\u061f\u06d4\u0700\u0701\u0702\u07f9'
    '\u0837\u0839\u083d\u083e\u0964\u0965\u104a\u104b\u1362\u1367\u1368\u166e'
    '\u1735\u1736\u17d4\u17d5\u17d6\u17d9\u17da\u1803\u1809\u1944\u1945\u1aa8'
    '\u1aa9\u1aaa\u1aab\u1b5a\u1b5b\u1b5e\u1b5f\u1b7d\u1b7e\u1c3b\u1c3c\u1c7e'
    '\u1c7f\u203c\u203d\u2047\u2048\u2049\u2e2e\u2e3c\u2e53\u2e54\u3002\ua4ff'
    '\ua60e\ua60f\ua6f3\ua6f7\ua876\ua877\ua8ce\ua8cf\ua92f\ua9c8\ua9c9\uaa5d'
    '\uaa5e\uaa5f\uaaf0\uaaf1\uabeb\ufe52\ufe56\ufe57\uff01\uff0e\uff1f\uff61'
    '\U00010a56\U00010a57\U00010f55\U00010f56\U00010f57\U00010f58\U00010f59\U00010f86\U00010f87\U00010f88\U00010f89\U00011047'
    '\U00011048\U000110be\U000110bf\U000110c0\U000110c1\U00011141\U00011142\U00011143\U000111c5\U000111c6\U000111cd\U000111de'
    '\U000111df\U00011238\U00011239\U0001123b\U0001123c\U000112a9\U0001144b\U0001144c\U000115c2\U000115c3\U000115c9\U000115ca'
    '\U000115cb\U000115cc\U000115cd\U000115ce\U000115cf\U000115d0\U000115d1\U000115d2\U000115d3\U000115d4\U000115d5\U000115d6'
    '\U000115d7\U00011641\U00011642\U0001173c\U0001173d\U0001173e\U00011944\U00011946\U00011a42\U00011a43\U00011a9b\U00011a9c'
    '\U00011c41\U00011c42\U00011ef7\U00011ef8\U00011f43\U00011f44\U00016a6e\U00016a6f\U00016af5\U00016b37\U00016b38\U00016b44'
    '\U00016e98\U0001bc9f\U0001da88'
))
SENTENCIZER_PUNCT = (
    '!.?\u0589\u061f\u06d4\u0700\u0701\u0702\u07f9\u0964\u0965'
    '\u104a\u104b\u1362\u1367\u1368\u166e\u1735\u1736\u1803\u1809\u1944\u1945'
    '\u1aa8\u1aa9\u1aaa\u1aab\u1b5a\u1b5b\u1b5e\u1b5f\u1c3b\u1c3c\u1c7e\u1c7f'
    '\u203c\u203d\u2047\u2048\u2049\u2e2e\u2e3c\ua4ff\ua60e\ua60f\ua6f3\ua6f7'
    '\ua876\ua877\ua8ce\ua8cf\ua92f\ua9c8\ua9c9\uaa5d\uaa5e\uaa5f\uaaf0\uaaf1'
    '\uabeb\ufe52\ufe56\ufe57\uff01\uff0e\uff1f\U00010a56\U00010a57\U00011047\U00011048\U000110be'
    '\U000110bf\U000110c0\U000110c1\U00011141\U00011142\U00011143\U000111c5\U000111c6\U000111cd\U000111de\U000111df\U00011238'
    '\U00011239\U0001123b\U0001123c\U000112a9\U0001144b\U0001144c\U000115c2\U000115c3\U000115c9\U000115ca\U000115cb\U000115cc'
    '\U000115cd\U000115ce\U000115cf\U000115d0\U000115d1\U000115d2\U000115d3\U000115d4\U000115d5\U000115d6\U000115d7\U00011641'
    '\U00011642\U0001173c\U0001173d\U0001173e\U00011a42\U00011a43\U00011a9b\U00011a9c\U00011c41\U00011c42\U00016a6e\U00016a6f'
    '\U00016af5\U00016b37\U00016b38\U00016b44\U0001bc9f\U0001da88\uff61\u3002'
)
"""spaCy's Sentencizer.default_punct_chars (spacy/pipeline/sentencizer.pyx): the sentence ends of the
splitter datatrove's C4 filter counts sentences with."""
FINEWEB_STOP_CHARS = tuple(TERMINAL_PUNCTUATION)

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


JUNK_WINDOW_WORDS = 1000
"""Words per junk window: a page of a book, so one number table or index page is one window."""
JUNK_MIN_ALPHA = 0.6
JUNK_MIN_MEAN_LENGTH = 2.5
SHORT_WORD_LANGUAGES = SEGMENTED_LANGUAGES | UNSPACED_CHARACTER_LANGUAGES


@njit(cache=True)
def _junk_window(words, alpha_words, chars, min_length):
    """A window is junk when under 60% of its words have a letter (number tables, index pages: 'Adams,
    John, 12, 45, 117') or its words average under ``min_length`` characters (OCR debris: 't h e', 'l1
    ,j'; 2.5 for spaced scripts, off where words are 1-2 characters: Chinese, Japanese, Thai)."""
    return alpha_words < JUNK_MIN_ALPHA * words or chars < min_length * words


@njit(cache=True)
def _word_signals(cp, starts, ends, F, T, stop_hashes, multipliers, junk_min_length, out):
    """Gopher's word-level numbers of one document from its token spans, written into ``out``:
    tokens, non-symbol words, their characters, words with a letter, distinct stop words, then the top
    2/3/4-gram characters and the duplicated 5..10-gram characters, then junk windows and windows."""
    k = len(starts)
    hashes = np.empty(k, dtype=np.uint64)
    lengths = np.empty(k, dtype=np.int64)
    non_symbol = 0
    non_symbol_chars = 0
    alpha = 0
    found = np.zeros(len(stop_hashes), dtype=np.bool_)
    words = 0  # tokens with a character that is neither punctuation (Gopher's or Unicode's) nor a format mark
    letter_words = 0  # ... that have a letter
    win_words = 0  # non-symbol words of the current junk window
    win_alpha = 0  # ... with a letter
    win_chars = 0  # ... their characters
    junk_windows = 0
    windows = 0
    for t in range(k):
        s, e = starts[t], ends[t]
        lengths[t] = e - s
        h = token_hash(cp, s, e)
        hashes[t] = h
        symbol = True
        has_alpha = False
        wordlike = False
        for q in range(s, e):
            f = F[cp[q]]
            if (f & 16) == 0:
                symbol = False
                if (T[cp[q]] & 6) == 0:
                    wordlike = True
            if (f & 32) != 0:
                has_alpha = True
        if wordlike:
            words += 1
            if has_alpha:
                letter_words += 1
        if not symbol:
            non_symbol += 1
            non_symbol_chars += e - s
            win_words += 1
            win_chars += e - s
            if has_alpha:
                win_alpha += 1
        if has_alpha:
            alpha += 1
        for w in range(len(stop_hashes)):
            if stop_hashes[w] == h:
                found[w] = True
        if win_words == JUNK_WINDOW_WORDS or (t == k - 1 and win_words > 0):
            windows += 1
            if _junk_window(win_words, win_alpha, win_chars, junk_min_length):
                junk_windows += 1
            win_words = win_alpha = win_chars = 0
    out[14] = junk_windows
    out[15] = windows
    out[16] = words
    out[17] = letter_words
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


_DEFAULT_SEGMENTERS = Segmenters()


def words(text: str, lang: str = "en", segmenters: Optional[Segmenters] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(code points, word starts, word ends) of ``text``: the language's segmenter for unspaced scripts
    (:mod:`tailmine.filters.segment`), :func:`tailmine.filters.text.token_spans` for the rest."""
    seg = (segmenters or _DEFAULT_SEGMENTERS).spans(text, lang)
    if seg is None:
        return token_spans(text)
    return _codepoints(text), seg[0], seg[1]


def word_stats(text: str, lang: str = "en", segmenters: Optional[Segmenters] = None) -> np.ndarray:
    """One tokenization (:func:`words`) and every word-level number the Gopher and FineWeb rules need,
    in one compiled pass (see :func:`_word_signals` for the order)."""
    return _stats(*words(text, lang, segmenters), lang)


def _stats(cp: np.ndarray, starts: np.ndarray, ends: np.ndarray, lang: str) -> np.ndarray:
    out = np.zeros(18, dtype=np.int64)
    stop = _STOP_HASHES.get(lang, _NO_STOP_WORDS)
    min_length = 0.0 if lang in SHORT_WORD_LANGUAGES else JUNK_MIN_MEAN_LENGTH
    _word_signals(cp, starts, ends, char_table(), _sentence_table(), stop, _MULTIPLIERS, min_length, out)
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
        "junk_window_frac": _ratio(int(stats[14]), int(stats[15])),
        "alpha_words_ratio": _ratio(int(stats[17]), int(stats[16])),
    }


_SENT_END, _SENT_PUNCT, _FORMAT = 1, 2, 4
_SENTENCE_TABLE: "np.ndarray | None" = None


def _sentence_table() -> np.ndarray:
    """Per code point: 1 = one of spaCy's sentence-final characters, 2 = Unicode punctuation (P*),
    spaCy's ``is_punct``, 4 = a format mark (Cf: left-to-right and right-to-left marks). Computed once
    per process."""
    global _SENTENCE_TABLE
    if _SENTENCE_TABLE is None:
        table = np.zeros(0x110000, dtype=np.uint8)
        for c in range(0x110000):
            category = unicodedata.category(chr(c))
            if category[0] == "P":
                table[c] = _SENT_PUNCT
            elif category == "Cf":
                table[c] = _FORMAT
        table[np.frombuffer(SENTENCIZER_PUNCT.encode("utf-32-le"), dtype=np.uint32)] |= _SENT_END
        _SENTENCE_TABLE = table
    return _SENTENCE_TABLE


@njit(cache=True)
def _sentence_count(cp, starts, ends, T):
    """spaCy's rule-based Sentencizer over the tokens: after a sentence-final character, the next token
    that is not punctuation starts a sentence. Abbreviations ('Mr.', 'e.g.') are one token and do not
    end a sentence; 'end.Next' is three tokens and does."""
    k = len(starts)
    if k == 0:
        return 0
    count = 1
    seen_end = False
    for t in range(k):
        s, e = starts[t], ends[t]
        final = e - s == 1 and (T[cp[s]] & 1) != 0
        punct = True
        for q in range(s, e):
            if (T[cp[q]] & 2) == 0:
                punct = False
                break
        if seen_end and not punct and not final:
            count += 1
            seen_end = False
        elif final:
            seen_end = True
    return count


def count_sentences(text: str) -> int:
    """Sentences of ``text`` as datatrove's C4 filter counts them (spaCy's English tokenizer and
    Sentencizer), on tailmine's spaCy-compatible tokens."""
    cp, starts, ends = token_spans(text)
    return int(_sentence_count(cp, starts, ends, _sentence_table()))


_LINE = re.compile(r"[^\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]+")  # the lines of str.splitlines()


def c4_signals(text: str, spans: Optional[tuple[np.ndarray, np.ndarray, np.ndarray]] = None) -> dict[str, float]:
    """C4 page rules (Raffel et al. 2020, §2.2) over the lines C4 keeps (end in terminal punctuation,
    at least 3 words, no 'javascript', no policy boilerplate): sentences left, 'lorem ipsum', '{'.

    C4's line removal itself (rewriting the text without those lines) is deliberately not offered: the
    stage annotates then selects, every signal is measured on the text as it arrived and a re-selection
    with new thresholds reuses them, which rewriting would break (Gopher, FineWeb and PII numbers would
    depend on whether and where lines were cut, and a later run could not undo it). FineWeb (Penedo et al.
    2024) also left C4's terminal-punctuation line rule out because it removes too much web text (~30%
    of tokens in their ablation), and line-level boilerplate is the extractor's job
    (:mod:`tailmine.ingest.extract`), before this stage. The line rules are kept as the signal
    ``c4_sentences`` (what C4 would leave) so a page-level decision can use them.

    Sentences are counted as datatrove counts them (spaCy's English tokens and Sentencizer, see
    :func:`count_sentences`) on the tokens of ``spans`` (:func:`tailmine.filters.text.token_spans` of the
    whole text, computed here when not given) that fall inside each kept line: one tokenization per
    document, not one per line."""
    cp, starts, ends = spans if spans is not None else token_spans(text)
    table = _sentence_table()
    sentences = 0
    lorem = curly = 0.0
    for match in _LINE.finditer(text):
        raw = match.group()
        line = raw.strip()
        if not line:
            continue
        words = line.split()
        if len(line) > 1000 and max(map(len, words)) > 1000:  # datatrove: a word over 1,000 characters
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
        begin = match.start() + (len(raw) - len(raw.lstrip()))
        first, last = np.searchsorted(starts, begin), np.searchsorted(starts, begin + len(line))
        sentences += int(_sentence_count(cp, starts[first:last], ends[first:last], table))
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


def quality_signals(text: str, lang: str = "en", segmenters: Optional[Segmenters] = None) -> dict[str, float]:
    """Every quality signal of one document (keys without the ``_v1`` suffix)."""
    seg = (segmenters or _DEFAULT_SEGMENTERS).spans(text, lang)
    spans = token_spans(text)
    stats = _stats(*(spans if seg is None else (spans[0], *seg)), lang)
    return {
        **gopher_quality_signals(text, stats, lang),
        **gopher_repetition_signals(text, stats),
        **c4_signals(text, spans),  # C4 counts spaCy-English tokens whatever the language
        **fineweb_signals(text, int(stats[0])),
    }


SIGNAL_NAMES = tuple(quality_signals("The cat sat on the mat.\nAnd that was that.").keys())
