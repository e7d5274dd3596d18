"""Decontamination: find evaluation items inside training documents by word n-gram overlap.

Normalisation (both sides): NFKC, lowercase, words are runs of letters/digits (inner apostrophes and
hyphens deleted, so ``don't`` == ``dont``), punctuation and whitespace ignored. An eval item of ``L``
words is indexed by its ``k``-grams with ``k = min(n, max(min_ngram, ceil(L / 2)))`` (13 by default,
after GPT-3), so short items (MMLU options, NQ questions) still have several n-grams and one edited word
does not hide them. A document is contaminated by an item when the item's words covered by matching
n-grams reach ``min_overlap`` of the item (PaLM uses 70% of 8-grams; we default to 0.3 of covered words,
measured for recall and false positives in tests/test_decontam.py). Items shorter than ``min_item_words``
are skipped and counted.

Matching is exact on word ids: words outside the eval vocabulary break n-grams, n-grams are 64-bit
linear hashes of word ids compared with ``np.searchsorted`` against sorted index arrays, one per ``k``.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Iterable, Optional

import numpy as np

from tailmine.errors import ConfigError, InputError

_WORD = re.compile(r"\w+(?:['’\-]\w+)*")
_JOINERS = str.maketrans("", "", "'’-_")
_MULT = np.random.default_rng(13).integers(1, 1 << 63, size=64, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def normalize_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Normalised words of ``text`` and their character spans in ``text``."""
    words, spans = [], []
    for m in _WORD.finditer(text):
        w = m.group(0)
        if not w.isascii():
            w = unicodedata.normalize("NFKC", w)
        w = w.lower().translate(_JOINERS)
        if w:
            words.append(w)
            spans.append(m.span())
    return words, spans


@dataclass(frozen=True)
class DecontamConfig:
    ngram: int = 13
    """Longest n-gram size in words (GPT-3 used 13)."""
    min_ngram: int = 8
    """Shortest n-gram size used for short items."""
    min_item_words: int = 8
    """Items with fewer normalised words are not indexed (too generic to attribute), and counted."""
    min_overlap: float = 0.3
    """Fraction of an item's words covered by matching n-grams that marks a document contaminated."""
    action: str = "drop"
    """'drop' the document (reason 'contaminated') or 'excise' the matching spans and keep the rest."""
    eval_fields: tuple[str, ...] = ("question", "prompt", "input", "text", "problem")
    """JSONL/Parquet/CSV: fields holding the item text; the first present is used."""
    id_fields: tuple[str, ...] = ("id", "task_id")
    """Fields holding an item id; the item index is used when none is present."""

    def __post_init__(self):
        object.__setattr__(self, "eval_fields", tuple(self.eval_fields))
        object.__setattr__(self, "id_fields", tuple(self.id_fields))
        if not 1 <= self.min_ngram <= self.ngram <= 64:
            raise ConfigError(f"ngram/min_ngram: need 1 <= min_ngram <= ngram <= 64, got {self.min_ngram}, {self.ngram}")
        if not 0.0 < self.min_overlap <= 1.0:
            raise ConfigError(f"min_overlap: must lie in (0, 1], got {self.min_overlap}")
        if self.action not in ("drop", "excise"):
            raise ConfigError(f"action: {self.action!r} is not one of drop, excise")
        if not self.eval_fields:
            raise ConfigError("eval_fields: needs at least one field name")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def k_for(self, length: int) -> int:
        return min(self.ngram, max(self.min_ngram, math.ceil(length / 2)), length)


@dataclass(frozen=True)
class EvalItem:
    eval_file: str
    index: int
    item_id: str
    text: str


def read_eval_items(path: str, cfg: DecontamConfig) -> list[EvalItem]:
    """Items of one eval file: JSONL, JSON (a list, or BBH's {"examples": [...]}), Parquet, CSV, or text
    (one item a line); gzip/zstd transparently."""
    from tailmine.fileio import open_input

    name = path.lower()
    for suffix in (".gz", ".zst", ".zstd"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        with open_input(path) as handle:
            records = pq.read_table(handle).to_pylist()
    else:
        with open_input(path) as handle:
            raw = handle.read().decode("utf-8-sig")
        if name.endswith((".jsonl", ".ndjson")):
            records = [json.loads(line) for line in raw.splitlines() if line.strip()]
        elif name.endswith(".json"):
            data = json.loads(raw)
            records = data.get("examples", data) if isinstance(data, dict) else data
        elif name.endswith(".csv"):
            records = list(csv.DictReader(io.StringIO(raw)))
        else:
            records = [{"text": line} for line in raw.splitlines() if line.strip()]
    items = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise InputError(f"{path}: record {i} is not an object")
        text = next((rec[f] for f in cfg.eval_fields if isinstance(rec.get(f), str)), None)
        if text is None:
            raise InputError(f"{path}: record {i} has none of the eval fields {', '.join(cfg.eval_fields)} (set --eval-field)")
        item_id = next((str(rec[f]) for f in cfg.id_fields if rec.get(f) is not None), str(i))
        items.append(EvalItem(path, i, item_id, text))
    return items


@dataclass
class Match:
    item: int  # position in EvalIndex.items
    overlap: float
    spans: list[tuple[int, int]] = field(default_factory=list)  # character spans in the document


class EvalIndex:
    """The n-grams of every eval item, built once on the driver and shipped (pickled) to workers."""

    def __init__(self, items: list[EvalItem], cfg: DecontamConfig):
        self.cfg = cfg
        self.items = items
        self.item_words: list[int] = []
        self.skipped: dict[str, int] = {}
        self.vocab: dict[str, int] = {}
        postings: dict[int, dict[int, list[tuple[int, int]]]] = {}
        for idx, item in enumerate(items):
            words, _ = normalize_words(item.text)
            self.item_words.append(len(words))
            if len(words) < cfg.min_item_words:
                self.skipped[item.eval_file] = self.skipped.get(item.eval_file, 0) + 1
                continue
            ids = np.array([self.vocab.setdefault(w, len(self.vocab)) for w in words], dtype=np.int64)
            k = cfg.k_for(len(words))
            for start, h in enumerate(self._hash(self._values(ids), k).tolist()):
                postings.setdefault(k, {}).setdefault(h, []).append((idx, start))
        self.postings = postings
        self.sorted_hashes = {k: np.array(sorted(p), dtype=np.uint64) for k, p in postings.items()}

    def _values(self, ids: np.ndarray) -> np.ndarray:
        # word id -> a stable pseudo-random 64-bit value (splitmix64 of the id)
        z = ids.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))

    @staticmethod
    def _hash(values: np.ndarray, k: int) -> np.ndarray:
        m = len(values) - k + 1
        if m <= 0:
            return np.zeros(0, dtype=np.uint64)
        h = np.zeros(m, dtype=np.uint64)
        for j in range(k):
            h += values[j : j + m] * _MULT[j]
        return h

    def match(self, text: str) -> list[Match]:
        """Items found in ``text`` (coverage >= min_overlap), with the matching character spans."""
        if not self.postings:
            return []
        words, spans = normalize_words(text)
        if not words:
            return []
        vocab = self.vocab
        oov = len(vocab) + 1 << 32  # a value no eval word has
        ids = np.fromiter((vocab.get(w, oov) for w in words), dtype=np.int64, count=len(words))
        values = self._values(ids)
        hits: dict[int, list[tuple[int, int, int]]] = {}  # item -> (item start, doc start, k)
        for k, table in self.sorted_hashes.items():
            h = self._hash(values, k)
            if len(h) == 0:
                continue
            pos = np.searchsorted(table, h)
            pos[pos == len(table)] = 0
            found = np.flatnonzero(table[pos] == h)
            post = self.postings[k]
            for doc_start in found.tolist():
                for item, item_start in post[int(h[doc_start])]:
                    hits.setdefault(item, []).append((item_start, doc_start, k))
        matches = []
        for item, found_hits in sorted(hits.items()):
            n_words = self.item_words[item]
            covered = np.zeros(n_words, dtype=bool)
            for item_start, _, k in found_hits:
                covered[item_start : item_start + k] = True
            overlap = float(covered.mean())
            if overlap >= self.cfg.min_overlap:
                doc_spans = sorted({(spans[d][0], spans[d + k - 1][1]) for _, d, k in found_hits})
                matches.append(Match(item, overlap, doc_spans))
        return matches


def excise(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` without the (merged) character spans."""
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out, last = [], 0
    for a, b in merged:
        out.append(text[last:a])
        last = b
    out.append(text[last:])
    return "".join(out)
