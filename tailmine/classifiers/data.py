"""Training data for quality classifiers: documents -> labelled, grouped, normalised chunks, split by group.

DCLM-style: positives are reference-quality text (books, encyclopedic or documentation pages),
negatives random crawl text. Three rules keep the held-out AUC honest:

* **Same preparation for both classes.** Every document is cut by :func:`~tailmine.classifiers.text.chunk_text`
  and normalised by :func:`~tailmine.classifiers.text.normalize_text`, whatever its class; WikiText is
  detokenised first so its token spacing is not a tell.
* **Split by group, not by chunk.** Chunks of one book (or one web site) are all on one side of the split,
  and groups that are editions of one work (same title key, or sharing many sentences) are merged
  first, so a held-out chunk is never a near copy of a training chunk.
* **Capped groups.** At most ``max_chunks_per_group`` chunks (evenly spaced) per group, so a long book
  does not outweigh a hundred short ones.

Files are read with the ingest stage itself (:func:`load_documents`), so every format ``ingest`` reads
is accepted and there is exactly one reader per format.
"""
from __future__ import annotations

import hashlib
import os
import re
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence
from urllib.parse import urlsplit

from tailmine.fileio import stable_file_key as _stable_file_key  # a temp-dir path would move groups across the split

from tailmine.classifiers.text import chunk_text, normalize_text, wikitext_articles
from tailmine.errors import ConfigError

#: Beam arguments for reading training files in-process: training inputs are small, a worker pool is not worth it.
IN_PROCESS_BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
DOC_COLUMNS = ["id", "source", "url", "title", "text", "source_file"]


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


def load_documents(paths: Sequence[str], work_dir: Optional[str] = None, beam_args: Optional[list[str]] = None) -> list[dict]:
    """Read ``paths`` (any format ``tailmine ingest`` reads) with the ingest stage; rows as dicts, in shard order."""
    from tailmine.ingest.config import IngestConfig
    from tailmine.pipelines import ingest
    from tailmine.schemas.document import read_documents

    owned = work_dir is None
    work_dir = work_dir or tempfile.mkdtemp(prefix="tailmine-classify-")
    try:
        manifest = ingest.run(list(paths), work_dir, IngestConfig(), beam_args or IN_PROCESS_BEAM_ARGS, force=True, progress=False)
        table = read_documents([os.path.join(work_dir, s.path) for s in manifest.outputs], columns=DOC_COLUMNS)
        return table.to_pylist()
    finally:
        if owned:
            import shutil

            shutil.rmtree(work_dir, ignore_errors=True)


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
    if not url or not url.startswith(("http://", "https://")):
        return None
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host or None


def document_units(doc: dict) -> list[tuple[str, str]]:
    """(group key, text) pieces of one document before edition merging.

    Books group by title key; WikiText files split into articles (one group each); crawl documents
    group by web site (host), falling back to the file.
    """
    text = doc["text"] or ""
    if doc.get("source") == "text" and looks_like_wikitext(text):
        return [(f"wikitext:{_stable_file_key(doc['source_file'])}#{i}", body) for i, (_, body) in enumerate(wikitext_articles(text))]
    if doc.get("source") == "gutenberg" and title_key(doc.get("title")):
        return [(f"book:{title_key(doc.get('title'))}", text)]
    site = _site(doc.get("url"))
    return [(f"site:{site}" if site else f"file:{_stable_file_key(doc['source_file'])}", text)]



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
    units: list[tuple[str, str, int, str]] = []  # group, text, label, source
    for label, docs in ((1, positives), (0, negatives)):
        for doc in docs:
            for group, text in document_units(doc):
                units.append((f"{label}:{group}", text, label, doc.get("source") or ""))
    texts_by_group: dict[str, list[str]] = {}
    for group, text, _, _ in units:
        texts_by_group.setdefault(group, []).append(text)
    roots = merge_overlapping_groups(texts_by_group, cfg.merge_overlap)
    chunks_by_group: dict[str, list[tuple[str, int, str]]] = {}
    for group, text, label, source in units:
        for chunk in chunk_text(text, cfg.chunk_min_bytes, cfg.chunk_max_bytes):
            if len(chunk.encode("utf-8")) >= cfg.min_example_bytes:
                chunks_by_group.setdefault(group, []).append((chunk, label, source))
    examples = []
    for group in sorted(chunks_by_group):
        chunks = chunks_by_group[group]
        if len(chunks) > cfg.max_chunks_per_group:
            step = len(chunks) / cfg.max_chunks_per_group
            chunks = [chunks[int(i * step)] for i in range(cfg.max_chunks_per_group)]
        for chunk, label, source in chunks:
            examples.append(Example(normalize_text(chunk), label, roots[group], source))
    return examples


def is_heldout(group: str, seed: int, fraction: float) -> bool:
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split_examples(examples: list[Example], seed: int, fraction: float) -> tuple[list[Example], list[Example]]:
    """(train, held-out) by group; raises :class:`ConfigError` when either side lacks a class."""
    train = [e for e in examples if not is_heldout(e.group, seed, fraction)]
    heldout = [e for e in examples if is_heldout(e.group, seed, fraction)]
    for name, part in (("training", train), ("held-out", heldout)):
        labels = {e.label for e in part}
        if labels != {0, 1}:
            groups = len({e.group for e in examples})
            raise ConfigError(
                f"the {name} split has no {'positive' if 1 not in labels else 'negative'} examples "
                f"({len(examples)} chunks in {groups} groups); give more files per class or change --heldout-fraction"
            )
    return train, heldout
