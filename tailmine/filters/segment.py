"""Word boundaries for scripts written without spaces (Chinese, Japanese, Thai).

Gopher's and FineWeb's word and word-n-gram rules assume words. One token per character (what tailmine did
before) makes every five characters of Japanese a "5-gram", so ordinary prose looked repetitive; a mean
word length of one character failed the length rule. datatrove, the reference implementation of these
rules, segments with jieba (Chinese, through spaCy), Sudachi mode C (Japanese, through spaCy) and
PyThaiNLP's ``newmm-safe`` (Thai); tailmine uses the same segmenters, without spaCy:

* ``jieba``: ``rjieba``, the Python binding of jieba-rs (jieba's algorithm and dictionary, in Rust);
* ``sudachi``: ``sudachipy`` with ``sudachidict-core``, split mode C (the spaCy Japanese default);
* ``pythainlp``: PyThaiNLP's ``newmm-safe`` (dictionary maximal matching, bounded on long inputs);
* ``characters``: one token per character, no dependency (the fallback a config can choose).

A segmenter is loaded lazily, once per worker; :meth:`Segmenters.check` runs at the stage's start so a
missing package is a clear error before any document is read, not a crash mid-run.
``benchmarks/filters.py`` measures each segmenter's speed and the rule agreement with datatrove.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable, Optional

import numpy as np

from tailmine.errors import ConfigError

SEGMENTERS = {
    "jieba": ("rjieba", "pip install rjieba"),
    "sudachi": ("sudachipy", "pip install sudachipy sudachidict-core"),
    "pythainlp": ("pythainlp", "pip install pythainlp"),
    "characters": (None, ""),
}
"""Segmenter name -> (module it needs, how to install it)."""
DEFAULT_SEGMENTERS = {"zh": "jieba", "ja": "sudachi", "th": "pythainlp"}

_SUDACHI_MAX_CHARS = 8000  # Sudachi refuses inputs over 49,149 bytes; 8,000 characters is <= 32,000 bytes


# Python jieba (datatrove's) cuts a run of non-Han characters that is not in its dictionary with this
# pattern (jieba/finalseg re_skip): "2012-06-04" -> 2012 - 06 - 04, "www.041696.com" -> www.041696 . com;
# jieba-rs keeps such runs whole, so its non-Han tokens are cut again the same way.
_JIEBA_SKIP = re.compile(r"([a-zA-Z0-9]+(?:\.\d+)?%?)")
_ALNUM_OR_HAN = re.compile(r"[a-zA-Z0-9]+|.*[\u4e00-\u9fd5].*", re.S)


def _load_jieba() -> Callable[[str], Iterable[tuple[int, int]]]:
    import rjieba

    def spans(text: str):
        for word, s, e in rjieba.tokenize(text):
            if e - s == 1 or _ALNUM_OR_HAN.fullmatch(word):
                yield s, e
                continue
            for piece in _JIEBA_SKIP.split(word):
                if piece:
                    yield s, s + len(piece)
                    s += len(piece)

    return spans


# A number's inner separators, as tailmine's word splitter keeps them between digits
# (tailmine.filters.text: "3.14", "1,000", "10:30", "1/2").
_NUMBER_SEPARATORS = frozenset(".,:/")


def _is_digits(token: str) -> bool:
    return token.isascii() and token.isdigit()


def merge_number_runs(text: str, spans: Iterable[tuple[int, int]]) -> Iterable[tuple[int, int]]:
    """Join adjacent tokens that spell one number: ASCII digit runs with a single ``.``, ``,``, ``:`` or
    ``/`` between them and no space (``1.2.3``, ``192.168.0.1``, ``10:30``) become one token.

    Sudachi cuts every number at its separators (``1.2.3`` -> ``1 . 2 . 3``): a table of contents or a
    version list then reads as three digit "words" per entry, against one in English, and fails the
    letter-word rule on numbering alone. English, jieba and this merge count such a number once."""
    pending: list[tuple[int, int]] = []  # a number being built: digit, sep, digit, ... (ends on digits)

    def flush():
        if not pending:
            return
        # A trailing separator is not part of the number ("1." at a sentence end).
        last_digits = max(i for i, (s, e) in enumerate(pending) if _is_digits(text[s:e]))
        if last_digits > 0:
            yield pending[0][0], pending[last_digits][1]
        else:
            yield pending[0]
        yield from pending[last_digits + 1 :]
        pending.clear()

    for s, e in spans:
        token = text[s:e]
        if pending and s == pending[-1][1]:
            prev = text[pending[-1][0] : pending[-1][1]]
            if (_is_digits(prev) and token in _NUMBER_SEPARATORS) or (prev in _NUMBER_SEPARATORS and _is_digits(token)):
                pending.append((s, e))
                continue
        yield from flush()
        if _is_digits(token):
            pending.append((s, e))
        else:
            yield s, e
    yield from flush()


def _load_sudachi() -> Callable[[str], Iterable[tuple[int, int]]]:
    from sudachipy import Dictionary, SplitMode

    tokenizer = Dictionary().create(SplitMode.C)

    def spans(text: str):
        for offset, chunk in _chunks(text, _SUDACHI_MAX_CHARS):
            cut = ((offset + m.begin(), offset + m.end()) for m in tokenizer.tokenize(chunk))
            yield from merge_number_runs(text, cut)

    return spans


def _load_pythainlp() -> Callable[[str], Iterable[tuple[int, int]]]:
    from pythainlp.tokenize import word_tokenize

    def spans(text: str):
        pos = 0
        for token in word_tokenize(text, engine="newmm-safe", keep_whitespace=True):
            yield pos, pos + len(token)
            pos += len(token)

    return spans


_LOADERS = {"jieba": _load_jieba, "sudachi": _load_sudachi, "pythainlp": _load_pythainlp}


def _chunks(text: str, size: int):
    """(offset, piece) of ``text`` in pieces of at most ``size`` characters, cut after a newline where
    there is one (so no word is cut in two)."""
    start = 0
    n = len(text)
    while start < n:
        end = min(n, start + size)
        if end < n:
            cut = text.rfind("\n", start, end)
            if cut > start:
                end = cut + 1
        yield start, text[start:end]
        start = end


class Segmenters:
    """``spans(text, lang)``: token (start, end) character offsets by the language's segmenter, or None
    when the language has none configured (the caller's own tokenizer applies). Whitespace-only tokens
    are dropped, as datatrove's ``strip_strings`` does."""

    def __init__(self, assignment: Optional[dict[str, str]] = None):
        self.assignment = dict(DEFAULT_SEGMENTERS if assignment is None else assignment)
        self._loaded: dict[str, Callable] = {}

    def check(self, languages: Optional[Iterable[str]] = None) -> None:
        """Import the segmenter of every language in ``languages`` (all configured ones when None);
        a missing package is a ConfigError that says what to install or configure instead."""
        for lang in sorted(self.assignment if languages is None else set(languages) & set(self.assignment)):
            self._segmenter(lang)

    def _segmenter(self, lang: str) -> Optional[Callable]:
        name = self.assignment.get(lang)
        if name is None or name == "characters":
            return None
        fn = self._loaded.get(name)
        if fn is None:
            module, install = SEGMENTERS[name]
            try:
                fn = _LOADERS[name]()
            except ImportError as exc:
                raise ConfigError(
                    f"filter: language {lang!r} is segmented with {name!r}, which needs the package {module!r} "
                    f"({exc}): {install}, or set 'segmenters: {{{lang}: characters}}' in the filter config"
                ) from None
            self._loaded[name] = fn
        return fn

    def spans(self, text: str, lang: str) -> Optional[tuple[np.ndarray, np.ndarray]]:
        fn = self._segmenter(lang)
        if fn is None:
            return None
        starts, ends = [], []
        for s, e in fn(text):
            if e > s and not text[s:e].isspace():
                starts.append(s)
                ends.append(e)
        return np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)

    def __getstate__(self):  # picklable: segmenters are reloaded on the worker
        return {"assignment": self.assignment, "_loaded": {}}
