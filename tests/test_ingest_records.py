"""One test per bad-input case for line- and file-based formats, plus the real corpora."""
import gzip
import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import zstandard


def _reasons(manifest):
    return manifest.counts.dropped, manifest.counts.quarantined


def _jsonl(records):
    return b"".join((json.dumps(r).encode() if not isinstance(r, bytes) else r) + b"\n" for r in records)


def test_jsonl_kept_id_text_and_unknown_fields(tmp_path, ingest):
    (tmp_path / "a.jsonl").write_bytes(_jsonl([{"id": "doc-1", "text": "hello world", "url": "http://x", "stars": 5, "nested": {"k": [1]}}]))
    manifest, docs, _ = ingest([tmp_path / "a.jsonl"])
    row = docs.to_pylist()[0]
    assert (row["id"], row["text"], row["url"], row["source"]) == ("doc-1", "hello world", "http://x", "jsonl")
    assert json.loads(row["metadata"]) == {"stars": 5, "nested": {"k": [1]}}
    assert manifest.counts.output == 1 and manifest.counts.input == 1


def test_jsonl_invalid_json_non_object_missing_text_and_empty_text(tmp_path, ingest):
    lines = [{"text": "good"}, b'{"text": "cut', b"[1, 2]", {"body": "no text field"}, {"text": 42}, {"text": "   "}]
    (tmp_path / "a.jsonl").write_bytes(_jsonl(lines))
    manifest, docs, quarantine = ingest([tmp_path / "a.jsonl"])
    assert docs.column("text").to_pylist() == ["good"]
    assert manifest.counts.dropped == {"empty_text": 1}
    assert manifest.counts.quarantined == {"invalid_json": 2, "missing_text_field": 2}
    rows = quarantine.to_pylist()
    assert [r["source_record"] for r in rows] == [1, 2, 3, 4]
    assert rows[0]["snippet"].startswith(b'{"text": "cut')
    assert "'text' is missing" in rows[2]["detail"]


def test_jsonl_invalid_utf8_and_lone_surrogate_are_quarantined(tmp_path, ingest):
    lines = [b'{"text": "caf\xe9 au lait"}', b'{"text": "half \\ud800 surrogate"}', {"text": "fine"}]
    (tmp_path / "a.jsonl").write_bytes(_jsonl(lines))
    manifest, docs, quarantine = ingest([tmp_path / "a.jsonl"])
    assert docs.column("text").to_pylist() == ["fine"]
    assert manifest.counts.quarantined == {"undecodable_bytes": 2}


def test_truncated_gzip_keeps_earlier_records_and_quarantines_the_rest(tmp_path, ingest):
    data = gzip.compress(_jsonl({"text": f"document number {i} " * 20} for i in range(2000)))
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    manifest, docs, quarantine = ingest([tmp_path / "cut.jsonl.gz"])
    assert 0 < manifest.counts.output < 2000
    assert manifest.counts.quarantined == {"truncated_input": 1}
    assert "ends early" in quarantine.column("detail")[0].as_py()
    assert manifest.counts.unbalanced_by == 0


def test_truncated_zstd_is_quarantined(tmp_path, ingest):
    data = zstandard.ZstdCompressor().compress(_jsonl({"text": f"zstd document {i} " * 30} for i in range(2000)))
    (tmp_path / "cut.jsonl.zst").write_bytes(data[: len(data) // 2])
    manifest, docs, _ = ingest([tmp_path / "cut.jsonl.zst"])
    assert 0 < manifest.counts.output < 2000
    assert manifest.counts.quarantined == {"truncated_input": 1}


def test_zstd_and_gzip_are_read_transparently_even_when_misnamed(tmp_path, ingest):
    (tmp_path / "a.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(_jsonl([{"text": "from zstd"}])))
    (tmp_path / "b.jsonl").write_bytes(gzip.compress(_jsonl([{"text": "gzip named .jsonl"}])))
    manifest, docs, _ = ingest([tmp_path])
    assert sorted(docs.column("text").to_pylist()) == ["from zstd", "gzip named .jsonl"]


def test_oversized_line_is_dropped_without_reading_it_whole(tmp_path, ingest):
    big = {"text": "x" * 50_000}
    (tmp_path / "a.jsonl").write_bytes(_jsonl([{"text": "small"}, big, {"text": "after"}]))
    manifest, docs, _ = ingest([tmp_path / "a.jsonl"], max_doc_bytes=10_000)
    assert docs.column("text").to_pylist() == ["small", "after"]
    assert manifest.counts.dropped == {"document_too_large": 1}


def test_jsonl_byte_range_splits_read_every_record_exactly_once(tmp_path, ingest):
    records = [{"id": f"d{i}", "text": f"record {i} " + "y" * (i % 97)} for i in range(3000)]
    (tmp_path / "big.jsonl").write_bytes(_jsonl(records))
    whole, docs_whole, _ = ingest([tmp_path / "big.jsonl"], out=tmp_path / "whole")
    split, docs_split, _ = ingest([tmp_path / "big.jsonl"], out=tmp_path / "split", unit_bytes=7_777)
    assert split.extra["units"] > 10
    assert sorted(docs_split.column("id").to_pylist()) == sorted(docs_whole.column("id").to_pylist())
    assert len(docs_split) == 3000


def test_parquet_fields_and_row_group_split(tmp_path, ingest):
    table = pa.table({"doc_id": [f"p{i}" for i in range(1000)], "content": [f"row {i} text" for i in range(1000)], "extra": list(range(1000))})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=100)
    manifest, docs, _ = ingest([tmp_path / "t.parquet"], text_field="content", id_field="doc_id", unit_bytes=500)
    assert manifest.extra["units"] > 1
    assert sorted(docs.column("id").to_pylist()) == sorted(f"p{i}" for i in range(1000))
    row = docs.filter(pc.equal(docs.column("id"), "p7")).to_pylist()[0]
    assert row["text"] == "row 7 text" and json.loads(row["metadata"]) == {"extra": 7} and row["source_record"] == 7


def test_parquet_without_the_text_column_quarantines_each_row(tmp_path, ingest):
    pq.write_table(pa.table({"body": ["a", "b", "c"]}), tmp_path / "t.parquet")
    manifest, docs, _ = ingest([tmp_path / "t.parquet"])
    assert manifest.counts.quarantined == {"missing_text_field": 3} and len(docs) == 0


def test_corrupt_parquet_file_is_quarantined(tmp_path, ingest):
    pq.write_table(pa.table({"text": ["a"] * 100}), tmp_path / "t.parquet")
    data = (tmp_path / "t.parquet").read_bytes()
    (tmp_path / "t.parquet").write_bytes(data[: len(data) - 20])
    manifest, _, quarantine = ingest([tmp_path / "t.parquet"])
    assert manifest.counts.quarantined == {"corrupt_file": 1}


def test_binary_file_and_unknown_format(tmp_path, ingest):
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02 not anything we know")
    manifest, docs, quarantine = ingest([tmp_path])
    assert manifest.counts.quarantined == {"binary_payload": 1, "unknown_format": 1}
    assert len(docs) == 0


def test_tar_archive_is_quarantined_with_a_hint(tmp_path, ingest):
    import tarfile

    (tmp_path / "page.html").write_text("<html><body><p>hello</p></body></html>")
    with tarfile.open(tmp_path / "pages.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "page.html", arcname="page.html")
    manifest, _, quarantine = ingest([tmp_path / "pages.tar.gz"])
    assert manifest.counts.quarantined == {"unknown_format": 1}
    assert "unpack it" in quarantine.column("detail")[0].as_py()


def test_empty_files_and_empty_html(tmp_path, ingest):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "scripts.html").write_text("<html><head><script>var a=1;</script></head><body><script>x()</script></body></html>")
    (tmp_path / "empty.jsonl").write_bytes(b"\n\n")
    manifest, docs, _ = ingest([tmp_path])
    assert manifest.counts.dropped == {"empty_text": 2, "blank_line": 2}
    assert manifest.counts.input == 4  # every line of a JSONL file is counted, blank ones as blank_line


def test_html_file_in_windows_1252_without_declaration(tmp_path, ingest):
    body = "<html><head><title>Caf\u00e9 menu</title></head><body><article>" + "<p>Cr\u00e8me br\u00fbl\u00e9e and caf\u00e9 au lait are served every morning in the old town.</p>" * 5 + "</article></body></html>"
    (tmp_path / "page.html").write_bytes(body.encode("cp1252"))
    manifest, docs, _ = ingest([tmp_path / "page.html"])
    row = docs.to_pylist()[0]
    assert row["title"] == "Caf\u00e9 menu" and "Cr\u00e8me br\u00fbl\u00e9e" in row["text"]
    assert row["url"] == str(tmp_path / "page.html") and row["source"] == "html"


def test_gutenberg_book_loses_licence_keeps_title_and_author(tmp_path, ingest):
    book = (
        "\ufeffThe Project Gutenberg EBook of A Tiny Tale, by Ann Writer\n\nThis eBook is for the use of anyone anywhere.\n\n"
        "Title: A Tiny Tale\n\nAuthor: Ann Writer\n\nRelease Date: May 1, 2001 [EBook #99999]\n\nLanguage: English\n\n"
        "*** START OF THIS PROJECT GUTENBERG EBOOK A TINY TALE ***\n\nProduced by Volunteers\n\n\n"
        "CHAPTER I\n\nOnce upon a time there was a tale.\n\n"
        "*** END OF THIS PROJECT GUTENBERG EBOOK A TINY TALE ***\n\nSection 1. General Terms of Use and Redistributing Project Gutenberg-tm\n"
    )
    (tmp_path / "pg99999.txt").write_text(book, encoding="utf-8")
    manifest, docs, _ = ingest([tmp_path / "pg99999.txt"])
    row = docs.to_pylist()[0]
    assert row["source"] == "gutenberg" and row["title"] == "A Tiny Tale"
    assert row["text"] == "CHAPTER I\n\nOnce upon a time there was a tale."
    meta = json.loads(row["metadata"])
    assert meta["author"] == "Ann Writer" and meta["ebook_number"] == 99999 and meta["gutenberg_end_marker"]


def test_output_refused_without_force(tmp_path):
    from tailmine.errors import OutputExistsError
    from tailmine.pipelines import ingest as pipeline
    from conftest import TEST_BEAM_ARGS

    (tmp_path / "a.jsonl").write_bytes(_jsonl([{"text": "x"}]))
    pipeline.run([str(tmp_path / "a.jsonl")], str(tmp_path / "out"), beam_args=TEST_BEAM_ARGS, progress=False)
    with pytest.raises(OutputExistsError, match="--force"):
        pipeline.run([str(tmp_path / "a.jsonl")], str(tmp_path / "out"), beam_args=TEST_BEAM_ARGS, progress=False)


def test_no_matching_input_names_the_pattern(tmp_path):
    from tailmine.errors import InputError
    from tailmine.pipelines import ingest as pipeline

    with pytest.raises(InputError, match="nothing-here"):
        pipeline.run([str(tmp_path / "nothing-here*.warc.gz")], str(tmp_path / "out"), progress=False)


def test_gzip_and_zstd_bombs_are_cut_and_the_rest_quarantined(tmp_path, ingest):
    line = json.dumps({"text": "a" * 10_000}).encode() + b"\n"
    bomb = line * 20_000  # 200 MB of nearly nothing: compresses over 1000x
    (tmp_path / "bomb.jsonl.gz").write_bytes(gzip.compress(bomb, compresslevel=9))
    (tmp_path / "bomb.jsonl.zst").write_bytes(zstandard.ZstdCompressor(level=19).compress(bomb))
    manifest, docs, quarantine = ingest([tmp_path], max_compression_ratio=100.0)
    assert manifest.counts.quarantined == {"decompression_limit": 2}
    assert all("ratio over max_compression_ratio" in d for d in quarantine.column("detail").to_pylist())
    assert 0 < manifest.counts.output < 2 * 20_000, "records before the cut are kept"
    assert manifest.counts.unbalanced_by == 0


def test_decompressed_size_limit_per_file(tmp_path, ingest):
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(_jsonl({"text": f"doc {i} " * 50} for i in range(5000))))
    manifest, _, quarantine = ingest([tmp_path / "a.jsonl.gz"], max_decompressed_bytes=200_000)
    assert manifest.counts.quarantined == {"decompression_limit": 1}
    assert "max_decompressed_bytes" in quarantine.column("detail")[0].as_py()
