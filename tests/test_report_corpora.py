"""The report's source-loss warning on the real shared books: a threshold config that drops most
books must say so, by source, in documents and tokens, and leave the crawl documents unflagged.

Data: the 10 smallest English Gutenberg books (5k-22k words) and the two CCNet JSONL shards (20
crawl documents). ``gopher_long_doc: 8000`` words drops the 8 books over 8,000 words and one long
crawl document, as the default 100,000-word limit would drop the long books of the full shelf.
"""
import os

from conftest import TEST_BEAM_ARGS


def test_source_loss_warning_on_real_books_with_a_strict_length_threshold(corpora, ingest, tmp_path):
    from tailmine.filters.config import FilterConfig
    from tailmine.pipelines import filters
    from tailmine.reports import collect

    shelf = corpora / "books" / "gutenberg"
    english = [p for p in shelf.iterdir() if p.name.endswith(".gz") and not p.name.startswith(("fr__", "es__"))]
    books = sorted(english, key=lambda p: (p.stat().st_size, p.name))[:10]
    crawl = sorted((corpora / "web" / "ccnet").glob("*.jsonl.gz"))
    run = tmp_path / "run"
    ingest(books + crawl, out=run / "ingest")
    cfg = FilterConfig(thresholds={"gopher_long_doc": 8000})
    filters.run(str(run / "ingest"), str(run / "filter"), cfg, TEST_BEAM_ARGS, force=True, progress=False)

    data = collect(str(run))
    row = next(f for f in data["funnel"] if f["stage"] == "filter")
    assert row["input_by_source"]["gutenberg"] == 10 and row["input_by_source"]["jsonl"] == 20
    assert row["dropped_by_source"]["gutenberg"]["gopher_long_doc"] >= 6, row["dropped_by_source"]
    warned = {(w["rule"], w["source"]): w for w in data["warnings"] if w["stage"] == "filter"}
    docs = warned[("source_document_loss", "gutenberg")]
    assert docs["value"] == 1 - row["output_by_source"].get("gutenberg", 0) / 10 and docs["threshold"] == 0.5
    assert "gopher_long_doc" in docs["message"] and "gutenberg lost" in docs["message"]
    tokens = warned[("source_token_loss", "gutenberg")]
    assert tokens["value"] > docs["value"], "the long books are the ones dropped: more tokens than documents lost"
    assert not [k for k in warned if k[1] == "jsonl"], "the crawl lost a document or two, under the threshold"
    assert os.path.exists(run / "filter" / "manifest.json")
