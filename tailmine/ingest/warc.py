"""WARC, WET and ARC readers.

WARC/WET are read with fastwarc (about 4x warcio here), which also reads gzip/zstd members itself.
fastwarc is lenient: it resynchronises after garbage and returns a short body for a record cut off by
the end of the file. A short body is detected by comparing it with the declared Content-Length and
quarantined as ``truncated_record``. ARC files (which fastwarc skips entirely) go through warcio.
"""
from __future__ import annotations

import json
import re
from datetime import timezone
from typing import Iterator, Optional

from tailmine.ingest import records as r
from tailmine.ingest.decode import dechunk, decode_content, decode_text, looks_binary

HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xhtml")
PLAIN_TYPES = ("text/plain",)
# A payload without a usable content type is HTML if a common tag opens within its first bytes.
_HTML_SNIFF = re.compile(rb"<(?:!doctype\s+html|html|head|body|title|meta|div|p|table|span|a|ul|script|style|link|br|h[1-6])[\s>/]", re.I)
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def looks_like_html(body: bytes) -> bool:
    return bool(_HTML_SNIFF.search(body[:1024]))


def http_headers_malformed(http) -> bool:
    """True when the HTTP header block was mis-parsed: ClueWeb09 and other old crawls have header
    blocks whose line endings make parsers read the page's <head> as headers (names full of markup)."""
    return any(not _HEADER_NAME.match(name or "") for name, _ in http.items())


def _mime(content_type: Optional[str]) -> tuple[str, Optional[str]]:
    """('text/html', 'utf-8') from 'text/html; charset=UTF-8'."""
    if not content_type:
        return "", None
    parts = [p.strip() for p in content_type.split(";")]
    charset = None
    for p in parts[1:]:
        if p.lower().startswith("charset="):
            charset = p.split("=", 1)[1].strip().strip("\"'")
    return parts[0].lower(), charset


def _iso(dt) -> Optional[object]:
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def payload_to_document(
    body: bytes,
    *,
    mime: str,
    charset: Optional[str],
    record: int,
    offset: Optional[int],
    extractor,
    cfg,
) -> tuple[Optional[str], str, Optional[r.Reject], dict]:
    """Turn an HTTP or conversion payload into (title, text) or a Reject. Shared by the WARC and ARC paths."""
    if mime and not (mime in HTML_TYPES or mime in PLAIN_TYPES):
        return None, "", r.drop(r.NON_TEXT_CONTENT_TYPE, record, offset, mime, body), {}
    if looks_binary(body):
        return None, "", r.quarantine(r.BINARY_PAYLOAD, record, offset, f"declared {mime or 'no content type'}", body), {}
    is_html = (
        mime in HTML_TYPES
        or (not mime and looks_like_html(body))
        # mislabelled servers: "text/plain" that is an HTML document from its first bytes
        or (mime in PLAIN_TYPES and body[:256].lstrip().lower().startswith((b"<!doctype html", b"<html")))
    )
    text, encoding, bad = decode_text(body, charset, html=is_html)
    if bad > cfg.max_replacement_ratio:
        return None, "", r.quarantine(r.UNDECODABLE_BYTES, record, offset, f"{bad:.1%} of characters undecodable", body), {}
    meta = {"encoding": encoding, "content_type": mime or None}
    if is_html:
        extraction = extractor(text)
        return extraction.title or None, extraction.text, None, meta
    return None, text, None, meta


def read_warc(path: str, cfg, extractor, source_hint: str = "warc") -> Iterator[dict | r.Reject]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    from tailmine.fileio import is_local, open_raw

    from tailmine.fileio import DecompressionLimit, check_decompression

    stream = path if is_local(path) else open_raw(path)
    index = -1
    decompressed = 0
    try:
        for rec in ArchiveIterator(stream, parse_http=True, auto_decode="none", fsspec_args=False):
            index += 1
            # fastwarc inflates internally: bound the work by declared record sizes against the compressed
            # position, so a bomb is cut before the parser spends its time skipping through it
            try:  # records already passed (decompressed) against the compressed bytes consumed to get here
                check_decompression(decompressed, rec.stream_pos, cfg.max_decompressed_bytes, cfg.max_compression_ratio)
                check_decompression(rec.content_length, 0, cfg.max_decompressed_bytes, float("inf"))
            except DecompressionLimit as exc:
                yield r.quarantine(r.DECOMPRESSION_LIMIT, index, rec.stream_pos, f"reading stopped: {exc}")
                return
            decompressed += rec.content_length
            yield _warc_record(rec, index, path, cfg, extractor, WarcRecordType)
    except Exception as exc:  # the container itself broke: everything after this point is unreadable
        yield r.quarantine(r.CORRUPT_RECORD, index + 1, None, f"WARC parser stopped: {exc}")
    finally:
        if not isinstance(stream, str):
            stream.close()


def _warc_record(rec, index: int, path: str, cfg, extractor, types) -> dict | r.Reject:
    rtype = rec.record_type
    offset = rec.stream_pos
    if rtype not in (types.response, types.conversion):
        # only HTTP responses and conversions (WET text) are crawled documents: resource and metadata
        # records hold the crawler's own files (wget's log, its arguments), warcinfo/request/revisit none
        return r.drop(r.NON_DOCUMENT_RECORD, index, offset, str(rtype).rsplit(".", 1)[-1])
    declared = rec.content_length
    if declared > cfg.max_doc_bytes:
        return r.drop(r.DOCUMENT_TOO_LARGE, index, offset, f"{declared} bytes > max_doc_bytes {cfg.max_doc_bytes}")
    headers = rec.headers
    url = r.clean_url(headers.get("WARC-Target-URI"))
    body = rec.reader.read(cfg.max_doc_bytes + 1)
    if len(body) < declared:
        return r.quarantine(r.TRUNCATED_RECORD, index, offset, f"{len(body)} of {declared} declared bytes present", body)
    raw_bytes = len(body)
    http_meta: dict = {}
    if rtype == types.response:
        if not rec.is_http:
            return r.drop(r.NON_DOCUMENT_RECORD, index, offset, "response without HTTP headers (dns: or similar)", body)
        http = rec.http_headers
        status = http.status_code
        if not 200 <= (status or 0) < 300:
            return r.drop(r.HTTP_ERROR_STATUS, index, offset, f"HTTP {status}", body)
        malformed = http_headers_malformed(http)
        # Malformed headers: trust none of them (the real ones may be lost); sniff the payload instead.
        content_type = None if malformed else http.get("Content-Type")
        transfer = "" if malformed else (http.get("Transfer-Encoding") or "").lower()
        coding = "" if malformed else (http.get("Content-Encoding") or "")
        try:
            if "chunked" in transfer:
                body = dechunk(body)
            if coding and coding.lower() not in ("identity", "none"):
                body = decode_content(body, coding, cfg.max_doc_bytes)
        except Exception as exc:
            return r.quarantine(r.CORRUPT_RECORD, index, offset, f"cannot undo HTTP encoding {coding or transfer}: {exc}", body)
        if len(body) > cfg.max_doc_bytes:
            return r.drop(r.DOCUMENT_TOO_LARGE, index, offset, f"decoded payload over max_doc_bytes {cfg.max_doc_bytes}")
        http_meta = {"http_status": status, **({"http_headers_malformed": True} if malformed else {})}
        source = "warc"
    else:
        content_type = headers.get("Content-Type")
        source = "wet" if rtype == types.conversion else "warc"
    mime, charset = _mime(content_type)
    if rtype == types.conversion and not mime:
        mime = "text/plain"
    title, text, reject, meta = payload_to_document(
        body, mime=mime, charset=charset, record=index, offset=offset, extractor=extractor, cfg=cfg
    )
    if reject is not None:
        return reject
    language = headers.get("WARC-Identified-Content-Language")
    if language:
        meta["warc_language"] = language
    meta.update(http_meta)
    record_id = headers.get("WARC-Record-ID")
    if record_id:
        # Kept as metadata, not as the id: the same record copied into two files must still get two ids.
        meta["warc_record_id"] = record_id.strip("<>")
    return {
        "id": r.generated_id(source, path, offset),
        "source": source,
        "url": url,
        "title": title,
        "text": text,
        "raw_bytes": raw_bytes,
        "timestamp": _iso(rec.record_date),
        "source_record": index,
        "source_offset": offset,
        "metadata": json.dumps({k: v for k, v in meta.items() if v is not None}, sort_keys=True, ensure_ascii=False),
    }


def read_arc(path: str, cfg, extractor) -> Iterator[dict | r.Reject]:
    """Legacy ARC files through warcio (which converts them to WARC records on the fly)."""
    from warcio.archiveiterator import ArchiveIterator

    from tailmine.fileio import open_raw

    index = -1
    with open_raw(path) as stream:
        iterator = ArchiveIterator(stream, arc2warc=True)
        try:
            for rec in iterator:
                index += 1
                if rec.rec_type != "response":
                    yield r.drop(r.NON_DOCUMENT_RECORD, index, iterator.get_record_offset(), rec.rec_type)
                    continue
                body = rec.content_stream().read(cfg.max_doc_bytes + 1)
                offset = iterator.get_record_offset()  # after the read: warcio's offset lookup consumes the body
                if len(body) > cfg.max_doc_bytes:
                    yield r.drop(r.DOCUMENT_TOO_LARGE, index, offset, f"over max_doc_bytes {cfg.max_doc_bytes}")
                    continue
                status = rec.http_headers.get_statuscode() if rec.http_headers else None
                if status and not str(status).startswith("2"):
                    yield r.drop(r.HTTP_ERROR_STATUS, index, offset, f"HTTP {status}", body)
                    continue
                mime, charset = _mime(rec.http_headers.get_header("Content-Type") if rec.http_headers else None)
                title, text, reject, meta = payload_to_document(
                    body, mime=mime, charset=charset, record=index, offset=offset, extractor=extractor, cfg=cfg
                )
                if reject is not None:
                    yield reject
                    continue
                url = rec.rec_headers.get_header("WARC-Target-URI")
                yield {
                    "id": r.generated_id("arc", path, offset),
                    "source": "warc",
                    "url": url,
                    "title": title,
                    "text": text,
                    "raw_bytes": len(body),
                    "timestamp": None,
                    "source_record": index,
                    "source_offset": offset,
                    "metadata": json.dumps({**meta, "container": "arc"}, sort_keys=True, ensure_ascii=False),
                }
        except Exception as exc:
            yield r.quarantine(r.CORRUPT_RECORD, index + 1, None, f"ARC parser stopped: {exc}")
