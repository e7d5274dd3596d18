"""Quality classifiers on the real corpora: books and WikiText (reference) vs crawl pages, held out by group.

Data (subsampled to stay under a minute): the 36 smallest English Gutenberg books plus two works present in
two editions each (Treasure Island 120-0 / top__pg120, Sense and Sensibility pg161 / top__pg161), the
WikiText-2 test articles; negatives are every crawl document of web/warc, web/ccnet and the three HTML
page tarballs. Half the crawl pages are German/Polish/Japanese while the books are English, so an
all-language AUC partly measures language: the English-only AUC (py3langid on both classes) is the honest
figure and both are asserted and printed.
"""
from __future__ import annotations

import glob
import os

import pytest

from tailmine.classifiers.data import build_examples, title_key, unpack_html_pages
from tailmine.pipelines.classify import load_documents
from tailmine.classifiers.train import TrainConfig, train_from_documents

EDITIONS = ("120-0.txt.gz", "top__pg120.txt.gz", "pg161.txt.gz", "top__pg161.txt.gz")


@pytest.fixture(scope="module")
def documents(corpora, tmp_path_factory):
    books = sorted(glob.glob(str(corpora / "books" / "gutenberg" / "*.gz")))
    english = [b for b in books if not os.path.basename(b).startswith(("fr__", "es__"))]
    picked = [b for b in books if os.path.basename(b) in EDITIONS]
    picked += [b for b in sorted(english, key=lambda p: (os.path.getsize(p), p)) if b not in picked][:36]
    pages_dir = tmp_path_factory.mktemp("pages")
    pages = []
    for tarball in sorted(glob.glob(str(corpora / "web" / "html" / "*.tar.gz"))):
        pages += unpack_html_pages(tarball, str(pages_dir))
    crawl = sorted(glob.glob(str(corpora / "web" / "warc" / "*.warc.gz"))) + sorted(glob.glob(str(corpora / "web" / "ccnet" / "*.gz")))
    positives = load_documents(picked + [str(corpora / "reference" / "wikitext-2-test.txt.gz")])
    negatives = load_documents(crawl + pages)
    return positives, negatives


def _english(docs):
    from tailmine.filters.langid import LanguageIdentifier

    lid = LanguageIdentifier()
    lid.setup()
    return [d for d in docs if lid.identify(d["text"] or "")[0] == "en"]


def test_editions_of_one_work_land_in_one_group(documents):
    positives, negatives = documents
    editions = [d for d in positives if os.path.basename(d["source_file"]) in EDITIONS]
    assert len(editions) == 4
    groups = {}
    for e in build_examples(editions, negatives[:5]):
        if e.label:
            groups.setdefault(e.group, 0)
    assert len(groups) == 2  # two works, each with both editions in one group
    assert {title_key(d["title"]) for d in editions} and len(positives) > 30 and len(negatives) > 1000


@pytest.fixture(scope="module")
def english(documents):
    return _english(documents[0]), _english(documents[1])


@pytest.fixture(scope="module")
def english_cards(english, tmp_path_factory):
    """fastText and torch trained on the same English examples with the same split (seed 0)."""
    out = tmp_path_factory.mktemp("english")
    return {kind: train_from_documents(*english, str(out / kind), TrainConfig(kind=kind, seed=0)) for kind in ("fasttext", "torch")}


@pytest.mark.parametrize("kind", ["fasttext", "torch"])
def test_heldout_auc_at_least_0_90_on_english_books_and_articles_vs_english_crawl(english_cards, kind):
    card = english_cards[kind]
    sizes = card["sizes"]
    assert sizes["heldout_positive"] >= 100 and sizes["heldout_examples"] - sizes["heldout_positive"] >= 100
    print(f"\n{kind}: english-only held-out ROC AUC {card['metrics']['roc_auc']:.4f} ({sizes['heldout_examples']} chunks)")
    assert card["metrics"]["roc_auc"] >= 0.90, card["metrics"]


def test_torch_matches_or_beats_fasttext_on_the_same_english_split(english_cards):
    """Issue #5: the torch model must match or beat fastText's held-out AUC (same examples, split and seed).

    Measured (seed 0): fastText 0.956, torch 0.968; over seeds 0-7 torch led on every seed by 0.003 to 0.066
    (see the torch_model docstring). Version 1 of the torch featuriser (unknown words as one shared id)
    scored 0.939 here and failed this test.
    """
    ft, th = (english_cards[k] for k in ("fasttext", "torch"))
    same = ("train_examples", "heldout_examples", "heldout_positive", "heldout_groups")
    assert [ft["sizes"][k] for k in same] == [th["sizes"][k] for k in same]  # the same split
    assert th["metrics"]["roc_auc"] >= ft["metrics"]["roc_auc"], (th["metrics"], ft["metrics"])


@pytest.mark.parametrize("kind", ["fasttext", "torch"])
def test_all_language_auc_is_higher_because_language_is_a_feature(documents, kind, tmp_path):
    """All languages: the crawl's German pages make the task easier (language is learnt); reported, not the target."""
    card = train_from_documents(*documents, str(tmp_path / "all"), TrainConfig(kind=kind, seed=0))
    print(f"\n{kind}: all-language held-out ROC AUC {card['metrics']['roc_auc']:.4f}")
    assert card["metrics"]["roc_auc"] >= 0.90
    if kind == "fasttext":
        assert {"und", "die", "der"} & set(card["top_features"]["negative"][:20])  # the language signal, seen
