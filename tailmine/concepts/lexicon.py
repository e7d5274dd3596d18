"""What a word, a phrase and an entity span are for concept extraction: one definition for both extractors.

Why its own module: the per-string extractors (:mod:`tailmine.concepts.extract`, the reference) and the
compiled kernels (:mod:`tailmine.concepts.fast`, which build per-code-point class tables from these
classes) must agree on every boundary, so both read the classes from here rather than from each other.

* Tokens: one CJK ideograph or kana is a token on its own (no spaces between words in those
  scripts); any other run of letters, marks and digits is a word (:data:`TOKEN`).
* Phrases: n-grams do not cross :data:`BREAK` (sentence and clause punctuation, blank lines, dashes
  between spaces).
* Entity spans: capitalised words (:data:`CAP`), possibly joined by :data:`CONNECT_WORDS`
  (``Bank of England``); :data:`SENTENCE_END` marks where a capitalised word only opens a sentence.
* Normalisation: NFKC + case folding (longtail-methods.md §1.2).
"""
from __future__ import annotations

import regex

from tailmine import textnorm

#: English function words. n-grams may not start or end with one, and none is a unigram concept.
STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up upon very was we were what when where which while who whom why will
    with would you your yours yourself yourselves shall may might must one two us let said says yes
    per via vs etc""".split()
)

CJK_SCRIPTS = r"\p{Han}\p{Hiragana}\p{Katakana}"
"""Scripts whose every character is a token (inside a ``regex`` character class)."""
CJK_CHAR = regex.compile(rf"[{CJK_SCRIPTS}]", regex.V1)
WORD_CHAR = regex.compile(rf"[^\W_{CJK_SCRIPTS}]", regex.V1)
"""A character of a word of a spaced script: letters, marks and digits (``_`` is not one)."""
TOKEN = regex.compile(rf"{CJK_CHAR.pattern}|{WORD_CHAR.pattern}+", regex.V1)

PHRASE_PUNCT = r"[.!?;:,()\[\]{}\"“”«»|/\\]"
"""Punctuation that separates phrases."""
DASH = r"[-–—]"
BREAK = regex.compile(rf"{PHRASE_PUNCT}+|\n\s*\n|\s{DASH}+\s")

CAP_TAIL = r"[\p{L}\p{M}'’\-]"
CAP = rf"\p{{Lu}}{CAP_TAIL}*"
"""A capitalised word: an upper-case letter, then letters, marks, apostrophes and hyphens."""
CONNECT_WORDS = ("of", "the", "de", "la", "le", "du", "des", "del", "von", "van", "der", "den", "da", "di", "y", "and", "&")
"""Lower-case words that may join capitalised words inside one entity span."""
CONNECT = "(?:" + "|".join(CONNECT_WORDS) + ")"
SPAN = regex.compile(rf"{CAP}(?:[ \t]+(?:{CONNECT}[ \t]+)*{CAP})*")
SENTENCE_END = frozenset(".!?:;\"“”'‘’()[]")
"""The last non-space character before a sentence's first word."""


def normalize(text: str) -> str:
    """NFKC + case folding: the decontamination normalisation of longtail-methods.md §1.2."""
    return textnorm.normalize(text, casefold=True, collapse_spaces=False)


def tokens(text: str) -> list[str]:
    """Normalised word tokens; CJK characters are single tokens."""
    return TOKEN.findall(normalize(text))


def phrases(text: str) -> list[list[str]]:
    """Token lists of the phrases of ``text`` (split at sentence and clause punctuation)."""
    return [t for t in (TOKEN.findall(part) for part in BREAK.split(normalize(text))) if t]
