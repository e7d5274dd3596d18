"""Project Gutenberg plain-text books: strip the licence header and footer, keep title and author.

Gutenberg files carry a header (title, author, release date, language, licence) ended by a
``*** START OF THE/THIS PROJECT GUTENBERG EBOOK ... ***`` line, and a footer (the full licence)
begun by ``*** END OF ...``. Older files use "End of the Project Gutenberg EBook of ..." or the
"*END*THE SMALL PRINT!" banner. Only the text between the markers is kept; a missing marker is
recorded in the metadata instead of guessing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

_START = re.compile(
    r"^[ \t]*\*{3}[ \t]*START OF (?:THE|THIS) PROJECT GUTENBERG E-?(?:BOOK|TEXT)[^\n]*$"
    r"|^\*END\*THE SMALL PRINT![^\n]*$",
    re.I | re.M,
)
_END = re.compile(
    r"^[ \t]*\*{3}[ \t]*END OF (?:THE|THIS) PROJECT GUTENBERG E-?(?:BOOK|TEXT)[^\n]*$"
    r"|^[ \t]*End of (?:the )?Project Gutenberg(?:['\u2019]s)?[^\n]*$"
    r"|^\*{3,}\s*This file should be named[^\n]*$",
    re.I | re.M,
)
_FIELD = re.compile(r"^(Title|Author|Language|Release Date|Translator|Editor)\s*:\s*(.*)$", re.I | re.M)
_EBOOK_NO = re.compile(r"\[E-?(?:Book|Text) #(\d+)\]", re.I)
_PRODUCED_BY = re.compile(r"^\s*(?:Produced by|E-text prepared by|Transcribed from|This e-?text was)[^\n]*(?:\n[^\n]+)*\n\s*\n", re.I)
_BANNER = re.compile(r"^[^\n]*Project Gutenberg[^\n]*$", re.I | re.M)
_HEADER_SCAN = 64 * 1024


@dataclass
class Book:
    title: Optional[str]
    author: Optional[str]
    text: str
    metadata: dict = field(default_factory=dict)


def is_gutenberg(head: str) -> bool:
    head = head[:_HEADER_SCAN]
    return "project gutenberg" in head.lower() and bool(_START.search(head) or _FIELD.search(head))


def parse_book(text: str) -> Book:
    """Split a Gutenberg file into metadata and body."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    start = _START.search(text)
    header = text[: start.start()] if start else text[:_HEADER_SCAN]
    body_start = start.end() if start else 0
    end = _END.search(text, body_start)
    body_end = end.start() if end else len(text)
    fields: dict[str, str] = {}
    for match in _FIELD.finditer(header):
        key = match.group(1).lower().replace(" ", "_")
        if key in fields:
            continue
        value = match.group(2).strip()
        # continuation lines of a long title are indented
        rest = header[match.end():].split("\n")[1:]
        for line in rest:
            if line.startswith((" ", "\t")) and line.strip():
                value += " " + line.strip()
            else:
                break
        fields[key] = value
    body = text[body_start:body_end]
    if end:
        # Old files open their trailing header block with "The Project Gutenberg Etext of <title>" / "by <author>"
        # just before "This file should be named": drop such a line if it sits in the last few lines.
        tail_start = max(0, len(body) - 400)
        banner = None
        for banner in _BANNER.finditer(body, tail_start):
            pass
        if banner:
            body = body[: banner.start()]
    body = _PRODUCED_BY.sub("", body.lstrip("\n"), count=1).strip()
    number = _EBOOK_NO.search(header)
    meta = {
        "gutenberg_start_marker": bool(start),
        "gutenberg_end_marker": bool(end),
    }
    for key in ("language", "release_date", "translator", "editor"):
        if fields.get(key):
            meta[key] = fields[key]
    if number:
        meta["ebook_number"] = int(number.group(1))
    if fields.get("author"):
        meta["author"] = fields["author"]
    return Book(fields.get("title") or None, fields.get("author") or None, body, meta)
