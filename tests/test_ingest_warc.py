"""Adversarial WARC inputs built inline, and the demo sample's declared defects."""
import gzip
import os

import pytest

from tailmine.demo.sample import WarcRecord, sample_defects, write_sample, write_warc

ARTICLE = (
    b"<html><head><title>Harbour news</title></head><body><nav><a href='/'>Home</a> <a href='/a'>About</a></nav>"
    b"<article>" + b"<p>The harbour master announced that the old pier will reopen next spring after repairs.</p>" * 6
    + b"</article><footer>Copyright 2024</footer></body></html>"
)


def _response(uri, payload, status=200, content_type="text/html; charset=utf-8", extra=()):
    headers = ((("Content-Type", content_type),) if content_type else ()) + tuple(extra)
    return WarcRecord("response", uri, payload, http_status=status, http_headers=headers)


def test_each_warc_record_kind_gets_its_reason(tmp_path, ingest):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    write_warc(tmp_path / "a.warc.gz", [
        WarcRecord("warcinfo", None, b"software: test\r\n", content_type="application/warc-fields"),
        WarcRecord("request", "http://h/a", b"", http_method="GET"),
        _response("http://h/a", ARTICLE),
        _response("http://h/img.png", png, content_type="image/png"),
        _response("http://h/s.css", b"body { color: red }", content_type="text/css"),
        _response("http://h/app.js", b"function f() { return 1 }", content_type="application/javascript"),
        _response("http://h/missing", b"<html><body>Not found</body></html>", status=404),
        _response("http://h/redirect", b"", status=301),
        _response("http://h/fake.html", png, content_type="text/html"),
        _response("http://h/blank", b"<html><body><script>var x = 1;</script></body></html>"),
        WarcRecord("metadata", "http://h/a", b"fetchTimeMs: 10\r\n", content_type="application/warc-fields"),
    ])
    manifest, docs, quarantine = ingest([tmp_path / "a.warc.gz"])
    assert manifest.counts.dropped == {
        "non_document_record": 3, "non_text_content_type": 3, "http_error_status": 2, "empty_text": 1,
    }
    assert manifest.counts.quarantined == {"binary_payload": 1}
    assert quarantine.to_pylist()[0]["snippet"].startswith(b"\x89PNG")
    row = docs.to_pylist()[0]
    assert row["title"] == "Harbour news" and "old pier will reopen" in row["text"]
    assert "Home" not in row["text"].split("\n")[0], "navigation is boilerplate"


def test_payload_without_content_type_is_sniffed_as_html_even_as_a_fragment(tmp_path, ingest):
    fragment = b"<div class='nav'><a href='/'>Home</a></div><div class='entry-content'>" + b"<p>The ferry timetable changes in winter, when boats leave every two hours.</p>" * 5 + b"</div>"
    write_warc(tmp_path / "a.warc.gz", [_response("http://h/frag", fragment, content_type=None)])
    manifest, docs, _ = ingest([tmp_path / "a.warc.gz"])
    text = docs.column("text")[0].as_py()
    assert "ferry timetable" in text and "<div" not in text and "href" not in text


def test_html_served_as_text_plain_is_extracted_but_real_plain_text_is_kept(tmp_path, ingest):
    write_warc(tmp_path / "a.warc.gz", [
        _response("http://h/mislabelled", b"<!DOCTYPE html>" + ARTICLE, content_type="text/plain"),
        _response("http://h/notes.txt", b"Plain notes about <b> tags and a < b comparisons.", content_type="text/plain"),
    ])
    manifest, docs, _ = ingest([tmp_path / "a.warc.gz"])
    texts = sorted(docs.column("text").to_pylist())
    assert texts[0].startswith("Plain notes about <b> tags")
    assert "old pier will reopen" in texts[1] and "<p>" not in texts[1]


def test_record_over_size_cap_is_dropped_before_reading(tmp_path, ingest):
    big = b"<html><body><p>" + b"word " * 50_000 + b"</p></body></html>"
    write_warc(tmp_path / "a.warc.gz", [_response("http://h/big", big), _response("http://h/a", ARTICLE)])
    manifest, docs, _ = ingest([tmp_path / "a.warc.gz"], max_doc_bytes=100_000)
    assert manifest.counts.dropped == {"document_too_large": 1} and len(docs) == 1


def test_gzip_content_encoding_bomb_is_capped(tmp_path, ingest):
    bomb = gzip.compress(b"<html><body><p>" + b"a" * 5_000_000 + b"</p></body></html>")
    write_warc(tmp_path / "a.warc.gz", [
        _response("http://h/bomb", bomb, extra=(("Content-Encoding", "gzip"),)),
        _response("http://h/ok", gzip.compress(ARTICLE), extra=(("Content-Encoding", "gzip"),)),
    ])
    manifest, docs, _ = ingest([tmp_path / "a.warc.gz"], max_doc_bytes=1_000_000)
    assert manifest.counts.dropped == {"document_too_large": 1}
    assert "old pier" in docs.column("text")[0].as_py()


def test_record_declaring_more_bytes_than_present_is_truncated(tmp_path, ingest):
    write_warc(tmp_path / "a.warc", [_response("http://h/a", ARTICLE), WarcRecord("response", "http://h/b", ARTICLE, http_status=200, content_length=len(ARTICLE) * 3)], gzip_members=False)
    manifest, docs, quarantine = ingest([tmp_path / "a.warc"])
    assert manifest.counts.quarantined == {"truncated_record": 1} and len(docs) == 1


def test_charset_from_http_header_and_from_meta(tmp_path, ingest):
    latin = "<html><head><title>Caf\u00e9</title></head><body><article>" + "<p>Le caf\u00e9 est ouvert tous les jours \u00e0 la m\u00eame heure pour les \u00e9l\u00e8ves.</p>" * 5 + "</article></body></html>"
    meta = latin.replace("<head>", '<head><meta charset="windows-1252">')
    write_warc(tmp_path / "a.warc.gz", [
        _response("http://h/latin", latin.encode("iso-8859-1"), content_type="text/html; charset=iso-8859-1"),
        _response("http://h/meta", meta.encode("cp1252"), content_type="text/html"),
    ])
    manifest, docs, _ = ingest([tmp_path / "a.warc.gz"])
    for row in docs.to_pylist():
        assert row["title"] == "Caf\u00e9" and "\u00e0 la m\u00eame heure" in row["text"]


def test_demo_sample_defects_are_each_accounted_for(tmp_path, ingest):
    from tailmine.demo import SAMPLE_DATA_DIRS

    write_sample(tmp_path / "sample", seed=0)
    manifest, docs, quarantine = ingest(
        [tmp_path / "sample" / sub for sub in SAMPLE_DATA_DIRS], text_field="text,content", id_field="id,doc_id", url_field="url,source_url"
    )
    expected = {}
    for d in sample_defects(seed=0):
        expected[d.reason] = expected.get(d.reason, 0) + 1
    observed = {**manifest.counts.dropped, **manifest.counts.quarantined}
    assert observed == expected
    found = {(os.path.relpath(r["source_file"], tmp_path / "sample"), r["source_record"], r["reason"]) for r in quarantine.to_pylist()}
    declared = {(d.path, d.index, d.reason) for d in sample_defects(seed=0) if (d.path, d.index, d.reason) in found or d.reason in manifest.counts.quarantined}
    assert found == declared
    assert manifest.counts.unbalanced_by == 0
    assert {"warc", "wet", "html", "gutenberg", "jsonl", "parquet"} == set(docs.column("source").to_pylist())


def test_cli_demo_prints_outputs_and_refuses_to_overwrite(tmp_path, capsys):
    from tailmine.cli import main

    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--", "--direct_running_mode=in_memory", "--direct_num_workers=1"]) == 0
    printed = capsys.readouterr().out
    assert "manifest.json" in printed and str(out / "ingest") in printed
    assert (out / "ingest" / "manifest.json").is_file()
    assert main(["demo", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err


def test_cli_help_explains_every_option(capsys):
    from tailmine.cli import main

    with pytest.raises(SystemExit):
        main(["ingest", "--help"])
    text = capsys.readouterr().out
    for flag in ("--format", "--text-field", "--max-doc-bytes", "--extractor", "--force", "--resume", "Beam options go after"):
        assert flag in text


def test_warc_bomb_is_cut_before_the_parser_skips_through_it(tmp_path, ingest):
    zeros = b"<html><body>" + b"0" * 2_000_000 + b"</body></html>"
    records = [_response("http://h/a", ARTICLE)] + [_response(f"http://h/z{i}", zeros) for i in range(60)]
    write_warc(tmp_path / "bomb.warc.gz", records)
    manifest, docs, quarantine = ingest([tmp_path / "bomb.warc.gz"], max_compression_ratio=50.0, max_doc_bytes=100_000)
    assert manifest.counts.quarantined == {"decompression_limit": 1}
    assert manifest.counts.output == 1 and manifest.counts.dropped["document_too_large"] >= 1
    assert manifest.counts.unbalanced_by == 0
