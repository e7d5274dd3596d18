"""The one normaliser and the one table of scripts written without spaces, against plain oracles."""
import gzip
import re
import unicodedata

import numpy as np
import pytest
from numba import njit

from tailmine.textnorm import UNSPACED_RANGES, is_unspaced, nfkc, normalize, unspaced_class

ADVERSARIAL = [
    "", " ", "\u00a0\u2003\t\n\r\x0b\x0c\x1c\u3000", "ﬁ ligature Ⅻ ①", "Straße ΣΊΣΥΦΟΣ İstanbul", "e\u0301 vs é",
    "“curly” ‘quotes’ — dashes – and_under_scores", "\ud800 lone surrogate", "日本語 ﾃｷｽﾄ ｶﾀｶﾅ", "ภาษาไทย\u200bไทย",
]


@njit(cache=True)
def _unspaced_all(n):
    out = np.zeros(n, np.bool_)
    for cp in range(n):
        out[cp] = is_unspaced(cp)
    return out


def test_compiled_check_and_regex_class_are_the_same_table():
    kernel = _unspaced_all(0x110000)
    table = np.zeros(0x110000, np.bool_)
    for lo, hi in UNSPACED_RANGES:
        table[lo : hi + 1] = True
    assert np.array_equal(kernel, table)
    pattern = re.compile(f"[{unspaced_class()}]")
    sample = [cp for lo, hi in UNSPACED_RANGES for cp in (lo - 1, lo, hi, hi + 1)] + list(range(0, 0x3100, 7))
    for cp in sample:
        assert bool(pattern.fullmatch(chr(cp))) == bool(table[cp]), hex(cp)


def test_filters_and_dedup_use_the_table():
    from tailmine.filters.text import F_NS, char_table

    ns = (char_table() & F_NS) != 0
    assert np.array_equal(ns, _unspaced_all(0x110000))


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_each_form_equals_its_definition(text):
    nf = unicodedata.normalize("NFKC", text)
    assert nfkc(text) == nf
    assert normalize(text) == " ".join(nf.lower().split())
    assert normalize(text, casefold=True, collapse_spaces=False) == nf.casefold()
    fold = (("’", "'"), ("“", '"'), ("”", '"'), ("—", "-"), ("_", ""))
    expected = nf
    for old, new in fold:
        expected = expected.replace(old, new)
    assert normalize(text, replace=fold) == " ".join(expected.lower().split())


def test_callers_keep_their_forms_on_real_text(corpora):
    from tailmine.classifiers.text import _FOLD, normalize_text
    from tailmine.concepts.lexicon import normalize as concept_normalize
    from tailmine.dedup.minhash import normalize as dedup_normalize

    text = gzip.open(corpora / "reference/wikitext-2-test.txt.gz", "rt", encoding="utf-8").read()[:150_000]
    assert dedup_normalize(text) == " ".join(unicodedata.normalize("NFKC", text).lower().split())
    assert concept_normalize(text) == unicodedata.normalize("NFKC", text).casefold()
    assert "\n \n" in concept_normalize(text)  # phrase breaks need the (blank) lines
    folded = unicodedata.normalize("NFKC", text + "_x")
    for old, new in _FOLD:
        folded = folded.replace(old, new)
    assert normalize_text(text + "_x") == " ".join(folded.lower().split())
    assert normalize_text("A_b  c") == "ab c"  # ASCII text: only the underscore is folded
