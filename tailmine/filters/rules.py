"""The filter rules: each a name (= the drop reason), the signal column it reads, a comparison and the
published default threshold, with its source. Thresholds live in :class:`tailmine.filters.config.FilterConfig`
(per rule, overridable per language); signals never change when a threshold does.

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
)
RULES_BY_NAME = {r.name: r for r in RULES}

LANGUAGE_DEFAULTS: dict[str, dict[str, Optional[float]]] = {
    # Word length and stop words mean nothing for per-character tokens; C4's sentence count needs spaces.
    lang: {
        "gopher_below_avg_word_length": None,
        "gopher_above_avg_word_length": None,
        "gopher_too_few_stop_words": None,
        "gopher_short_doc": 100,  # one token per character: 100 characters
    }
    for lang in ("zh", "ja", "th", "lo", "km", "my", "bo")
}
"""Built-in per-language overrides; a config's ``languages`` section is applied on top."""
