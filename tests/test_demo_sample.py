"""Tests for the synthetic demo sample (tailmine.demo.sample).

The demo and the ingest tests assert quarantine counts against this sample, so these tests pin
down what it contains: byte-for-byte determinism, readable WARC/WET up to the deliberate
truncation, a real Zipf law in concept document frequencies, and each documented defect.
"""
from __future__ import annotations

import gzip
import io
import json
import math
import re
import zlib
from pathlib import Path

import pytest

fastwarc = pytest.importorskip("fastwarc.warc")
warcio_iter = pytest.importorskip("warcio.archiveiterator")
zstandard = pytest.importorskip("zstandard")
pq = pytest.importorskip("pyarrow.parquet")

from tailmine.demo.sample import (  # noqa: E402
    WarcRecord,
    build_vocabulary,
    sample_defects,
    synthetic_documents,
    warc_record_bytes,
    write_sample,
    write_warc,
)

EXPECTED_FILES = [
    "README.txt",
    "books/pg99001.txt",
    "books/pg99002.txt.gz",
    "crawl/sample-00000.warc.gz",
    "crawl/sample-00000.warc.wet.gz",
    "crawl/sample-00001.warc.gz",
    *[f"html/page-{i:02d}.html" for i in range(10)],
    "jsonl/docs-00000.jsonl.gz",
    "jsonl/docs-00001.jsonl.zst",
    "parquet/docs-00000.parquet",
]


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    write_sample(out, seed=0)
    return out


@pytest.fixture(scope="module")
def defects():
    return sample_defects(seed=0)


def _fastwarc_records(data: bytes) -> list[tuple[str, dict, bytes, int]]:
    out = []
    for rec in fastwarc.ArchiveIterator(io.BytesIO(data), parse_http=False):
        headers = {k: v for k, v in rec.headers}
        out.append((headers["WARC-Type"], headers, rec.reader.read(), int(headers["Content-Length"])))
    return out


def _warcio_records(data: bytes) -> list[tuple[str, int]]:
    return [(rec.rec_type, len(rec.content_stream().read()))
            for rec in warcio_iter.ArchiveIterator(io.BytesIO(data))]


def test_determinism_and_file_list(tmp_path, sample_dir):
    paths = write_sample(tmp_path / "again", seed=0)
    assert paths == sorted(paths)
    rel = [p.relative_to(tmp_path / "again").as_posix() for p in paths]
    assert rel == EXPECTED_FILES
    for r in rel:
        assert (tmp_path / "again" / r).read_bytes() == (sample_dir / r).read_bytes(), r
    total = sum(p.stat().st_size for p in paths)
    assert total < 5_000_000
    # A different seed really changes the content.
    other = write_sample(tmp_path / "seed1", seed=1, n_pages=30)
    assert (tmp_path / "seed1" / "books/pg99001.txt").read_bytes() != (sample_dir / "books/pg99001.txt").read_bytes()
    assert len(other) == len(paths)


def test_small_n_pages_rejected(tmp_path):
    with pytest.raises(ValueError):
        write_sample(tmp_path, n_pages=5)


def test_main_warc_reads_back_with_both_readers(sample_dir, defects):
    data = (sample_dir / "crawl/sample-00000.warc.gz").read_bytes()
    # Every record is its own gzip member.
    members = 0
    rest = data
    while rest:
        d = zlib.decompressobj(wbits=31)
        d.decompress(rest)
        rest = d.unused_data
        members += 1
    fw = _fastwarc_records(data)
    wi = _warcio_records(data)
    assert members == len(fw) == len(wi)
    assert [t for t, *_ in fw] == [t for t, _ in wi]
    for typ, headers, block, length in fw:
        assert len(block) == length
        assert headers["WARC-Date"].startswith("2023-06-01T")
        assert re.fullmatch(r"<urn:uuid:[0-9a-f-]{36}>", headers["WARC-Record-ID"])
    assert fw[0][0] == "warcinfo"
    assert data[:2] == b"\x1f\x8b" and data[4:8] == b"\x00\x00\x00\x00"  # gzip mtime=0
    types = [t for t, *_ in fw]
    assert types.count("revisit") == 1
    assert types.count("response") == 300 + 5
    ctypes = [re.search(rb"Content-Type: ([^\r]*)", b).group(1).decode() if b"Content-Type:" in b.split(b"\r\n\r\n")[0]
              else None for t, _, b, _ in fw if t == "response"]
    assert "image/png" in ctypes and "application/javascript" in ctypes
    assert sum(1 for c in ctypes if c and "iso-8859-1" in c) == 3
    assert "text/html" in ctypes  # the windows-1252 page with only a <meta charset>
    png = next(b for t, _, b, _ in fw if t == "response" and b"image/png" in b.split(b"\r\n\r\n")[0])
    assert png.split(b"\r\n\r\n", 1)[1].startswith(b"\x89PNG\r\n\x1a\n")

    # The documented defects point at records of the right kind.
    for d in defects:
        if d.path != "crawl/sample-00000.warc.gz":
            continue
        typ, _, block, _ = fw[d.index]
        head = block.split(b"\r\n\r\n", 1)[0]
        if d.reason == "non_document_record":
            assert typ in ("warcinfo", "request", "metadata", "revisit"), d
        elif d.reason == "non_text_content_type":
            assert typ == "response" and re.search(rb"Content-Type: (image|text/css|application)", head), d
        elif d.reason == "http_error_status":
            assert typ == "response" and head.startswith(b"HTTP/1.1 404"), d
        elif d.reason == "empty_text":
            body = block.split(b"\r\n\r\n", 1)[1]
            visible = re.sub(rb"<script.*?</script>|<[^>]+>", b"", body, flags=re.S).strip()
            assert typ == "response" and visible == b"", d
        else:
            raise AssertionError(d)
    non_doc = [i for i, (t, *_) in enumerate(fw) if t != "response"]
    assert non_doc == [d.index for d in defects if d.path == "crawl/sample-00000.warc.gz"
                       and d.reason == "non_document_record"]


def test_latin1_and_cp1252_pages_really_encoded(sample_dir):
    data = (sample_dir / "crawl/sample-00000.warc.gz").read_bytes()
    latin1 = cp1252 = 0
    for typ, _, block, _ in _fastwarc_records(data):
        if typ != "response":
            continue
        head, body = block.split(b"\r\n\r\n", 1)
        if b"charset=iso-8859-1" in head:
            latin1 += 1
            with pytest.raises(UnicodeDecodeError):
                body.decode("utf-8")
            assert any(ch in body.decode("latin-1") for ch in "é£½ç")
        if b'<meta charset="windows-1252">' in body:
            cp1252 += 1
            assert b"charset" not in head
            assert "\u2014" in body.decode("cp1252") or "\u2019" in body.decode("cp1252")
    assert latin1 == 3 and cp1252 == 1


def test_truncated_warc(sample_dir, defects):
    data = (sample_dir / "crawl/sample-00001.warc.gz").read_bytes()
    with pytest.raises((EOFError, OSError, zlib.error)):
        gzip.decompress(data)
    fw = _fastwarc_records(data)
    assert [t for t, *_ in fw][:4] == ["warcinfo", "request", "response", "metadata"]
    for typ, _, block, length in fw[:-1]:
        assert len(block) == length
    typ, _, block, length = fw[-1]
    assert typ == "response" and 0 < len(block) < length
    wi = _warcio_records(data)
    assert len(wi) == len(fw)
    trunc = [d for d in defects if d.reason == "truncated_record"]
    assert [(d.path, d.index) for d in trunc] == [("crawl/sample-00001.warc.gz", len(fw) - 1)]


def test_wet_file(sample_dir, defects):
    data = (sample_dir / "crawl/sample-00000.warc.wet.gz").read_bytes()
    fw = _fastwarc_records(data)
    assert [t for t, *_ in fw] == ["warcinfo"] + ["conversion"] * 30
    for typ, headers, block, length in fw[1:]:
        assert headers["Content-Type"] == "text/plain" and len(block) == length > 200
        block.decode("utf-8")
    assert len(_warcio_records(data)) == 31
    assert [(d.index, d.reason) for d in defects if d.path.endswith(".wet.gz")] == [(0, "non_document_record")]


def test_concept_document_frequencies_follow_power_law():
    docs = synthetic_documents(2000, seed=0)
    assert len(set(docs)) == len(docs)
    concepts = build_vocabulary(0).concepts
    assert len(concepts) == len(set(concepts)) == 2000
    by_first: dict[str, list[str]] = {}
    for c in concepts:
        by_first.setdefault(c.split()[0], []).append(c)
    df: dict[str, int] = {}
    for doc in docs:
        for token in sorted(set(re.findall(r"[A-Za-z]+", doc))):
            for c in by_first.get(token, ()):
                if re.search(r"(?<!\w)" + re.escape(c) + r"(?!\w)", doc):
                    df[c] = df.get(c, 0) + 1
    top = sorted(df.values(), reverse=True)[:300]
    assert len(top) == 300
    xs = [math.log(r) for r in range(1, 301)]
    ys = [math.log(v) for v in top]
    mx, my = sum(xs) / 300, sum(ys) / 300
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    assert -1.5 < slope < -0.7, slope
    # A long tail: many concepts occur in exactly one document.
    assert sum(1 for v in df.values() if v == 1) > 200
    # Natural-looking text: function words are frequent.
    words = re.findall(r"[a-z]+", " ".join(docs[:100]).lower())
    stop = sum(1 for w in words if w in {"the", "of", "and", "a", "to", "in", "is", "that", "by", "for", "with"})
    assert stop / len(words) > 0.15


def _jsonl_lines(path: Path) -> list[bytes]:
    raw = path.read_bytes()
    data = gzip.decompress(raw) if path.suffix == ".gz" else zstandard.ZstdDecompressor().decompress(raw)
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


def _classify_jsonl(line: bytes) -> str | None:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "undecodable_bytes"
    try:
        rec = json.loads(text)
    except json.JSONDecodeError:
        return "invalid_json"
    return "empty_text" if not rec["text"].strip() else None


@pytest.mark.parametrize("name", ["docs-00000.jsonl.gz", "docs-00001.jsonl.zst"])
def test_jsonl_defects(sample_dir, defects, name):
    lines = _jsonl_lines(sample_dir / "jsonl" / name)
    assert len(lines) == 100
    found = {(i, r) for i, line in enumerate(lines) if (r := _classify_jsonl(line)) is not None}
    expected = {(d.index, d.reason) for d in defects if d.path == f"jsonl/{name}"}
    assert found == expected
    assert sorted(r for _, r in found) == ["empty_text", "invalid_json", "undecodable_bytes"]
    extra = [json.loads(line) for line in lines
             if _classify_jsonl(line) is None and b"x_annotator_score" in line]
    assert len(extra) == 1 and set(extra[0]) == {"id", "text", "url", "meta", "x_annotator_score"}


def test_parquet_columns(sample_dir):
    table = pq.read_table(sample_dir / "parquet/docs-00000.parquet")
    assert table.column_names == ["doc_id", "content", "source_url", "extra"]
    assert table.num_rows == 100
    assert len(set(table.column("doc_id").to_pylist())) == 100
    assert all(len(t) > 100 for t in table.column("content").to_pylist())


def test_books(sample_dir):
    b1 = (sample_dir / "books/pg99001.txt").read_bytes()
    b2 = gzip.decompress((sample_dir / "books/pg99002.txt.gz").read_bytes())
    for raw, marker in ((b1, "THIS"), (b2, "THE")):
        assert raw.startswith(b"\xef\xbb\xbf")
        assert 100_000 <= len(raw) <= 300_000
        text = raw.decode("utf-8")
        assert re.search(r"^\ufeffThe Project Gutenberg [eE]Book of .+, by .+$", text, re.M)
        for field in ("Title:", "Author:", "Release Date:", "Language: English"):
            assert f"\n{field}" in text.replace("\r\n", "\n")
        assert re.search(rf"\*\*\* START OF {marker} PROJECT GUTENBERG EBOOK [A-Z ]+ \*\*\*", text)
        assert re.search(rf"\*\*\* END OF {marker} PROJECT GUTENBERG EBOOK [A-Z ]+ \*\*\*", text)
        assert text.index("*** START") < text.index("CHAPTER I.") < text.index("*** END")


def test_standalone_html(sample_dir):
    pages = sorted((sample_dir / "html").glob("*.html"))
    assert len(pages) == 10
    not_utf8 = []
    for p in pages:
        raw = p.read_bytes()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            not_utf8.append(p.name)
            assert b"charset" not in raw
            assert "\u201c" in raw.decode("cp1252")
        assert b"<title>" in raw and b"<p>" in raw and b"&copy;" in raw
    assert not_utf8 == ["page-07.html"]


def test_inline_warc_builders(tmp_path):
    recs = [
        WarcRecord("warcinfo", payload=b"software: test\r\n", content_type="application/warc-fields"),
        WarcRecord("response", "https://x.example/a", payload=b"<p>hi</p>", http_status=200,
                   http_headers=(("Content-Type", "text/html"),)),
        WarcRecord("response", "https://x.example/b", payload=b"<p>lie</p>", http_status=500,
                   content_length=9999),
    ]
    for gz in (True, False):
        path = write_warc(tmp_path / f"t{gz}.warc", recs[:2], gzip_members=gz)
        got = _fastwarc_records(path.read_bytes())
        assert [t for t, *_ in got] == ["warcinfo", "response"]
        assert got[1][2].endswith(b"<p>hi</p>")
    assert warc_record_bytes(recs[1]) == warc_record_bytes(recs[1])
    assert b"Content-Length: 9999\r\n" in warc_record_bytes(recs[2], gzip=False)


def test_readme_lists_defects(sample_dir, defects):
    text = (sample_dir / "README.txt").read_text(encoding="utf-8")
    assert "synthetic" in text and "seed=0" in text
    for d in defects:
        if d.reason != "non_document_record":
            assert f"{d.path}  #{d.index}  {d.reason}" in text
