"""Format detection and the reader registry.

Detection looks at the decompressed first bytes first (a renamed file is still recognised) and falls
back to the file name. ``--format`` forces one format for every input.
"""
from __future__ import annotations

import re
from typing import Callable, Iterator

from tailmine.ingest import records as r

_COMPRESSION_SUFFIX = re.compile(r"\.(gz|zst|zstd|bz2)$", re.I)


def _name(path: str) -> str:
    return _COMPRESSION_SUFFIX.sub("", path.rstrip("/").rsplit("/", 1)[-1].lower())


def detect_format(path: str, head: bytes) -> str:
    """One of warc, arc, parquet, jsonl, html, gutenberg, text; or 'unknown'."""
    from tailmine.ingest.gutenberg import is_gutenberg

    name = _name(path)
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"WARC/"):
        return "warc"
    if stripped.startswith(b"filedesc://"):
        return "arc"
    if head.startswith(b"PAR1") or name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".warc", ".wet", ".arc")):
        return "arc" if name.endswith(".arc") else "warc"
    lowered = stripped[:256].lower()
    if name.endswith((".jsonl", ".ndjson", ".json")) or stripped.startswith(b"{"):
        return "jsonl"
    if name.endswith((".html", ".htm", ".xhtml")) or lowered.startswith((b"<!doctype html", b"<html", b"<?xml")):
        return "html"
    if is_gutenberg(head.decode("utf-8", "replace")):
        return "gutenberg"
    if name.endswith((".txt", ".text", ".md")):
        return "text"
    return "unknown"


def reader_for(fmt: str) -> Callable[..., Iterator[dict | r.Reject]]:
    from tailmine.ingest.files import read_gutenberg_file, read_html_file, read_text_file
    from tailmine.ingest.jsonl import read_jsonl
    from tailmine.ingest.parquet import read_parquet
    from tailmine.ingest.warc import read_arc, read_warc

    return {
        "warc": read_warc,
        "wet": read_warc,
        "arc": read_arc,
        "html": read_html_file,
        "gutenberg": read_gutenberg_file,
        "text": read_text_file,
        "jsonl": read_jsonl,
        "parquet": read_parquet,
    }[fmt]


SPLITTABLE = ("jsonl", "parquet")
