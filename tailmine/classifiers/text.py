"""Text preparation shared by training and scoring: one normaliser, one chunker, one WikiText detokeniser.

Why one normaliser for everything: a quality classifier trained on books against crawl pages learns
*any* difference between the two piles, including formatting (hard-wrapped lines in books, runs of
blank lines in pages, curly quotes, WikiText's `` @-@ `` tokens). Every text, positive, negative or
scored, therefore goes through :func:`normalize_text` (:func:`tailmine.textnorm.normalize`: Unicode NFKC,
quotes and dashes folded, lower case, all whitespace collapsed to single spaces), so line layout cannot
be a feature.
"""
from __future__ import annotations

import re
from typing import Iterable, Iterator

from tailmine.textnorm import normalize

#: Characters folded before classification so typography (curly vs straight quotes) is not a feature.
_FOLD = tuple(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
        "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-", "_": "", "\u00a0": " ",
    }.items()
)

#: Longest prefix of a document that is classified (characters). A 16 MB page is judged on its first
#: 200,000 characters: enough for a stable score, and scoring cost stays bounded per document.
MAX_CHARS = 200_000


def normalize_text(text: str, max_chars: int = MAX_CHARS) -> str:
    """The one form every classifier sees: NFKC, folded quotes/dashes/underscores, lower case, single spaces."""
    return normalize(text[:max_chars], replace=_FOLD)


_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")


def chunk_text(text: str, min_bytes: int = 2000, max_bytes: int = 5000) -> Iterator[str]:
    """Cut ``text`` into pieces of about ``min_bytes``..``max_bytes`` UTF-8 bytes at paragraph, then
    sentence, then word boundaries. The last piece may be shorter; a text shorter than ``min_bytes``
    is one piece. Pieces are raw text (not normalised), in order.
    """
    current: list[str] = []
    size = 0
    for paragraph in _PARAGRAPH.split(text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        for piece in _split_long(paragraph, max_bytes):
            n = len(piece.encode("utf-8")) + 2
            if current and size + n > max_bytes:
                yield "\n\n".join(current)
                current, size = [], 0
            current.append(piece)
            size += n
            if size >= min_bytes:
                yield "\n\n".join(current)
                current, size = [], 0
    if current:
        yield "\n\n".join(current)


def _pack(pieces: Iterable[str], max_bytes: int) -> Iterator[str]:
    """Join pieces with spaces into runs of at most ``max_bytes`` UTF-8 bytes (greedy, in order)."""
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        n = len(piece.encode("utf-8")) + 1
        if buffer and size + n > max_bytes:
            yield " ".join(buffer)
            buffer, size = [], 0
        buffer.append(piece)
        size += n
    if buffer:
        yield " ".join(buffer)


def _split_long(paragraph: str, max_bytes: int) -> Iterator[str]:
    if len(paragraph.encode("utf-8")) <= max_bytes:
        yield paragraph
        return
    yield from _pack((piece for sentence in _SENTENCE_END.split(paragraph) for piece in _split_words(sentence, max_bytes)), max_bytes)


def _split_words(sentence: str, max_bytes: int) -> Iterator[str]:
    if len(sentence.encode("utf-8")) <= max_bytes:
        yield sentence
        return
    # a single "word" longer than a chunk (base64, URLs) is cut
    yield from _pack((word[: max_bytes // 4] for word in sentence.split()), max_bytes)


# --- WikiText ------------------------------------------------------------------------------------

_WT_HEADING = re.compile(r"^ ?((?:= )+)(.*?) (?:= ?)+$")
_WT_RULES = [
    (re.compile(r"\s*<unk>\s*"), " "),
    (re.compile(r" @(.)@ "), r"\1"),  # 1 @,@ 000 -> 1,000 ; well @-@ known -> well-known
    (re.compile(r" ([.,;:!?%)\]}])"), r"\1"),
    (re.compile(r"([(\[{$]) "), r"\1"),
    (re.compile(r" (n't|'s|'re|'ve|'m|'ll|'d)\b"), r"\1"),
    (re.compile(r'" (.*?) "'), r'"\1"'),
]


def wikitext_articles(text: str) -> Iterator[tuple[str, str]]:
    """Split raw WikiText (``= Title =`` lines start articles) into (title, detokenised body) pairs.

    WikiText is distributed tokenised (``game 's``, ``1 @,@ 000``, ``<unk>``); left that way, spacing
    alone would separate it from crawl text. Detokenising makes it read like the Wikipedia page it came from.
    Section headings (``= = Gameplay = =``) become their plain text on a line of their own.
    """
    title, lines = None, []
    for line in text.split("\n"):
        match = _WT_HEADING.match(line)
        if match and match.group(1).count("=") == 1:
            if title is not None and lines:
                yield title, _wt_body(lines)
            title, lines = detokenize_wikitext(match.group(2)), []
            continue
        if match:
            lines.append("")
            lines.append(detokenize_wikitext(match.group(2)))
            lines.append("")
        elif line.strip():
            lines.append(detokenize_wikitext(line))
    if title is not None and lines:
        yield title, _wt_body(lines)


def _wt_body(lines: list[str]) -> str:
    return "\n\n".join(part.strip() for part in "\n".join(lines).split("\n\n") if part.strip())


def detokenize_wikitext(line: str) -> str:
    line = " " + line.strip() + " "
    for pattern, replacement in _WT_RULES:
        line = pattern.sub(replacement, line)
    return " ".join(line.split())
