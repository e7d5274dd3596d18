"""JSONL records (``.jsonl``, ``.json``, ``.ndjson``, optionally gzip/zstd compressed).

Lines are read with a length cap so one giant line cannot exhaust memory: an over-long line is
skipped to its end in chunks and dropped as ``document_too_large``. Whatever goes wrong inside one
line (invalid JSON, 100,000 nested brackets, bad UTF-8) quarantines that line alone: every line is a
counted record (a blank one is dropped as ``blank_line``), and the lines after it are read. Uncompressed
files can be read in byte ranges (a range owns the lines that start inside it), which lets large files spread over workers.
Fields other than id/text/url/title go into the metadata column, unknown fields included (a nested
field read as the URL or title, e.g. Dolma's ``metadata.url``, stays in its object there too).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterator, Optional

from tailmine.ingest import records as r

try:  # orjson parses ~3x faster than json here; json stays the fallback and the error classifier
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover
    _fast_loads = json.loads

_CHUNK = 1 << 20


def _skip_line(handle, limit: Optional[int] = None) -> int:
    """Read past the end of the current line in ``_CHUNK`` pieces (never the whole line at once);
    returns the bytes skipped. With ``limit``, stop once that many bytes were skipped (the line runs
    past the caller's range, so nothing beyond it matters)."""
    skipped = 0
    while limit is None or skipped < limit:
        rest = handle.readline(_CHUNK)
        skipped += len(rest)
        if not rest or rest.endswith(b"\n"):
            break
    return skipped


def _lines(handle, start: int, end: Optional[int], cap: int):
    """Yield (offset, line_bytes_or_None_if_too_long) for lines starting in [start, end).

    No read is larger than ``cap + 1`` bytes, so a giant line costs ``cap`` bytes of memory wherever
    the range starts, mid-line included; a range that starts inside a line longer than itself reads
    only its own bytes (not the rest of the line: 64 ranges of one 1 GiB line would read 32 GiB).
    """
    pos = start
    if start > 0:
        handle.seek(start - 1)
        if handle.read(1) != b"\n":  # the line under `start` belongs to the previous range
            pos = start + _skip_line(handle, None if end is None else end - start)
    while end is None or pos < end:
        line = handle.readline(cap + 1)
        if not line:
            return
        offset = pos
        pos += len(line)
        if len(line) > cap and not line.endswith(b"\n"):
            pos += _skip_line(handle)  # discard the rest of the over-long line without holding it
            yield offset, None
            continue
        yield offset, line


@dataclass(frozen=True)
class FieldNames:
    """The candidate field names of a config, split once per file rather than once per record."""

    text: tuple[str, ...]
    id: tuple[str, ...]
    url: tuple[str, ...]
    title: tuple[str, ...]

    @classmethod
    def of(cls, cfg) -> "FieldNames":
        return cls(cfg.fields_of("text_field"), cfg.fields_of("id_field"), cfg.fields_of("url_field"), cfg.fields_of("title_field"))


def read_jsonl(path: str, cfg, extractor=None, start: int = 0, end: Optional[int] = None) -> Iterator[dict | r.Reject]:
    from tailmine.fileio import DecompressionLimit, open_input

    names = FieldNames.of(cfg)
    split = start > 0 or end is not None
    index = -1
    offset = start
    try:
        with open_input(path, cfg.max_decompressed_bytes, cfg.max_compression_ratio) as handle:
            for offset, line in _lines(handle, start, end, cfg.max_doc_bytes):
                index += 1
                record = None if split else index
                if line is not None and not line.strip():
                    yield r.drop(r.BLANK_LINE, record, offset, "blank line")
                    continue
                if line is None:
                    yield r.drop(r.DOCUMENT_TOO_LARGE, record, offset, f"line longer than max_doc_bytes {cfg.max_doc_bytes}")
                    continue
                yield _guarded_record(line, path, record, offset, names)
    except DecompressionLimit as exc:
        yield r.quarantine(r.DECOMPRESSION_LIMIT, None if split else index + 1, offset, f"reading stopped: {exc}")
    except EOFError as exc:
        yield r.quarantine(r.TRUNCATED_INPUT, None if split else index + 1, offset, f"compressed stream ends early: {exc}")
    except OSError as exc:
        yield r.quarantine(r.CORRUPT_FILE, None if split else index + 1, offset, str(exc))
    except Exception as exc:  # zstandard.ZstdError
        reason = r.TRUNCATED_INPUT if "truncat" in str(exc).lower() or "incomplete" in str(exc).lower() else r.CORRUPT_FILE
        yield r.quarantine(reason, None if split else index + 1, offset, str(exc))


def _guarded_record(line: bytes, path: str, record, offset: int, names: "FieldNames") -> dict | r.Reject:
    """One line's outcome; whatever goes wrong inside one line (a RecursionError from 100,000 nested
    brackets, a value the metadata encoder cannot take) quarantines that line only, and reading goes on."""
    try:
        return _record(line, path, record, offset, names)
    except RecursionError:
        return r.quarantine(r.INVALID_JSON, record, offset, "JSON nested too deeply to parse", line)
    except Exception as exc:  # one bad line must never abandon the rest of the file
        return r.quarantine(r.CORRUPT_RECORD, record, offset, f"{type(exc).__name__}: {exc}", line)


def _record(line: bytes, path: str, record, offset: int, names: FieldNames) -> dict | r.Reject:
    try:
        obj = _fast_loads(line)
    except ValueError:
        return _classify_bad_line(line, record, offset)
    if not isinstance(obj, dict):
        return r.quarantine(r.INVALID_JSON, record, offset, f"a JSON {type(obj).__name__}, not an object", line)
    return row_from_mapping(obj, "jsonl", path, record, offset, names, line)


def _classify_bad_line(line: bytes, record, offset: int) -> r.Reject:
    """Why a line failed the fast parser: bad UTF-8, bad JSON, or a lone surrogate escape (valid JSON
    that no UTF-8 text can hold); each is quarantined with its own reason."""
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return r.quarantine(r.UNDECODABLE_BYTES, record, offset, f"invalid UTF-8: {exc}", line)
    try:
        json.loads(decoded)
    except ValueError as exc:
        return r.quarantine(r.INVALID_JSON, record, offset, str(exc), line)
    return r.quarantine(r.UNDECODABLE_BYTES, record, offset, "a \\u escape encodes a lone surrogate, not text", line)


def _str_or_none(value) -> Optional[str]:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _first(obj: dict, names: tuple[str, ...]) -> tuple[str | None, object]:
    """The first of ``names`` present (not null) in ``obj`` and its value; ``a.b`` is ``obj["a"]["b"]``
    (a top-level key spelled with a dot is tried first)."""
    for name in names:
        value = obj.get(name)
        if value is None and "." in name:
            value = obj
            for part in name.split("."):
                value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            return name, value
    return None, None


def row_from_mapping(obj: dict, source: str, path: str, record, offset, names: FieldNames, raw: bytes | None = None) -> dict | r.Reject:
    """A document row from a JSON object or Parquet row; shared by the JSONL and Parquet readers."""
    text_key, text = _first(obj, names.text)
    if not isinstance(text, str):
        what = "missing" if text is None else f"a {type(text).__name__}, not a string"
        snippet = raw if raw is not None else json.dumps(obj, default=str)[:256].encode()
        wanted = " or ".join(repr(n) for n in names.text)
        return r.quarantine(r.MISSING_TEXT_FIELD, record, offset, f"field {wanted} is {what}", snippet)
    raw_bytes = len(raw) if raw is not None else len(text.encode("utf-8"))
    id_key, existing = _first(obj, names.id)
    url_key, url = _first(obj, names.url)
    title_key, title = _first(obj, names.title)
    locator = offset if offset is not None else record
    reserved = {text_key, id_key, url_key, title_key}
    meta = {k: v for k, v in obj.items() if k not in reserved}
    return {
        "id": _str_or_none(existing) if existing not in (None, "") else r.generated_id(source, path, locator),
        "source": source,
        "url": r.clean_url(url),
        "title": _str_or_none(title),
        "text": text,
        "raw_bytes": raw_bytes,
        "timestamp": None,
        "source_record": record,
        "source_offset": offset,
        "metadata": json.dumps(meta, sort_keys=True, ensure_ascii=False, default=str),
    }
