"""Ingest metadata on real crawl files: URLs from nested fields and without <...> brackets; WARC records
that are not HTTP responses or conversions (wget's log and arguments as resource/metadata records) never
become documents and are counted under their reason."""
from __future__ import annotations

import gzip
import io
import json
from collections import Counter

from tailmine.ingest.records import NON_DOCUMENT_RECORD, clean_url


def test_dolma_jsonl_url_and_title_come_from_nested_metadata(corpora, ingest):
    path = sorted((corpora / "web" / "ccnet").glob("*.jsonl.gz"))[0]
    source = [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8")]
    assert all("url" not in rec and rec["metadata"]["url"] for rec in source)  # the layout the issue names
    manifest, docs, _ = ingest([path])
    rows = {r["id"]: r for r in docs.to_pylist()}
    assert len(rows) == len(source) == manifest.counts.output
    for rec in source:
        row = rows[rec["id"]]
        assert row["url"] == rec["metadata"]["url"] and row["title"] == rec["metadata"]["title"]
        assert json.loads(row["metadata"])["metadata"]["url"] == rec["metadata"]["url"]  # nothing lost


def test_common_url_field_names_and_brackets(tmp_path, ingest):
    records = [
        {"id": "a", "text": "alpha text", "url": "<https://example.org/a>"},
        {"id": "b", "text": "beta text", "meta": {"url": " https://example.org/b "}},
        {"id": "c", "text": "gamma text", "source_url": "https://example.org/c", "metadata": {"url": "https://example.org/c-nested"}},
        {"id": "d", "text": "delta text", "metadata": "not an object"},
        {"id": "e", "text": "epsilon text", "url": "<>"},
    ]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    _, docs, _ = ingest([tmp_path / "a.jsonl"])
    urls = dict(zip(docs.column("id").to_pylist(), docs.column("url").to_pylist()))
    # the first present name of url_field wins: metadata.url comes before source_url
    assert urls == {"a": "https://example.org/a", "b": "https://example.org/b", "c": "https://example.org/c-nested", "d": None, "e": None}
    _, docs, _ = ingest([tmp_path / "a.jsonl"], out=tmp_path / "o2", url_field="source_url")
    assert dict(zip(docs.column("id").to_pylist(), docs.column("url").to_pylist()))["c"] == "https://example.org/c"
    assert clean_url(None) is None and clean_url(" <x> ") == "x" and clean_url(7) == "7"


def test_wget_warc_resource_and_metadata_records_never_become_documents(corpora, ingest):
    from fastwarc.warc import ArchiveIterator

    path = corpora / "web" / "warc" / "dolma-sample-0000.warc.gz"
    types = Counter(str(rec.record_type).rsplit(".", 1)[-1] for rec in ArchiveIterator(open(path, "rb"), parse_http=False))
    assert types["resource"] == 2 and types["metadata"] == 1  # wget's arguments, MANIFEST and log
    manifest, docs, quarantine = ingest([path])
    texts = docs.column("text").to_pylist()
    assert not any("wget" in t.lower() and "--warc-file" in t for t in texts)
    assert all(u.startswith("http") and not u.startswith("<") for u in docs.column("url").to_pylist())
    c = manifest.counts
    non_docs = types["resource"] + types["metadata"] + types["warcinfo"] + types["request"]
    assert c.dropped[NON_DOCUMENT_RECORD] == non_docs
    assert c.output + sum(c.dropped.values()) + sum(c.quarantined.values()) == sum(types.values())
    assert c.output <= types["response"]


def test_a_resource_record_holding_html_is_not_a_document(tmp_path, ingest):
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    page = b"<html><head><title>T</title></head><body><p>" + b"A real paragraph of page text. " * 20 + b"</p></body></html>"
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record("<https://example.org/page>", "response", payload=io.BytesIO(page), http_headers=http))
    writer.write_record(writer.create_warc_record("file:///tmp/page.html", "resource", payload=io.BytesIO(page),
                                                  warc_content_type="text/html"))
    (tmp_path / "mixed.warc.gz").write_bytes(buf.getvalue())
    manifest, docs, _ = ingest([tmp_path / "mixed.warc.gz"])
    assert docs.column("url").to_pylist() == ["https://example.org/page"]
    assert manifest.counts.dropped == {NON_DOCUMENT_RECORD: 1}
