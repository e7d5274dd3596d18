"""The training split on real layouts: registered domains, books, one-file reference sets, stratified.

The regression this guards: positives given as one JSONL file without URLs (how DCLM ships its
reference set) used to fall into a single group, and training stopped with "the held-out split has no
positive examples".
"""
from __future__ import annotations

import glob
import gzip
import json
import os

import pytest

from tailmine.classifiers.data import (
    MIN_CLASS_DOCUMENTS,
    DataConfig,
    build_examples,
    heldout_keys,
    split_examples,
    unpack_html_pages,
)
from tailmine.classifiers.train import TrainConfig
from tailmine.pipelines.classify import train_model
from tailmine.errors import ConfigError

SMALL = DataConfig(chunk_min_bytes=300, chunk_max_bytes=800)


def _doc(i: int, url=None, source="jsonl", source_file="/data/ref.jsonl", title=None, words=("alpha", "beta")) -> dict:
    text = "\n\n".join(" ".join(f"{words[(i + k) % len(words)]}{(i * 31 + k) % 97}" for k in range(80)) + "." for _ in range(3))
    return {"id": f"d{i}", "source": source, "url": url, "title": title, "text": text, "source_file": source_file}


def test_one_file_without_urls_groups_by_document_and_urls_by_registered_domain():
    positives = [_doc(i) for i in range(30)]  # one JSONL file, no URLs
    hosts = ["https://news.bbc.co.uk/a", "https://www.bbc.co.uk/b", "http://sport.bbc.co.uk/c", "https://example.com/x", "https://blog.example.com/y"]
    negatives = [_doc(100 + i, url=hosts[i % len(hosts)], source="warc", source_file="/crawl/a.warc.gz", words=("click", "buy")) for i in range(10)]
    examples = build_examples(positives, negatives, SMALL)
    positive_groups = {e.group for e in examples if e.label == 1}
    negative_groups = {e.group for e in examples if e.label == 0}
    assert len(positive_groups) == 30  # by document, not one group for the file
    assert negative_groups == {"0:site:bbc.co.uk", "0:site:example.com"}  # subdomains of one registered domain: one group
    train, heldout = split_examples(examples, seed=0, fraction=0.2)
    assert {e.label for e in heldout} == {e.label for e in train} == {0, 1}
    assert {e.group for e in train}.isdisjoint({e.group for e in heldout})


def test_single_documents_per_file_keep_their_file_group():
    """HTML pages (one document per file) keep grouping by file, as before: splits made earlier do not move."""
    docs = [_doc(i, source="html", source_file=f"/pages/p{i}.html") for i in range(5)]
    groups = {e.group for e in build_examples(docs, [_doc(9, source_file="/n.jsonl")], SMALL) if e.label == 1}
    assert len(groups) == 5 and all(g.startswith("1:file:") for g in groups), groups


@pytest.mark.parametrize("seed", range(8))
def test_split_is_stratified_every_class_on_both_sides(seed):
    keys = {1: {f"pos{i}" for i in range(2)}, 0: {f"neg{i}" for i in range(3)}}
    held = heldout_keys(keys, seed, 0.2)
    for members in keys.values():
        assert 0 < len(held & members) < len(members)


def test_one_group_class_is_split_by_document_when_it_has_enough_and_an_error_says_how_many_otherwise():
    negatives = [_doc(100 + i, url=f"https://site{i}.org/p", source="warc", words=("click", "buy")) for i in range(6)]
    one_site = [_doc(i, url="https://only.example.org/p") for i in range(MIN_CLASS_DOCUMENTS)]
    train, heldout = split_examples(build_examples(one_site, negatives, SMALL), seed=0, fraction=0.2)
    assert {e.label for e in heldout} == {0, 1} and {e.document for e in train}.isdisjoint({e.document for e in heldout})
    few = one_site[: MIN_CLASS_DOCUMENTS - 1]
    with pytest.raises(ConfigError, match=rf"the positive class has {MIN_CLASS_DOCUMENTS - 1} document\(s\) in 1 group\(s\)"):
        split_examples(build_examples(few, negatives, SMALL), seed=0, fraction=0.2)
    with pytest.raises(ConfigError, match=r"the negative class has 0 document\(s\)"):
        split_examples(build_examples(one_site, [], SMALL), seed=0, fraction=0.2)


def test_one_file_positives_train_on_real_reference_text_vs_real_web_pages(corpora, tmp_path):
    """Gutenberg books as one JSONL file without URLs or titles (DCLM's layout) vs the shared web pages."""
    books = sorted(glob.glob(str(corpora / "books" / "gutenberg" / "*.txt.gz")))
    english = [b for b in books if not os.path.basename(b).startswith(("fr__", "es__"))][:40]
    positives = tmp_path / "reference.jsonl"
    with open(positives, "w") as handle:
        for i, book in enumerate(english):
            with gzip.open(book, "rt", encoding="utf-8", errors="replace") as src:
                text = src.read()
            middle = len(text) // 2
            handle.write(json.dumps({"id": f"ref-{i}", "text": text[middle - 15_000 : middle + 15_000]}) + "\n")
    pages = []
    for tarball in sorted(glob.glob(str(corpora / "web" / "html" / "*.tar.gz"))):
        pages += unpack_html_pages(tarball, str(tmp_path / "pages"))
    card = train_model([str(positives)], pages, str(tmp_path / "model"), TrainConfig(kind="fasttext", seed=0))
    sizes, metrics = card["sizes"], card["metrics"]
    print(f"\none-file positives: held-out ROC AUC {metrics['roc_auc']:.4f}, {sizes['heldout_positive']} positive / {sizes['heldout_examples']} chunks")
    assert card["data"]["positive_documents"] == len(english) and sizes["heldout_positive"] > 0
    assert metrics["roc_auc"] >= 0.9, metrics
