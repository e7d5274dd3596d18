"""The filter rules: each a name (= the drop reason), the signal column it reads, a comparison and the
published default threshold, with its source. Thresholds live in :class:`tailmine.filters.config.FilterConfig`
(per rule, overridable per source kind and per language); signals never change when a threshold does.

Which rules apply, and at what threshold, depends on what a document is. The layers, each over the one
before (:func:`builtin_thresholds`): the published defaults (:data:`RULES`) < the source kind's policy
(:data:`SOURCE_DEFAULTS`: a book is not a web page) < the language's (:func:`language_defaults`: C4 is an
English web-page filter; word length means something else in Chinese). A config's own values come on top
of all built-in layers (:class:`tailmine.filters.config.FilterConfig`).

A rule ``min`` drops a document whose signal is below the threshold, ``max`` one whose signal is above it.
A threshold of ``None`` switches the rule off (for that language). A NaN signal (not defined for the
document, e.g. the stop-word count of a language without a stop-word list) never fails a rule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Rule:
    name: str
    """Drop reason, snake_case."""
    signal: str
    """Signal column the rule reads (with its version suffix)."""
    op: str
    """'min': keep signal >= threshold; 'max': keep signal <= threshold."""
    default: Optional[float]
    source: str
    """Where the default comes from."""

    def fails(self, value: Optional[float], threshold: Optional[float]) -> bool:
        if threshold is None or value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return value < threshold if self.op == "min" else value > threshold


GOPHER = "Gopher, Rae et al. 2021 (arXiv 2112.11446) §A.1.1 / Table A1; datatrove defaults"
C4 = "C4, Raffel et al. 2020 (JMLR 21:140) §2.2; datatrove C4QualityFilter defaults"
FINEWEB = "FineWeb, Penedo et al. 2024 (arXiv 2406.17557) §3.3; datatrove FineWebQualityFilter defaults"
BOOKS = "tailmine book policy (measured on the 128 shared Gutenberg books, BENCHMARKS.md 'Filters: books')"

RULES: tuple[Rule, ...] = (
    Rule("lang_low_score", "lang_score", "min", 0.0, "FineWeb keeps lang_score >= 0.65 with fastText; off by default here"),
    # Gopher repetition, checked first as in datatrove's FineWeb pipeline.
    Rule("gopher_dup_para_frac", "gopher_dup_para_frac_v1", "max", 0.30, GOPHER + ": duplicate paragraph fraction 0.30"),
    Rule("gopher_dup_para_char_frac", "gopher_dup_para_char_frac_v1", "max", 0.20, GOPHER + ": duplicate paragraph character fraction 0.20"),
    Rule("gopher_dup_line_frac", "gopher_dup_line_frac_v1", "max", 0.30, GOPHER + ": duplicate line fraction 0.30"),
    Rule("gopher_dup_line_char_frac", "gopher_dup_line_char_frac_v1", "max", 0.20, GOPHER + ": duplicate line character fraction 0.20"),
    Rule("gopher_top_2gram", "gopher_top_2gram_char_frac_v1", "max", 0.20, GOPHER + ": top 2-gram character fraction 0.20"),
    Rule("gopher_top_3gram", "gopher_top_3gram_char_frac_v1", "max", 0.18, GOPHER + ": top 3-gram character fraction 0.18"),
    Rule("gopher_top_4gram", "gopher_top_4gram_char_frac_v1", "max", 0.16, GOPHER + ": top 4-gram character fraction 0.16"),
    Rule("gopher_dup_5gram", "gopher_dup_5gram_char_frac_v1", "max", 0.15, GOPHER + ": duplicate 5-gram character fraction 0.15"),
    Rule("gopher_dup_6gram", "gopher_dup_6gram_char_frac_v1", "max", 0.14, GOPHER + ": duplicate 6-gram character fraction 0.14"),
    Rule("gopher_dup_7gram", "gopher_dup_7gram_char_frac_v1", "max", 0.13, GOPHER + ": duplicate 7-gram character fraction 0.13"),
    Rule("gopher_dup_8gram", "gopher_dup_8gram_char_frac_v1", "max", 0.12, GOPHER + ": duplicate 8-gram character fraction 0.12"),
    Rule("gopher_dup_9gram", "gopher_dup_9gram_char_frac_v1", "max", 0.11, GOPHER + ": duplicate 9-gram character fraction 0.11"),
    Rule("gopher_dup_10gram", "gopher_dup_10gram_char_frac_v1", "max", 0.10, GOPHER + ": duplicate 10-gram character fraction 0.10"),
    # Gopher quality.
    Rule("gopher_short_doc", "gopher_words_v1", "min", 50, GOPHER + ": 50 to 100,000 words"),
    Rule("gopher_long_doc", "gopher_words_v1", "max", 100_000, GOPHER + ": 50 to 100,000 words"),
    Rule("gopher_below_avg_word_length", "gopher_mean_word_length_v1", "min", 3, GOPHER + ": mean word length 3 to 10 characters"),
    Rule("gopher_above_avg_word_length", "gopher_mean_word_length_v1", "max", 10, GOPHER + ": mean word length 3 to 10 characters"),
    Rule("gopher_too_many_hashes", "gopher_hash_ratio_v1", "max", 0.1, GOPHER + ": symbol-to-word ratio 0.1 for '#'"),
    Rule("gopher_too_many_ellipsis", "gopher_ellipsis_ratio_v1", "max", 0.1, GOPHER + ": symbol-to-word ratio 0.1 for ellipsis"),
    Rule("gopher_too_many_bullets", "gopher_bullet_lines_ratio_v1", "max", 0.9, GOPHER + ": at most 90% of lines start with a bullet"),
    Rule("gopher_too_many_end_ellipsis", "gopher_end_ellipsis_lines_ratio_v1", "max", 0.3, GOPHER + ": at most 30% of lines end with an ellipsis"),
    Rule("gopher_below_alpha_threshold", "gopher_alpha_words_ratio_v1", "min", 0.8, GOPHER + ": 80% of words contain an alphabetic character"),
    Rule("gopher_too_few_stop_words", "gopher_stop_words_v1", "min", 2, GOPHER + ": at least 2 of the 8 stop words"),
    # C4.
    Rule("c4_lorem_ipsum", "c4_lorem_ipsum_v1", "max", 0, C4 + ": pages with 'lorem ipsum' removed"),
    Rule("c4_curly_bracket", "c4_curly_bracket_v1", "max", 0, C4 + ": pages with a curly bracket removed"),
    Rule("c4_too_few_sentences", "c4_sentences_v1", "min", 5, C4 + ": pages with fewer than 5 sentences removed"),
    # FineWeb.
    Rule("fineweb_line_punct_ratio", "fineweb_line_punct_ratio_v1", "min", 0.12, FINEWEB + ": >= 12% of lines end in punctuation"),
    Rule("fineweb_short_line_ratio", "fineweb_short_line_ratio_v1", "max", 0.67, FINEWEB + ": <= 67% of lines of 30 characters or fewer"),
    Rule("fineweb_char_dup_ratio", "fineweb_char_dup_ratio_v1", "max", 0.01, FINEWEB + ": <= 1% of characters in duplicated lines"),
    Rule("fineweb_list_ratio", "fineweb_list_ratio_v1", "max", 0.3, FINEWEB + ": newlines / words <= 0.3"),
    # Gopher's 80% of words with a letter, counted as datatrove counts it (punctuation tokens are words), is
    # mostly a measure of punctuation per word, which differs by language (Russian and German prose carry
    # more commas per word than English; Arabic has its own comma). For languages other than English the
    # rule counts words only (tokens of punctuation or format marks left out): see language_defaults.
    Rule("too_few_letter_words", "alpha_words_ratio_v1", "min", None,
         "Gopher's alphabetic-word rule without punctuation tokens; 0.955 drops the same share (13%) of tailmine's "
         "English reference pages as Gopher's 0.8 does (quantile matching, FineWeb2 §3.3; BENCHMARKS.md 'Filters')"),
    # Junk on a long document's own scale: off by default, the book policy switches it on.
    Rule("junk_window_frac", "junk_window_frac_v1", "max", None,
         BOOKS + ": share of 1,000-word windows that are junk (number tables, index pages, OCR noise) <= 0.5"),
)
RULES_BY_NAME = {r.name: r for r in RULES}

_OFF = None
C4_RULES = tuple(r.name for r in RULES if r.name.startswith("c4_"))

SOURCE_KINDS = ("web", "book", "text", "jsonl", "parquet")
"""What a document is, for the filter policy: a web page (WARC, WET, HTML), a book (Gutenberg), a plain
text file, or a record of a JSONL/Parquet dataset (CCNet, C4 and Dolma dumps are web pages, so these keep
the web policy unless a config or ``--source-kind`` says otherwise)."""
SOURCE_KIND_OF = {"warc": "web", "wet": "web", "html": "web", "gutenberg": "book", "text": "text",
                  "jsonl": "jsonl", "parquet": "parquet"}
"""The ingest ``source`` column -> source kind; a value not listed is judged as a web page."""

SOURCE_DEFAULTS: dict[str, dict[str, Optional[float]]] = {
    "web": {},  # the published rules were written for web pages
    "book": {
        # Gopher's quality filter was applied to MassiveWeb only (Rae et al. 2021 §A.1.1, "MassiveWeb"):
        # its 100,000-word cap is a web-page limit; a novel is 100,000 words or more.
        "gopher_long_doc": _OFF,
        # Gutenberg hard-wraps prose at ~70 columns: most lines end mid-sentence and many are short, and a
        # verse or play line is short by design. FineWeb's line rules (Penedo et al. 2024 §3.3) were
        # fitted to web pages, where such lines are menus; on the 128 shared books they dropped 64.
        "fineweb_line_punct_ratio": _OFF,
        "fineweb_short_line_ratio": _OFF,
        "fineweb_list_ratio": _OFF,
        # FineWeb's 1% duplicated-line characters catches repeated navigation on a page; in a book the
        # repeated lines are chapter headings, speaker names and refrains. Gopher's duplicate-line
        # fractions (0.30 of lines, 0.20 of characters, Rae et al. Table A1) still apply, on the whole book.
        "fineweb_char_dup_ratio": _OFF,
        # C4 (Raffel et al. 2020 §2.2) filters Common Crawl pages: '{' marks code on a web page, but
        # appears in books' footnotes and letters; its sentence count is a web-page measure.
        **{name: _OFF for name in C4_RULES},
        # Gopher's 80% of tokens with a letter counts punctuation tokens: dialogue-heavy prose and
        # plays sit at 0.70-0.80 (11 of the 128 books fall under 0.8). Junk is judged on the book's own
        # scale instead: the share of its 1,000-word windows that are junk.
        "gopher_below_alpha_threshold": _OFF,
        "junk_window_frac": 0.5,
    },
    # A plain text file is not a web page: C4's page rules do not fit it (no markup, no menus).
    "text": {name: _OFF for name in C4_RULES},
    "jsonl": {},
    "parquet": {},
}
"""Built-in policy per source kind, over the published defaults; a config's ``sources`` section is
applied on top (after every built-in layer)."""

C4_LANGUAGES = frozenset({"en"})
"""C4's page rules (Raffel et al. 2020 §2.2) were defined for English pages: lines ending in one of
``. ? ! " '`` and 5 sentences by an English sentence splitter. mC4 (Xue et al. 2021, §2) dropped them for
its other languages, so they run only where they fit."""

FINEWEB_ENGLISH_LINE_LANGUAGES = frozenset({"en"})
"""Where FineWeb's short-line rule and its 1% duplicated-line characters run as published (Penedo et al.
2024 §3.3, fitted on English). FineWeb2, the same authors' per-language pipeline (Penedo et al. 2025,
arXiv 2506.20920; ``fineweb-2-pipeline.py`` in huggingface/fineweb-2), runs ``FineWebQualityFilter`` for
every other language with ``short_line_thr=999`` ("we disable this filter") and ``char_duplicates_ratio=0.1``
("we changed this from 0.01 in fineweb english"): a line of 30 characters carries several times more in
Chinese or Japanese than in English, and the same repeated command or heading is a larger share of a text
written in fewer characters. See :data:`FINEWEB2_CHAR_DUP_RATIO`."""
FINEWEB2_CHAR_DUP_RATIO = 0.1

GOPHER_ALPHA_LANGUAGES = frozenset({"en"})
"""Where Gopher's alphabetic-word rule runs as datatrove counts it; elsewhere ``too_few_letter_words``."""
LETTER_WORDS_THRESHOLD = 0.955

UNSPACED_CHARACTER_LANGUAGES = frozenset({"lo", "km", "my", "bo"})
"""Unspaced scripts without a word segmenter here: one token per character (see
:mod:`tailmine.filters.segment` for Chinese, Japanese and Thai)."""
SEGMENTED_LANGUAGES = frozenset({"zh", "ja", "th"})


def language_defaults(lang: str) -> dict[str, Optional[float]]:
    """Built-in overrides for documents identified as ``lang``."""
    out: dict[str, Optional[float]] = {}
    if lang not in C4_LANGUAGES:
        out.update({name: _OFF for name in C4_RULES})
    if lang not in FINEWEB_ENGLISH_LINE_LANGUAGES:
        out["fineweb_short_line_ratio"] = _OFF
        out["fineweb_char_dup_ratio"] = FINEWEB2_CHAR_DUP_RATIO
    if lang not in GOPHER_ALPHA_LANGUAGES:
        out["gopher_below_alpha_threshold"] = _OFF
        out["too_few_letter_words"] = LETTER_WORDS_THRESHOLD
    if lang in SEGMENTED_LANGUAGES or lang in UNSPACED_CHARACTER_LANGUAGES:
        # Words of Chinese and Japanese are 1-3 characters (Thai 2-4): Gopher's 3-10 character mean word
        # length was fitted to English (Rae et al. Table A1).
        out["gopher_below_avg_word_length"] = _OFF
        out["gopher_above_avg_word_length"] = _OFF
    if lang in UNSPACED_CHARACTER_LANGUAGES:
        out["gopher_too_few_stop_words"] = _OFF  # no words, no stop words
        out["gopher_short_doc"] = 100  # one token per character: 100 characters
    return out


def builtin_thresholds(kind: str, lang: str) -> dict[str, Optional[float]]:
    """Published defaults < source kind < language: the built-in threshold of every rule. A rule the
    source kind switches off stays off whatever the language's layer says (FineWeb2's 10% duplicated-line
    characters outside English must not switch the rule back on for a book)."""
    out = {r.name: r.default for r in RULES}
    source = SOURCE_DEFAULTS[kind]
    out.update(source)
    out.update({name: value for name, value in language_defaults(lang).items() if not (name in source and source[name] is None)})
    return out


# Language codes a config may name: ISO 639-1, plus the labels of the language identifiers tailmine
# runs (py3langid, fastText lid.176), plus 'und' (undetermined).
_ISO_639_1 = (
    "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de "
    "dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id "
    "ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu "
    "lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu "
    "rm rn ro ru rw sa sc sd se sg sh si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to "
    "tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu"
)
_IDENTIFIER_LABELS = (
    "ace als ary arz ast azb bar bcl bpy bxr cbk ceb ckb crh diq dsb dty eml ext frr fuv gcf gcr gom grc "
    "gug guw hbo hif hsb ilo jbo kab kik krc lez lij lmo lrc ltg mai mhr min mrj mwl myv mzn nah nap nds "
    "new nso pam pcm pfl pms pnb rue sah scn sco sdh tyv uzs vec vep vls war wuu xal xmf yue zxx und"
)
KNOWN_LANGUAGES = frozenset(_ISO_639_1.split()) | frozenset(_IDENTIFIER_LABELS.split())
