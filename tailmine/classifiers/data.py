"""Training data for quality classifiers: documents -> labelled, grouped, normalised chunks, split by group.

DCLM-style: positives are reference-quality text (books, encyclopedic or documentation pages),
negatives random crawl text. Three rules keep the held-out AUC honest:

* **Same preparation for both classes.** Every document is cut by :func:`~tailmine.classifiers.text.chunk_text`
  and normalised by :func:`~tailmine.classifiers.text.normalize_text`, whatever its class; WikiText is
  detokenised first so its token spacing is not a tell.
* **Split by group, not by chunk.** Chunks of one book (or one web site: its registered domain) are all on
  one side of the split, and groups that are editions of one work (same title key, or sharing many
  sentences) are merged first, so a held-out chunk is never a near copy of a training chunk. Documents
  without URL or book title group by their file, or by document when their file holds several (one
  JSONL file of reference text, as DCLM ships its positives, is many groups, not one).
* **Stratified.** Each class's groups are held out by a hash of the group key and the seed, and a class
  always keeps at least one group on each side; a class with a single group is split by document
  when it has at least ``MIN_CLASS_DOCUMENTS`` documents, and is an error saying how many it has otherwise.
* **Capped groups.** At most ``max_chunks_per_group`` chunks (evenly spaced) per group, so a long book
  does not outweigh a hundred short ones.

This module starts from document rows. Files are read with the ingest stage itself
(:func:`tailmine.pipelines.classify.load_documents`), so every format ``ingest`` reads is accepted and
there is exactly one reader per format.
"""
from __future__ import annotations

import hashlib
import os
import re
import tarfile
import zlib
from dataclasses import dataclass
from typing import Iterable, Optional

from tailmine.domains import registered_domain
from tailmine.fileio import stable_file_key as _stable_file_key  # a temp-dir path would move groups across the split

from tailmine.classifiers.text import chunk_text, normalize_text, wikitext_articles
from tailmine.errors import ConfigError

DOC_COLUMNS = ["id", "source", "url", "title", "text", "source_file"]
"""The document columns training reads (what :func:`build_examples` uses)."""
MIN_CLASS_DOCUMENTS = 20
"""A class whose documents all fall in one group is split by document when it has at least this many
documents; with fewer, training stops with an error saying how many it has."""


@dataclass(frozen=True)
class DataConfig:
    """How documents become training examples. Defaults are the ones measured in BENCHMARKS.md."""

    chunk_min_bytes: int = 2000
    """A chunk is closed once it holds this many UTF-8 bytes (at a paragraph or sentence boundary)."""
    chunk_max_bytes: int = 5000
    """No chunk is longer than this many bytes."""
    min_example_bytes: int = 200
    """Chunks shorter than this (menus, stubs) are not used for training or evaluation, in either class."""
    max_chunks_per_group: int = 20
    """At most this many chunks (evenly spaced) per group (book, web site, WikiText article)."""
    heldout_fraction: float = 0.2
    """Share of groups held out for the card's metrics; assignment hashes the group key with the seed."""
    merge_overlap: float = 0.2
    """Groups sharing at least this share of sampled sentences (of the smaller group) are merged (editions)."""

    def __post_init__(self):
        if not 0 < self.chunk_min_bytes <= self.chunk_max_bytes:
            raise ConfigError(f"chunk_min_bytes/chunk_max_bytes: need 0 < min <= max, got {self.chunk_min_bytes}/{self.chunk_max_bytes}")
        if not 0.0 < self.heldout_fraction < 1.0:
            raise ConfigError(f"heldout_fraction: must lie in (0, 1), got {self.heldout_fraction}")
        if self.max_chunks_per_group < 1:
            raise ConfigError(f"max_chunks_per_group: must be at least 1, got {self.max_chunks_per_group}")


@dataclass(frozen=True)
class Example:
    text: str  # normalised
    label: int  # 1 = reference quality, 0 = crawl
    group: str  # split unit after edition merging
    source: str  # ingest source kind (gutenberg, warc, html, text, ...)
    document: str = ""  # the document (or WikiText article) the chunk comes from


def unpack_html_pages(tarball: str, dest: str) -> list[str]:
    """Extract the saved web pages (``*.html``/``*.htm``, not readability's ``expected.html``) of a tarball.

    For test corpora that ship pages as tarballs; ingest reads the extracted files like any HTML input.
    Pages land in ``dest/<tarball name>/``, so a page's :func:`stable_file_key` (its split group when it
    has no URL) is ``<tarball name>/<page>`` wherever ``dest`` is.
    """
    written = []
    base = os.path.basename(tarball)
    for suffix in (".tar.gz", ".tgz", ".tar"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    dest = os.path.join(dest, base)
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(tarball) as archive:
        for member in sorted(archive.getmembers(), key=lambda m: m.name):
            name = member.name.rsplit("/", 1)[-1]
            if not member.isfile() or not name.lower().endswith((".html", ".htm")) or name == "expected.html":
                continue
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", member.name)
            target = os.path.join(dest, safe)
            with archive.extractfile(member) as src, open(target, "wb") as out:
                out.write(src.read())
            written.append(target)
    return written


# --- grouping ------------------------------------------------------------------------------------

_WIKITEXT_TELL = re.compile(r" @[-,.]@ |<unk>")


def looks_like_wikitext(text: str) -> bool:
    head = text[:20000]
    return len(_WIKITEXT_TELL.findall(head)) >= 5 and " = " in head


def title_key(title: Optional[str]) -> str:
    """Editions of one work share a title key: lower-case letters and digits, first 32 of them."""
    return re.sub(r"[\W_]+", "", (title or "").lower())[:32]


def _site(url: Optional[str]) -> Optional[str]:
    """The registered domain of an http(s) URL (``news.bbc.co.uk`` -> ``bbc.co.uk``), else None."""
    if not url or not url.startswith(("http://", "https://")):
        return None
    return registered_domain(url)


def document_key(doc: dict) -> str:
    return f"{_stable_file_key(doc.get('source_file') or '')}#{doc.get('id') or ''}"


def document_units(doc: dict, by_document: bool = False) -> list[tuple[str, str]]:
    """(group key, text) pieces of one document before edition merging.

    Books group by title key; WikiText files split into articles (one group each); crawl documents
    group by registered domain, falling back to the file, or to the document itself when
    ``by_document`` (its file holds several documents without URLs).
    """
    text = doc["text"] or ""
    if doc.get("source") == "text" and looks_like_wikitext(text):
        return [(f"wikitext:{_stable_file_key(doc['source_file'])}#{i}", body) for i, (_, body) in enumerate(wikitext_articles(text))]
    if doc.get("source") == "gutenberg" and title_key(doc.get("title")):
        return [(f"book:{title_key(doc.get('title'))}", text)]
    site = _site(doc.get("url"))
    if site:
        return [(f"site:{site}", text)]
    return [(f"doc:{document_key(doc)}" if by_document else f"file:{_stable_file_key(doc['source_file'])}", text)]


def _files_with_many_unplaced_documents(docs: Iterable[dict]) -> set:
    """Files holding more than one document that has neither a URL nor a book title: those group by document."""
    counts: dict = {}
    for doc in docs:
        if not _site(doc.get("url")) and not (doc.get("source") == "gutenberg" and title_key(doc.get("title"))):
            counts[doc.get("source_file")] = counts.get(doc.get("source_file"), 0) + 1
    return {f for f, n in counts.items() if n > 1}



class _UnionFind:
    def __init__(self, keys: Iterable[str]):
        self.parent = {k: k for k in keys}

    def find(self, k: str) -> str:
        while self.parent[k] != k:
            self.parent[k] = self.parent[self.parent[k]]
            k = self.parent[k]
        return k

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = sorted((ra, rb))  # deterministic root: the smaller key
            self.parent[hi] = lo


def merge_overlapping_groups(texts_by_group: dict[str, list[str]], overlap: float) -> dict[str, str]:
    """Map every group to a root group; groups sharing >= ``overlap`` of sampled sentences are merged.

    Sentences (>= 60 characters, normalised) are sampled by CRC32 (1 in 8), so the cost is one pass.
    """
    sampled: dict[str, set[int]] = {}
    for group in sorted(texts_by_group):
        keys: set[int] = set()
        for text in texts_by_group[group]:
            for sentence in normalize_text(text, max_chars=len(text)).split(". "):
                if len(sentence) >= 60:
                    crc = zlib.crc32(sentence.encode("utf-8"))
                    if crc % 8 == 0:
                        keys.add(crc)
        sampled[group] = keys
    owners: dict[int, list[str]] = {}
    for group, keys in sampled.items():
        for k in keys:
            owners.setdefault(k, []).append(group)
    shared: dict[tuple[str, str], int] = {}
    for groups in owners.values():
        if 1 < len(groups) <= 50:  # a sentence in very many groups is boilerplate, not an edition
            for i in range(len(groups)):
                for j in range(i + 1, len(groups)):
                    pair = (groups[i], groups[j]) if groups[i] < groups[j] else (groups[j], groups[i])
                    shared[pair] = shared.get(pair, 0) + 1
    uf = _UnionFind(texts_by_group)
    for (a, b), n in sorted(shared.items()):
        smaller = min(len(sampled[a]), len(sampled[b]))
        if smaller >= 5 and n / smaller >= overlap:
            uf.union(a, b)
    return {g: uf.find(g) for g in texts_by_group}


def build_examples(positives: list[dict], negatives: list[dict], cfg: DataConfig = DataConfig()) -> list[Example]:
    """Labelled, normalised chunks from document rows (``text``, ``source``, ``title``, ``url``, ``source_file``).

    Groups are computed across both classes, so a text that appears as a positive and as a negative
    (a Wikipedia page crawled by Common Crawl) lands on one side of the split.
    """
    units: list[tuple[str, str, int, str, str]] = []  # group, text, label, source, document
    for label, docs in ((1, positives), (0, negatives)):
        by_document = _files_with_many_unplaced_documents(docs)
        for doc in docs:
            for i, (group, text) in enumerate(document_units(doc, doc.get("source_file") in by_document)):
                units.append((f"{label}:{group}", text, label, doc.get("source") or "", f"{label}:{document_key(doc)}/{i}"))
    texts_by_group: dict[str, list[str]] = {}
    for group, text, _, _, _ in units:
        texts_by_group.setdefault(group, []).append(text)
    roots = merge_overlapping_groups(texts_by_group, cfg.merge_overlap)
    chunks_by_group: dict[str, list[tuple[str, int, str, str]]] = {}
    for group, text, label, source, document in units:
        for chunk in chunk_text(text, cfg.chunk_min_bytes, cfg.chunk_max_bytes):
            if len(chunk.encode("utf-8")) >= cfg.min_example_bytes:
                chunks_by_group.setdefault(group, []).append((chunk, label, source, document))
    examples = []
    for group in sorted(chunks_by_group):
        chunks = chunks_by_group[group]
        if len(chunks) > cfg.max_chunks_per_group:
            step = len(chunks) / cfg.max_chunks_per_group
            chunks = [chunks[int(i * step)] for i in range(cfg.max_chunks_per_group)]
        for chunk, label, source, document in chunks:
            examples.append(Example(normalize_text(chunk), label, roots[group], source, document))
    return examples


def _hash01(key: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_heldout(group: str, seed: int, fraction: float) -> bool:
    return _hash01(group, seed) < fraction


def heldout_keys(keys_by_class: dict, seed: int, fraction: float) -> set:
    """Stratified held-out selection: per class, keys hashing under ``fraction``; a class with two or more
    keys keeps at least one on each side (its lowest-hash key held out, its highest kept for training)."""
    held: set = set()
    for keys in keys_by_class.values():
        ranked = sorted(keys, key=lambda k: (_hash01(k, seed), k))
        chosen = [k for k in ranked if _hash01(k, seed) < fraction]
        if len(ranked) >= 2:
            if not chosen:
                chosen = ranked[:1]
            if len(chosen) == len(ranked):
                chosen = ranked[:-1]
        held.update(chosen)
    return held


def class_split_keys(groups: set, documents: set, name: str, counted: str, units: str, advice: str = "") -> tuple[set, bool]:
    """The keys one class is split by, and whether they are documents: its groups when it has two or
    more, else its documents when it has ``MIN_CLASS_DOCUMENTS``; otherwise :class:`ConfigError` naming
    the class (``name``), its documents and groups (and ``counted``), the grouping ``units`` and ``advice``."""
    if len(groups) >= 2:
        return groups, False
    if len(documents) >= MIN_CLASS_DOCUMENTS:
        return documents, True
    raise ConfigError(
        f"the {name} has {len(documents)} document(s) in {len(groups)} group(s){counted}; a held-out split needs "
        f"documents from at least 2 groups ({units}) or at least {MIN_CLASS_DOCUMENTS} documents{advice}"
    )


def _class_name(label: int) -> str:
    return "positive" if label == 1 else "negative"


def split_examples(examples: list[Example], seed: int, fraction: float) -> tuple[list[Example], list[Example]]:
    """(train, held-out) by group, stratified by class (see the module docstring).

    A class whose chunks all sit in one group is split by document when it has at least
    ``MIN_CLASS_DOCUMENTS`` documents; otherwise, and when a class is absent, :class:`ConfigError` says
    how many documents and groups the class has.
    """
    labels_by_group: dict[str, list[int]] = {}
    for e in examples:
        labels_by_group.setdefault(e.group, []).append(e.label)
    group_class = {g: int(2 * sum(ls) >= len(ls)) for g, ls in labels_by_group.items()}  # a merged group takes its majority class
    keys_by_class: dict[int, set] = {}
    by_document: set[int] = set()
    for label in (0, 1):
        groups = {g for g, c in group_class.items() if c == label}
        documents = {e.document for e in examples if e.label == label and group_class[e.group] == label}
        chunks = sum(e.label == label for e in examples)
        keys_by_class[label], split_by_document = class_split_keys(
            groups, documents, f"{_class_name(label)} class", f" ({chunks} chunks)", "web sites, books, files",
            f"; give more {_class_name(label)} files")
        if split_by_document:
            by_document.add(label)
    held = heldout_keys(keys_by_class, seed, fraction)

    def key(e: Example) -> str:
        label = group_class[e.group]
        return e.document if label in by_document else e.group

    train = [e for e in examples if key(e) not in held]
    heldout = [e for e in examples if key(e) in held]
    return train, heldout
