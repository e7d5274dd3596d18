"""Bytes to text: charset detection, binary sniffing, and HTTP transfer/content decoding.

Decoding tries the declared charset, then the document's own declaration and a statistical guess
(resiliparse's ``detect_encoding``), then UTF-8. Text that still needs many replacement characters is
reported with its replacement ratio so the caller can quarantine it rather than keep mojibake.
"""
from __future__ import annotations

import codecs
import re
import zlib
from typing import Optional

_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27))
_CONTROL_TABLE = bytes.maketrans(b"", b"")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)""", re.I)
SNIFF_BYTES = 8192


def looks_binary(data: bytes) -> bool:
    """True for payloads that are not text: NUL bytes, or many control bytes, in the first 8 KiB.

    UTF-16 text also has NUL bytes; it is recognised by its byte-order mark and not called binary.
    """
    head = data[:SNIFF_BYTES]
    if not head:
        return False
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    if b"\x00" in head:
        return True
    controls = len(head) - len(head.translate(_CONTROL_TABLE, _CONTROL))
    return controls > 0.1 * len(head)


def normalize_encoding(name: Optional[str]) -> Optional[str]:
    """A Python codec name for a declared charset, or None if Python does not know it."""
    if not name:
        return None
    name = name.strip().strip("\"'").lower()
    # WHATWG: latin-1 and ascii labels mean windows-1252 on the web.
    if name in ("iso-8859-1", "iso8859-1", "latin1", "latin-1", "us-ascii", "ascii"):
        name = "cp1252"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def meta_charset(data: bytes) -> Optional[str]:
    match = _META_CHARSET.search(data[:SNIFF_BYTES])
    return match.group(1).decode("ascii", "ignore") if match else None


def decode_text(data: bytes, declared: Optional[str] = None, html: bool = False) -> tuple[str, str, float]:
    """Decode ``data``; returns (text, encoding used, share of U+FFFD replacement characters).

    Strict decodes are tried in order: BOM, declared charset, ``<meta charset>`` (HTML), UTF-8,
    resiliparse's guess. If none decodes strictly, UTF-8 with replacement is used and the ratio tells
    how much was lost.
    """
    if data.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    else:
        candidates = []
    candidates.append(normalize_encoding(declared))
    if html:
        candidates.append(normalize_encoding(meta_charset(data)))
    candidates.append("utf-8")
    tried = set()
    for encoding in candidates:
        if not encoding or encoding in tried:
            continue
        tried.add(encoding)
        try:
            return data.decode(encoding), encoding, 0.0
        except (UnicodeDecodeError, LookupError):
            continue
    guess = _guess_encoding(data)
    if guess and guess not in tried and guess != "utf-8":
        try:
            return data.decode(guess), guess, 0.0
        except (UnicodeDecodeError, LookupError):
            pass
    text = data.decode("utf-8", errors="replace")
    return text, "utf-8", (text.count("\ufffd") / len(text) if text else 0.0)


def _guess_encoding(data: bytes) -> Optional[str]:
    try:
        from resiliparse.parse.encoding import detect_encoding

        return normalize_encoding(detect_encoding(data[: 64 * 1024]))
    except Exception:
        return None


def dechunk(data: bytes) -> bytes:
    """Undo HTTP/1.1 chunked transfer encoding; tolerant of a missing final chunk (truncated responses)."""
    out = bytearray()
    pos = 0
    while pos < len(data):
        end = data.find(b"\r\n", pos)
        if end < 0:
            break
        size_field = data[pos:end].split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            return data  # not actually chunked: keep the bytes as they are
        if size == 0:
            break
        out += data[end + 2 : end + 2 + size]
        pos = end + 2 + size + 2
    return bytes(out)


def decode_content(data: bytes, encoding: str, limit: int) -> bytes:
    """Undo HTTP Content-Encoding gzip/deflate/br, producing at most ``limit + 1`` bytes (bomb-safe).

    Every decoder is told the output limit while it inflates, so a 658-byte brotli bomb costs
    ``limit`` bytes, not the gigabytes it expands to; a result longer than ``limit`` means "too large".
    """
    encoding = encoding.strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        wbits = 47 if encoding != "deflate" else 15  # 47: auto-detect gzip/zlib header
        decompressor = zlib.decompressobj(wbits)
        try:
            out = decompressor.decompress(data, limit + 1)
        except zlib.error:
            if encoding == "deflate":  # raw deflate without zlib header
                out = zlib.decompressobj(-15).decompress(data, limit + 1)
            else:
                raise
        return out
    if encoding == "br":
        return _brotli_capped(data, limit + 1)
    return data


def _brotli_capped(data: bytes, cap: int) -> bytes:
    """Brotli-decode at most about ``cap`` bytes: the decoder's output buffer stops growing at the cap."""
    import brotli  # brotli>=1.2 (output_buffer_limit)

    out = brotli.Decompressor().process(data, output_buffer_limit=cap)
    return out[:cap]
