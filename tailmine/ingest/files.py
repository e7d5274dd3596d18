"""Whole-file documents: one HTML page, one Gutenberg book or one plain-text file per file.

The file is read only up to ``max_doc_bytes + 1`` bytes, so an oversized file is dropped without being
held in memory.
"""
from __future__ import annotations

import json
from typing import Iterator

from tailmine.ingest import records as r
from tailmine.fileio import printable_path
from tailmine.ingest.decode import decode_text, looks_binary
from tailmine.ingest.gutenberg import is_gutenberg, parse_book


def _read_capped(path: str, cfg) -> tuple[bytes | None, r.Reject | None]:
    from tailmine.fileio import open_input

    try:
        with open_input(path) as handle:
            data = handle.read(cfg.max_doc_bytes + 1)
    except EOFError as exc:
        return None, r.quarantine(r.TRUNCATED_INPUT, 0, None, f"compressed stream ends early: {exc}")
    except Exception as exc:  # zstd errors, bad gzip headers
        return None, r.quarantine(r.TRUNCATED_INPUT if "truncat" in str(exc).lower() else r.CORRUPT_FILE, 0, None, str(exc))
    if len(data) > cfg.max_doc_bytes:
        return None, r.drop(r.DOCUMENT_TOO_LARGE, 0, 0, f"file larger than max_doc_bytes {cfg.max_doc_bytes}", data)
    return data, None


def _read_text(path: str, cfg, html: bool) -> tuple[str, str, int] | r.Reject:
    """The whole file as text: (text, encoding, raw byte length), or why it cannot be one document."""
    data, reject = _read_capped(path, cfg)
    if reject:
        return reject
    if looks_binary(data):
        return r.quarantine(r.BINARY_PAYLOAD, 0, 0, "file holds binary bytes", data)
    text, encoding, bad = decode_text(data, None, html=html)
    if bad > cfg.max_replacement_ratio:
        return r.quarantine(r.UNDECODABLE_BYTES, 0, 0, f"{bad:.1%} of characters undecodable", data)
    return text, encoding, len(data)


def _doc(source: str, path: str, title, text: str, raw: int, meta: dict) -> dict:
    return {
        "id": r.generated_id(source, path, 0),
        "source": source,
        "url": printable_path(path),
        "title": title,
        "text": text,
        "raw_bytes": raw,
        "timestamp": None,
        "source_record": 0,
        "source_offset": 0,
        "metadata": json.dumps(meta, sort_keys=True, ensure_ascii=False),
    }


def read_html_file(path: str, cfg, extractor) -> Iterator[dict | r.Reject]:
    read = _read_text(path, cfg, html=True)
    if isinstance(read, r.Reject):
        yield read
        return
    text, encoding, raw = read
    extraction = extractor(text)
    yield _doc("html", path, extraction.title or None, extraction.text, raw, {"encoding": encoding})


def read_text_file(path: str, cfg, extractor=None, gutenberg: bool | None = None) -> Iterator[dict | r.Reject]:
    """A plain-text file; Gutenberg books (detected, or forced with ``gutenberg=True``) lose their licence."""
    read = _read_text(path, cfg, html=False)
    if isinstance(read, r.Reject):
        yield read
        return
    text, encoding, raw = read
    if gutenberg is None:
        gutenberg = is_gutenberg(text)
    if not gutenberg:
        yield _doc("text", path, None, text.strip(), raw, {"encoding": encoding})
        return
    book = parse_book(text)
    meta = {"encoding": encoding, **book.metadata}
    # Not the ebook number as id: two editions or copies of one book share it, and ids must be unique.
    yield _doc("gutenberg", path, book.title, book.text, raw, meta)


def read_gutenberg_file(path: str, cfg, extractor=None) -> Iterator[dict | r.Reject]:
    return read_text_file(path, cfg, extractor, gutenberg=True)
