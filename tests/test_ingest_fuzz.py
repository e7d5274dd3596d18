"""Fuzzing every reader: arbitrary and mutated bytes never crash ingest, and every outcome is a
document or a rejection with a known reason. (A longer run belongs in benchmarks/.)"""
import gzip
import json
import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailmine.demo.sample import WarcRecord, warc_record_bytes
from tailmine.ingest import records as r
from tailmine.ingest.config import IngestConfig
from tailmine.ingest.extract import get_extractor
from tailmine.ingest.unit import Slice, _outcomes

KNOWN_REASONS = {v for k, v in vars(r).items() if k.isupper() and isinstance(v, str) and v not in (r.DROPPED, r.QUARANTINED)}
CFG = IngestConfig(max_doc_bytes=200_000)
EXTRACTOR = get_extractor("tailmine")
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

_VALID_WARC = b"".join(
    warc_record_bytes(rec)
    for rec in [
        WarcRecord("warcinfo", None, b"software: fuzz\r\n", content_type="application/warc-fields"),
        WarcRecord("response", "http://f/a", b"<html><title>t</title><body><p>" + b"words here " * 30 + b"</p></body></html>",
                   http_status=200, http_headers=(("Content-Type", "text/html"),)),
        WarcRecord("response", "http://f/b", b"plain text body " * 20, http_status=200, http_headers=(("Content-Type", "text/plain"),)),
    ]
)
_VALID_JSONL = b"".join(json.dumps({"id": i, "text": f"line {i} " * 5}).encode() + b"\n" for i in range(20))


def _mutate(data: bytes, cuts: list[int], flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for pos, value in flips:
        if out:
            out[pos % len(out)] = value
    for cut in cuts:
        if out:
            del out[cut % len(out):]
    return bytes(out)


def _check(data: bytes, fmt: str, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name)
        with open(path, "wb") as handle:
            handle.write(data)
        outcomes = list(_outcomes(Slice(path, len(data), fmt, weight=len(data)), CFG, EXTRACTOR))
    for outcome in outcomes:
        if isinstance(outcome, r.Reject):
            assert outcome.reason in KNOWN_REASONS, outcome
        else:
            assert outcome["text"].strip() and isinstance(outcome["id"], str)
            outcome["text"].encode("utf-8")  # Arrow needs valid UTF-8


mutations = dict(cuts=st.lists(st.integers(0, 10**6), max_size=1), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8))


@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_bytes_in_every_format(data):
    for fmt, name in [("warc", "f.warc"), ("arc", "f.arc"), ("html", "f.html"), ("gutenberg", "f.txt"), ("text", "f.txt"), ("jsonl", "f.jsonl"), ("parquet", "f.parquet")]:
        _check(data, fmt, name)


@FUZZ
@given(**mutations)
def test_mutated_warc_plain_and_gzip(cuts, flips):
    _check(_mutate(_VALID_WARC, cuts, flips), "warc", "f.warc.gz")
    _check(_mutate(gzip.decompress(_VALID_WARC), cuts, flips), "warc", "f.warc")


@FUZZ
@given(**mutations)
def test_mutated_jsonl_plain_and_gzip(cuts, flips):
    _check(_mutate(_VALID_JSONL, cuts, flips), "jsonl", "f.jsonl")
    _check(_mutate(gzip.compress(_VALID_JSONL, mtime=0), cuts, flips), "jsonl", "f.jsonl.gz")


@FUZZ
@given(text=st.text(max_size=3000))
def test_arbitrary_unicode_html_and_books(text):
    data = text.encode("utf-8", "surrogatepass")
    _check(data, "html", "f.html")
    _check(b"The Project Gutenberg EBook of X\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\n" + data, "gutenberg", "f.txt")
