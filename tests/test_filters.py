"""Filter stage: tokenizer, quality signals and rules, PII, language ID, config, the Beam stage."""
import gzip
import re
import json
import os
import tarfile

import pyarrow as pa
import pytest

from conftest import TEST_BEAM_ARGS
from tailmine.errors import ConfigError
from tailmine.filters.config import FilterConfig
from tailmine.filters.langid import LanguageIdentifier
from tailmine.filters.pii import redact
from tailmine.filters.quality import quality_signals
from tailmine.filters.rules import RULES_BY_NAME
from tailmine.filters.text import split_words


def _fails(rule, text, lang="en"):
    r = RULES_BY_NAME[rule]
    return r.fails(quality_signals(text, lang)[r.signal[:-3]], r.default)


def _book(corpora, name="205-0.txt.gz", start=60000, size=6000):
    import re

    text = gzip.open(corpora / "books" / "gutenberg" / name, "rt", encoding="utf-8-sig").read()[start : start + size]
    return re.sub(r"(?<!\n)\n(?!\n)", " ", text)  # reflow hard-wrapped book lines into paragraphs, as on the web


def test_split_words_follows_spacy_boundaries():
    assert split_words("I don't know. It's O'Brien's well-known U.S. dont 3.14 ... 你好") == [
        "I", "do", "n't", "know", ".", "It", "'s", "O'Brien", "'s", "well", "-", "known", "U.S.", "do", "nt", "3.14", "...", "你", "好"
    ]
    assert split_words("") == []


def test_each_gopher_c4_fineweb_rule_passes_real_prose_and_fails_its_counterexample(corpora):
    prose = _book(corpora)
    for rule in ("gopher_short_doc", "gopher_dup_line_frac", "gopher_top_2gram", "gopher_dup_5gram", "gopher_too_few_stop_words",
                 "gopher_below_alpha_threshold", "gopher_too_many_hashes", "gopher_too_many_end_ellipsis",
                 "gopher_below_avg_word_length", "c4_lorem_ipsum", "c4_curly_bracket"):
        assert not _fails(rule, prose), rule
    assert _fails("gopher_short_doc", prose[:200])
    assert _fails("gopher_dup_line_frac", "\n".join([prose[:80]] * 10))
    assert _fails("gopher_top_2gram", "buy now " * 200)
    assert _fails("gopher_dup_5gram", prose[:1500] * 3)
    assert _fails("gopher_too_few_stop_words", re.sub(r"\b(?:the|be|to|of|and|that|have|with)\b", "", prose, flags=re.I))
    assert _fails("gopher_below_alpha_threshold", " ".join(str(i) for i in range(300)))
    assert _fails("gopher_too_many_hashes", prose + " #tag" * 200)
    assert _fails("gopher_too_many_end_ellipsis", "\n".join(line + "..." for line in prose.splitlines()))
    assert _fails("c4_lorem_ipsum", prose + "\nLorem ipsum dolor sit amet, consectetur.")
    assert _fails("c4_curly_bracket", prose + "\nfunction f() { return 1; } is a snippet here.")
    assert _fails("c4_too_few_sentences", "One line only without end")
    assert _fails("fineweb_short_line_ratio", "\n".join(prose.split()[:300]))
    assert _fails("fineweb_char_dup_ratio", prose + ("\n" + prose[:300]) * 3)


def test_rules_are_language_aware_for_chinese():
    zh = "今天天气很好，我们去公园散步。" * 20
    s = quality_signals(zh, "zh")
    assert s["gopher_words"] > 100  # one word per character
    cfg = FilterConfig()
    table = cfg.threshold_table()
    assert table["zh"]["gopher_too_few_stop_words"] is None and table["zh"]["gopher_below_avg_word_length"] is None
    assert s["gopher_stop_words"] != s["gopher_stop_words"]  # NaN: no stop-word list for zh


def test_pii_redaction_counts_per_type():
    text, counts = redact("Mail jane.doe@example.org or call +1-202-555-0143 / (202) 555-0143 from 192.168.1.20 on 2024-05-01, v1.2.3.")
    assert counts == {"email": 1, "ip": 1, "phone": 2}
    assert "<EMAIL>" in text and "<IP_ADDRESS>" in text and text.count("<PHONE>") == 2 and "2024-05-01" in text and "1.2.3" in text
    assert redact("")[1] == {"email": 0, "ip": 0, "phone": 0}


def test_language_id_on_real_multilingual_pages(corpora, tmp_path):
    from tailmine.ingest.extract import get_extractor

    with tarfile.open(corpora / "web" / "html" / "trafilatura-eval-pages.tar.gz") as tar:
        names = json.load(tar.extractfile("evaldata.json")) if "evaldata.json" in tar.getnames() else None
    ident = LanguageIdentifier()
    assert ident.identify("")[0] == "und"
    assert ident.identify("Das ist ein deutscher Satz über die Katzen und Hunde im Garten.")[0] == "de"
    assert ident.identify("これは日本語の文章です。猫が好きです。")[0] == "ja"
    assert ident.identify(_book_text_fr(corpora))[0] == "fr"


def _book_text_fr(corpora):
    path = sorted((corpora / "books" / "gutenberg").glob("fr__*"))[0]
    return gzip.open(path, "rt", encoding="utf-8-sig").read()[30000:34000]


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="thresholds.gopher_nope"):
        FilterConfig(thresholds={"gopher_nope": 1})
    bad = tmp_path / "f.yaml"
    bad.write_text("languages:\n  de: {gopher_short_doc: high}\n")
    with pytest.raises(ConfigError, match="f.yaml.*languages.de.gopher_short_doc"):
        FilterConfig.load(str(bad))
    with pytest.raises(ConfigError, match="unknown key 'treshold'"):
        FilterConfig.from_dict({"treshold": {}})


def test_filter_stage_annotates_drops_with_rule_names_and_reselects(tmp_path, ingest, corpora):
    from tailmine.pipelines import filters
    from tailmine.schemas import read_documents

    prose = _book(corpora)
    texts = [prose, "short", "buy now " * 200, prose.replace(" the ", " the (writer@example.com) ", 1)]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    ingest([tmp_path / "a.jsonl"], out=tmp_path / "ingest")
    m = filters.run(str(tmp_path / "ingest"), str(tmp_path / "f"), None, TEST_BEAM_ARGS, progress=False)
    assert (m.counts.output, m.counts.dropped) == (2, {"gopher_short_doc": 1, "gopher_top_2gram": 1})
    kept = read_documents([os.path.join(tmp_path / "f", s.path) for s in m.outputs])
    assert kept.column("lang").to_pylist() == ["en", "en"]
    assert kept.column("pii_email_count").to_pylist() == [0, 1] and "<EMAIL>" in kept.column("text")[1].as_py()
    # re-select with a stricter threshold on the annotated output: no signal is recomputed
    m2 = filters.run(str(tmp_path / "f"), str(tmp_path / "f2"), FilterConfig(thresholds={"gopher_short_doc": 10**6}), TEST_BEAM_ARGS, progress=False)
    assert m2.counts.dropped == {"gopher_short_doc": 2}
