"""Training units: documents cut at paragraph, then sentence boundaries into pieces a trainer can use.

A budget smaller than a few books can only take whole books when the document is the unit of
sampling (one 650k-token book was a third of a 2M-token mixture). :func:`cut_units` cuts a document
into consecutive units of at most ``limit`` tokens each, so that weights, epoch caps and the hold-out
split act on pieces of at most a context window:

1. a document that fits is one unit (one encode, the common case for web pages);
2. otherwise it is split into paragraphs (the separator stays with the paragraph before it), a
   paragraph that does not fit into sentences, a sentence that does not fit at the last whitespace
   before a proportional cut (then at any character), and consecutive pieces are packed greedily;
3. every unit is encoded on its own and checked: BPE pre-tokenisation can split differently at a
   joint than in the separate pieces, so a unit over the limit gives back its last piece.

The units cover the text exactly (``text[a:b]`` concatenated is the document) and their tokens are
those of ``encode(text[a:b])``, so the lineage's character offsets reproduce every sequence.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

PARAGRAPH_END = re.compile(r"\n[ \t\r\f\v]*\n\s*")
SENTENCE_END = re.compile(r"(?<=[.!?。！？…])[\"'”’)\]]*\s+")
Encode = Callable[[Sequence[str]], list]


@dataclass(frozen=True)
class Unit:
    char_start: int
    char_end: int
    ids: list


def _split_after(text: str, start: int, end: int, pattern: re.Pattern) -> list[tuple[int, int]]:
    """[start, end) cut after every match of ``pattern`` (the separator stays with the piece before)."""
    out, at = [], start
    for m in pattern.finditer(text, start, end):
        if m.end() > at and m.end() < end:
            out.append((at, m.end()))
            at = m.end()
    out.append((at, end))
    return out


def _hard_split(text: str, start: int, end: int, n_tokens: int, limit: int) -> list[tuple[int, int]]:
    """Proportional cuts (90% of the limit each), each moved back to the last space before it if any."""
    parts = max(2, -(-n_tokens * 10 // (9 * limit)))
    step = (end - start) / parts
    out, at = [], start
    for p in range(1, parts):
        cut = int(start + p * step)
        space = text.rfind(" ", at + 1, cut + 1)
        cut = space + 1 if space > at else cut
        if at < cut < end:
            out.append((at, cut))
            at = cut
    out.append((at, end))
    return out


def _pieces(text: str, start: int, end: int, n_tokens: int, encode: Encode, limit: int, level: int = 0) -> list[tuple[int, int, int]]:
    """(start, end, token count) of pieces of [start, end) that each fit in ``limit``, in reading order.

    ``level`` 0 splits at paragraphs, 1 at sentences, 2 and deeper at whitespace or characters."""
    if n_tokens <= limit:
        return [(start, end, n_tokens)]
    while level < 2:
        spans = _split_after(text, start, end, (PARAGRAPH_END, SENTENCE_END)[level])
        level += 1
        if len(spans) > 1:
            break
    else:
        spans = _hard_split(text, start, end, n_tokens, limit)
    counts = [len(ids) for ids in encode([text[a:b] for a, b in spans])]
    out: list[tuple[int, int, int]] = []
    for (a, b), n in zip(spans, counts):
        out.extend(_pieces(text, a, b, n, encode, limit, level))
    return out


def cut_units(text: str, encode: Encode, limit: int, ids: list | None = None) -> list[Unit]:
    """Consecutive units of ``text``, each encoding to at most ``limit`` tokens (see the module doc).

    ``ids``: the encoding of the whole text when the caller already has it."""
    if ids is None:
        ids = encode([text])[0]
    if len(ids) <= limit:
        return [Unit(0, len(text), list(ids))]
    pieces = _pieces(text, 0, len(text), len(ids), encode, limit)
    units: list[Unit] = []
    i = 0
    while i < len(pieces):
        j, total = i, 0
        while j < len(pieces) and (j == i or total + pieces[j][2] <= limit):
            total += pieces[j][2]
            j += 1
        while True:  # the joint encoding may be longer than the pieces' sum: give back the last piece
            start, end = pieces[i][0], pieces[j - 1][1]
            unit_ids = encode([text[start:end]])[0]
            if len(unit_ids) <= limit or j == i + 1:
                break
            j -= 1
        units.append(Unit(start, end, list(unit_ids)))
        i = j
    return units
