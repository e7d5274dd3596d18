"""What a reader yields for each input record: a document row, or a rejection with a named reason.

Every reader yields exactly one outcome per input record, so the stage's counts balance by
construction. Reasons are snake_case constants, counted in the manifest and stored with the record.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

DROPPED = "dropped"
QUARANTINED = "quarantined"

# Dropped: well-formed input that is not a document we keep.
NON_DOCUMENT_RECORD = "non_document_record"  # warcinfo, request, metadata, resource, revisit records
NON_TEXT_CONTENT_TYPE = "non_text_content_type"  # images, CSS, JavaScript, PDFs ...
HTTP_ERROR_STATUS = "http_error_status"  # non-2xx responses: error pages and redirects
EMPTY_TEXT = "empty_text"  # nothing left after extraction
BLANK_LINE = "blank_line"  # a JSONL line holding only whitespace: counted, so a file's lines add up
DOCUMENT_TOO_LARGE = "document_too_large"  # over max_doc_bytes

# Quarantined: input that is broken; kept for inspection with the error and the first bytes.
TRUNCATED_RECORD = "truncated_record"  # a record shorter than its declared length (cut file)
TRUNCATED_INPUT = "truncated_input"  # a compressed stream that ends mid-way
CORRUPT_RECORD = "corrupt_record"  # a record the parser rejects
CORRUPT_FILE = "corrupt_file"  # a file whose container cannot be read at all (bad Parquet footer ...)
BINARY_PAYLOAD = "binary_payload"  # declared as text but holds binary bytes
UNDECODABLE_BYTES = "undecodable_bytes"  # bytes that are not valid text in any plausible encoding
INVALID_JSON = "invalid_json"  # a JSONL line that is not a JSON object
MISSING_TEXT_FIELD = "missing_text_field"  # a JSONL/Parquet record without a string text field
UNKNOWN_FORMAT = "unknown_format"  # a file whose format cannot be detected
UNREADABLE_FILE = "unreadable_file"  # a file or folder that cannot be opened or listed (permissions, FIFO, device)
BROKEN_LINK = "broken_link"  # a dangling symlink, a symlink loop, or a second path to a folder already read
DECOMPRESSION_LIMIT = "decompression_limit"  # the rest of a file past the decompression size or ratio limit

SNIPPET_BYTES = 256


@dataclass(frozen=True)
class Reject:
    """One input record that does not become a document."""

    action: str  # DROPPED or QUARANTINED
    reason: str
    record: Optional[int]
    offset: Optional[int]
    detail: str = ""
    snippet: bytes = b""


def drop(reason: str, record: Optional[int], offset: Optional[int] = None, detail: str = "", snippet: bytes = b"") -> Reject:
    return Reject(DROPPED, reason, record, offset, detail, snippet[:SNIPPET_BYTES])


def quarantine(reason: str, record: Optional[int], offset: Optional[int] = None, detail: str = "", snippet: bytes = b"") -> Reject:
    return Reject(QUARANTINED, reason, record, offset, detail, snippet[:SNIPPET_BYTES])


def generated_id(source: str, path: str, locator: int | str) -> str:
    """A stable id for a record without one: the source kind, the file's last two path parts, the locator.

    The last two parts (not the full path) keep ids stable when a dump moves between buckets.
    """
    from tailmine.fileio import stable_file_key

    tail = stable_file_key(path)
    digest = hashlib.blake2b(f"{tail}\0{locator}".encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()
    return f"{source}:{digest}"


def clean_url(value) -> Optional[str]:
    """A URL as a document keeps it: a string, surrounding whitespace and one pair of ``<...>`` brackets
    removed (WARC/1.1 drafts and some writers wrap WARC-Target-URI in them); None when empty."""
    if value is None:
        return None
    url = (value if isinstance(value, str) else str(value)).strip()
    if url.startswith("<") and url.endswith(">"):
        url = url[1:-1].strip()
    return url or None
