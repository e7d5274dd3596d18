"""Language ID and the filter's fairness across languages, on real translated documentation: Debian's
installation guide and Debian Administrator's Handbook, one page per language per section, labelled by the
translation folder (never by a language identifier). See benchmarks/translations.py."""
from __future__ import annotations

import collections

from tailmine.filters.langid import LanguageIdentifier

PARITY_LANGUAGES_REQUIRED = {"zh", "ja", "ar", "ru"}
MIN_PAIRS = 10
"""A language's parity is judged where it has at least this many sections whose English page is kept."""


def test_corpus_is_real_labelled_and_large(translations):
    pages = translations.pages
    per_lang = collections.Counter(p["lang"] for p in pages)
    assert len(pages) >= 2000 and sum(n >= 20 for n in per_lang.values()) >= 15, per_lang
    assert len({p["id"] for p in pages}) == len(pages)
    assert {"zh", "ja", "ar", "ru", "en"} <= set(per_lang)
    assert all(len(p["text"]) >= translations.MIN_CHARS for p in pages)


def test_language_id_accuracy_on_translated_pages(translations):
    """fastText lid.176: >= 96.5% of >= 2,000 real pages in >= 15 languages (measured 99.4%, py3langid 99.2%,
    BENCHMARKS.md), and no language with >= 20 pages under 95%."""
    pages = translations.pages
    accuracy, per_lang, misses = translations.lid_accuracy(pages, LanguageIdentifier().identify)
    assert accuracy >= 0.965, (accuracy, misses[:20])
    counts = collections.Counter(p["lang"] for p in pages)
    weak = {lang: a for lang, a in per_lang.items() if counts[lang] >= 20 and a < 0.95}
    assert not weak, weak


def test_language_id_is_faster_per_page_than_py3langid(translations):
    """Same pages, same 4,000-character sample, CPU time, best of 3 with the two alternating (measured 3.7x
    in benchmarks/translations.py; asserted only as faster, the machine is shared)."""
    import time

    from py3langid.langid import MODEL_FILE, LanguageIdentifier as Py3LangId

    texts = [p["text"] for p in translations.pages[::20]]
    fasttext_lid = LanguageIdentifier()
    fasttext_lid.setup()
    py3 = Py3LangId.from_model_file(MODEL_FILE, norm_probs=True)
    best = {"fasttext": float("inf"), "py3langid": float("inf")}
    for _ in range(3):
        for name, fn in (("fasttext", fasttext_lid.identify), ("py3langid", lambda t: py3.classify(t[:4000]))):
            start = time.process_time()
            for text in texts:
                fn(text)
            best[name] = min(best[name], time.process_time() - start)
    assert best["fasttext"] < best["py3langid"], best


def test_translations_are_kept_where_the_english_page_is(translations):
    """Issue 15's parity: where ``tailmine filter`` defaults keep the English page of a section, >= 90% of
    its translations are kept, per language, for every language with >= 10 such sections (>= 8 languages,
    Chinese, Japanese, Arabic and Russian among them)."""
    pages = translations.pages
    decisions = translations.filter_decisions(pages)
    assert sum(decisions[p["id"]] is None for p in pages if p["lang"] == "en") >= 100
    parity = {lang: par for lang, par in translations.translation_parity(pages, decisions).items() if par.pairs >= MIN_PAIRS}
    assert len(parity) >= 8 and PARITY_LANGUAGES_REQUIRED <= set(parity), sorted(parity)
    below = {lang: (f"{par.kept}/{par.pairs}", par.reasons) for lang, par in parity.items() if par.rate < 0.9}
    assert not below, below


def test_untranslated_pages_are_told_by_copied_english_prose_not_by_commands(translations):
    english = ("Debian is a free operating system and this is the installation guide for it.\n"
               "apt-get install --no-install-recommends openssh-server\n"
               "You can use the network to install the rest of the system on your computer.")
    commands_kept = ("Debian ist ein freies Betriebssystem und dies ist die Installationsanleitung.\n"
                     "apt-get install --no-install-recommends openssh-server\n"
                     "Sie können das Netzwerk verwenden, um den Rest des Systems zu installieren.")
    partial = ("Debian ist ein freies Betriebssystem und dies ist die Installationsanleitung.\n"
               "You can use the network to install the rest of the system on your computer.")
    assert translations.english_share(commands_kept, english) == 0.0
    assert translations.english_share(partial, english) > translations.UNTRANSLATED_SHARE
    assert translations.english_share("", english) == 0.0
    assert translations.lid_code("zh_CN") == translations.lid_code("zh-TW") == "zh"
    assert (translations.lid_code("ar-MA"), translations.lid_code("nb-NO"), translations.lid_code("pt-BR")) == ("ar", "no", "pt")
