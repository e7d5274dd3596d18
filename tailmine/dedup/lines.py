"""Line-level dedup: lines repeated across many documents of the same site (navigation, cookie
banners, footers) are found and removed before documents are signed.

A *site* is the registered domain of a document's ``url`` (``news.example.co.uk`` -> ``example.co.uk``,
by the Public Suffix List: :func:`tailmine.domains.registered_domain`).
A line's key is a 64-bit hash of (site, the line lower-cased with whitespace runs collapsed); blank and
punctuation-only lines have no key and are never removed. A key present in at least ``min_docs``
documents of its site marks a boilerplate line; every occurrence of it is removed from every document
of that site. Lines are split on ``\\n``; the remaining lines are joined back with ``\\n``, so a document
without boilerplate keeps its text byte for byte.

The counting is two steps in the stage (``tailmine/dedup/line_step.py``): each shard counts, per key, the
documents containing it (keys split into partitions by hash); each partition sums the counts and keeps
the keys at or above ``min_docs``. Memory: one shard's line keys, then one partition's distinct keys.
"""
from __future__ import annotations

import hashlib
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from tailmine.dedup.minhash import _fmix64, _tokens, _utf8_buffer
from tailmine.domains import registered_domain

CRAWL_SOURCES = ("warc", "wet")
"""Sources whose documents get the line step when ``line_dedup`` is ``auto``."""

def site_hash(site: str) -> int:
    return int.from_bytes(hashlib.blake2b(site.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


@njit(cache=True)
def _line_hashes(buf, offsets, out, has_tokens):
    longest = 1
    for d in range(offsets.shape[0] - 1):
        longest = max(longest, offsets[d + 1] - offsets[d])
    tokens = np.empty(longest + 1, np.uint64)
    exact = np.empty(2, np.uint64)
    for d in range(offsets.shape[0] - 1):
        n = _tokens(buf, offsets[d], offsets[d + 1], tokens, exact)
        out[d] = exact[0]
        has_tokens[d] = n > 0


@njit(cache=True)
def _keys(line_hash, site, parent):
    out = np.empty(line_hash.shape[0], np.uint64)
    for i in range(line_hash.shape[0]):
        out[i] = _fmix64(line_hash[i] ^ (site[parent[i]] * np.uint64(0x9E3779B97F4A7C15)))
    return out


class LineSplit:
    """The lines of a batch of documents and their (site, line) keys.

    ``lines``: the flat array of lines; ``parent``: the document of each line; ``keys``: uint64 key of
    each line, 0 for lines that are never boilerplate (no tokens, or a document not eligible)."""

    def __init__(self, text: pa.Array, eligible_sites: list[Optional[str]]):
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks() if text.num_chunks != 1 else text.chunk(0)
        self.n_docs = len(text)
        self.split = pc.split_pattern(text.cast(pa.large_string()).fill_null(""), "\n")
        self.lines = pc.list_flatten(self.split)
        self.parent = pc.list_parent_indices(self.split).to_numpy().astype(np.int64)
        n = len(self.lines)
        sites = np.array([site_hash(s) if s else 0 for s in eligible_sites], np.uint64)
        self.keys = np.zeros(n, np.uint64)
        if n and sites.any():
            data, offsets = _utf8_buffer(pc.utf8_lower(self.lines))
            hashes = np.empty(n, np.uint64)
            has_tokens = np.empty(n, np.bool_)
            _line_hashes(data, offsets, hashes, has_tokens)
            keys = _keys(hashes, sites, self.parent)
            keys[keys == 0] = 1  # 0 means "no key"
            ok = has_tokens & (sites[self.parent] != 0)
            self.keys = np.where(ok, keys, np.uint64(0))

    def doc_keys(self) -> np.ndarray:
        """Each key once per document that contains it (the document frequency's unit of count)."""
        has = self.keys != 0
        pairs = np.stack([self.parent[has].astype(np.uint64), self.keys[has]], axis=1)
        if not len(pairs):
            return np.empty(0, np.uint64)
        return np.unique(pairs, axis=0)[:, 1]

    def remove(self, boilerplate: np.ndarray) -> tuple[pa.Array, np.ndarray, np.ndarray]:
        """``(text, lines_removed, emptied)``: documents without their boilerplate lines; how many lines
        each lost; whether a document that had text is left without any token."""
        removed_count = np.zeros(self.n_docs, np.int64)
        emptied = np.zeros(self.n_docs, bool)
        if not len(boilerplate) or not len(self.keys):
            return None, removed_count, emptied
        idx = np.searchsorted(boilerplate, self.keys)
        hit = (self.keys != 0) & (boilerplate[np.minimum(idx, len(boilerplate) - 1)] == self.keys)
        if not hit.any():
            return None, removed_count, emptied
        np.add.at(removed_count, self.parent[hit], 1)
        keep = ~hit
        kept_lines = self.lines.filter(pa.array(keep))
        per_doc = np.bincount(self.parent[keep], minlength=self.n_docs)
        offsets = np.zeros(self.n_docs + 1, np.int64)
        np.cumsum(per_doc, out=offsets[1:])
        lists = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), kept_lines)
        text = pc.binary_join(lists, pa.scalar("\n", pa.large_string()))
        tokens_left = np.bincount(self.parent[keep & (self.keys != 0)], minlength=self.n_docs)
        # an eligible document that lost lines and has no keyed line left has no words left
        emptied = (removed_count > 0) & (tokens_left == 0)
        return text.cast(pa.string()), removed_count, emptied


def eligible_sites(mode: str, sources: list, urls: list) -> list[Optional[str]]:
    """The site of each document that gets the line step (None for the others)."""
    if mode == "off":
        return [None] * len(urls)
    return [
        registered_domain(u) if (mode == "on" or s in CRAWL_SOURCES) else None
        for s, u in zip(sources, urls)
    ]
