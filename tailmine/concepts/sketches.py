"""Counting concepts: exact document frequencies, and mergeable sketches for vocabularies that do not fit.

* :class:`ExactCounts`: ``concept -> df``; merging is a dict sum (a Beam combiner).
* :class:`SketchCounts`: fixed memory whatever the corpus size, made of
  - a Count-Min sketch (Cormode & Muthukrishnan 2005): ``estimate >= df`` always, and
    ``estimate <= df + eps*N`` with probability ``1 - delta`` (N = total increments);
  - Misra-Gries heavy hitters with k counters (mergeable, Agarwal et al. 2013): each kept count
    undercounts by at most N/(k+1), so every concept with df > N/(k+1) is kept;
  - a HyperLogLog distinct-concept estimate (relative standard error about 1.04/sqrt(2^p));
  - a bottom-k hash sample of concepts with their EXACT df. Sampling by hash is coordinated across
    shards, so a concept in the global bottom-k is in every shard's bottom-k and its df sums exactly:
    the sample's df spectrum is a uniform random subsample of the concepts, good for the power-law
    fit and the Good-Turing estimate in sketch mode (longtail-methods.md warns never to take tail
    counts from a Count-Min sketch).

Ids are stable: :func:`stable_hash64` is keyed BLAKE2b, never Python's per-process salted ``hash``.
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np

from tailmine.errors import ConfigError

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN64 = np.uint64(0x9E3779B97F4A7C15)


def stable_hash64(items: Sequence[str], seed: int = 0) -> np.ndarray:
    """64-bit BLAKE2b of each string (keyed by ``seed``), as ``uint64``; identical in every process."""
    key = seed.to_bytes(8, "little")
    digest = b"".join(hashlib.blake2b(s.encode("utf-8"), digest_size=8, key=key).digest() for s in items)
    return np.frombuffer(digest, dtype="<u8").astype(np.uint64) if items else np.zeros(0, np.uint64)


def _splitmix(x: np.ndarray, row: int) -> np.ndarray:
    """A different well-mixed 64-bit function of ``x`` per row (SplitMix64 finaliser)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN64 * np.uint64(row + 1)
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


class CountMinSketch:
    """Count-Min sketch of width ceil(e/eps) and depth ceil(ln(1/delta)) over 64-bit concept hashes."""

    def __init__(self, epsilon: float = 1e-5, delta: float = 0.01):
        if not (0 < epsilon < 1 and 0 < delta < 1):
            raise ConfigError(f"count-min epsilon and delta must be in (0, 1), got {epsilon}, {delta}")
        self.epsilon, self.delta = epsilon, delta
        self.width = int(math.ceil(math.e / epsilon))
        self.depth = int(math.ceil(math.log(1.0 / delta)))
        self.table = np.zeros((self.depth, self.width), dtype=np.int64)
        self.total = 0

    def _columns(self, hashes: np.ndarray, row: int) -> np.ndarray:
        return (_splitmix(hashes, row) % np.uint64(self.width)).astype(np.int64)

    def add(self, hashes: np.ndarray, counts: Optional[np.ndarray] = None) -> None:
        counts = np.ones(len(hashes), np.int64) if counts is None else np.asarray(counts, np.int64)
        for row in range(self.depth):
            self.table[row] += np.bincount(self._columns(hashes, row), weights=counts, minlength=self.width).astype(np.int64)
        self.total += int(counts.sum())

    def estimate(self, hashes: np.ndarray) -> np.ndarray:
        out = self.table[0][self._columns(hashes, 0)]
        for row in range(1, self.depth):
            out = np.minimum(out, self.table[row][self._columns(hashes, row)])
        return out

    def merge(self, other: "CountMinSketch") -> "CountMinSketch":
        if (self.width, self.depth) != (other.width, other.depth):
            raise ValueError("cannot merge count-min sketches of different shapes")
        self.table += other.table
        self.total += other.total
        return self

    def error_bound(self) -> dict:
        """The guarantee, in numbers: estimates exceed true counts by at most ``max_overestimate``
        with probability ``probability`` (and are never below them)."""
        eps = math.e / self.width
        return {
            "epsilon": eps,
            "delta": self.delta,
            "width": self.width,
            "depth": self.depth,
            "total_increments": self.total,
            "max_overestimate": eps * self.total,
            "probability": 1.0 - math.exp(-self.depth),
        }


class MisraGries:
    """Frequent items with at most ``k`` counters; counts undercount by at most N/(k+1)."""

    def __init__(self, k: int = 10_000):
        self.k, self.counters, self.total, self.decrement = k, {}, 0, 0

    def add_counts(self, counts: Mapping[str, int]) -> None:
        merged = Counter(self.counters)
        merged.update(counts)
        self.total += sum(counts.values())
        self._prune(merged)

    def merge(self, other: "MisraGries") -> "MisraGries":
        merged = Counter(self.counters)
        merged.update(other.counters)
        self.total += other.total
        self.decrement += other.decrement
        self._prune(merged)
        return self

    def _prune(self, merged: Counter) -> None:
        if len(merged) > self.k:
            cut = sorted(merged.values(), reverse=True)[self.k]  # the (k+1)-th largest count
            self.decrement += cut
            merged = {c: n - cut for c, n in merged.items() if n > cut}
        self.counters = dict(merged)

    def error_bound(self) -> int:
        """Every count is low by at most this much (the total subtracted, <= N/(k+1))."""
        return self.decrement


class HyperLogLog:
    """HyperLogLog with 2^p registers over 64-bit hashes (Flajolet et al. 2007, with the
    linear-counting small-range correction)."""

    def __init__(self, p: int = 14):
        if not 4 <= p <= 18:
            raise ConfigError(f"hyperloglog precision must be in 4..18, got {p}")
        self.p = p
        self.registers = np.zeros(1 << p, dtype=np.uint8)

    def add(self, hashes: np.ndarray) -> None:
        if len(hashes) == 0:
            return
        h = np.asarray(hashes, np.uint64)
        index = (h >> np.uint64(64 - self.p)).astype(np.int64)
        rest = (h & np.uint64((1 << (64 - self.p)) - 1)).astype(np.float64)  # < 2^53: exact in float64
        _, exponent = np.frexp(rest)  # bit length of rest (0 for rest == 0)
        rank = (64 - self.p) - exponent + 1
        np.maximum.at(self.registers, index, rank.astype(np.uint8))

    def merge(self, other: "HyperLogLog") -> "HyperLogLog":
        np.maximum(self.registers, other.registers, out=self.registers)
        return self

    def estimate(self) -> float:
        m = float(len(self.registers))
        alpha = 0.7213 / (1 + 1.079 / m)
        raw = alpha * m * m / float(np.sum(np.exp2(-self.registers.astype(np.float64))))
        zeros = int(np.count_nonzero(self.registers == 0))
        if raw <= 2.5 * m and zeros:
            return m * math.log(m / zeros)
        return raw

    @property
    def relative_error(self) -> float:
        return 1.04 / math.sqrt(len(self.registers))


class BottomKSample:
    """The k concepts with the smallest hashes, each with its exact df (see module docstring)."""

    def __init__(self, k: int = 100_000):
        self.k = k
        self.items: dict[str, list] = {}  # concept -> [hash, df]

    def add_counts(self, concepts: Sequence[str], hashes: np.ndarray, counts: np.ndarray) -> None:
        if len(concepts) > self.k:
            keep = np.argpartition(hashes, self.k)[: self.k]
        else:
            keep = range(len(concepts))
        for i in keep:
            c = concepts[i]
            slot = self.items.get(c)
            if slot is None:
                self.items[c] = [int(hashes[i]), int(counts[i])]
            else:
                slot[1] += int(counts[i])
        self._prune()

    def merge(self, other: "BottomKSample") -> "BottomKSample":
        for c, (h, n) in other.items.items():
            slot = self.items.get(c)
            if slot is None:
                self.items[c] = [h, n]
            else:
                slot[1] += n
        self._prune()
        return self

    def _prune(self) -> None:
        if len(self.items) > self.k:
            kept = sorted(self.items.items(), key=lambda kv: kv[1][0])[: self.k]
            self.items = dict(kept)

    def fraction(self) -> float:
        """The share of all concepts the sample stands for (1.0 when it holds every concept)."""
        if len(self.items) < self.k:
            return 1.0
        largest = max(h for h, _ in self.items.values())
        return (largest + 1) / 2.0**64

    def dfs(self) -> np.ndarray:
        return np.array(sorted(n for _, n in self.items.values()), dtype=np.int64)


def good_turing_missing_mass(dfs: np.ndarray) -> float:
    """P(the next concept occurrence is a concept never seen) ~ V1/N (Good 1953): the share of
    concept-document incidences that belong to concepts seen in exactly one document."""
    dfs = np.asarray(dfs)
    total = int(dfs.sum())
    return float(np.count_nonzero(dfs == 1)) / total if total else 1.0


def batch_document_frequencies(concept_sets: Iterable[set[str]]) -> Counter:
    """df within a batch of documents: each document counts each of its concepts once."""
    counts: Counter = Counter()
    for concepts in concept_sets:
        counts.update(concepts)
    return counts


class ExactCounts:
    """Exact df of every concept, plus the number of documents."""

    mode = "exact"

    def __init__(self):
        self.df: Counter = Counter()
        self.documents = 0

    def add_batch(self, concept_sets: Sequence[set[str]]) -> None:
        self.df.update(batch_document_frequencies(concept_sets))
        self.documents += len(concept_sets)

    def merge(self, other: "ExactCounts") -> "ExactCounts":
        self.df.update(other.df)
        self.documents += other.documents
        return self


@dataclass(frozen=True)
class SketchConfig:
    epsilon: float = 1e-5
    delta: float = 0.01
    heavy_hitters: int = 10_000
    hll_precision: int = 14
    sample_size: int = 100_000
    seed: int = 0


class SketchCounts:
    """Fixed-memory counts: Count-Min + heavy hitters + HyperLogLog + bottom-k exact sample."""

    mode = "sketch"

    def __init__(self, cfg: SketchConfig = SketchConfig()):
        self.cfg = cfg
        self.cms = CountMinSketch(cfg.epsilon, cfg.delta)
        self.heavy = MisraGries(cfg.heavy_hitters)
        self.hll = HyperLogLog(cfg.hll_precision)
        self.sample = BottomKSample(cfg.sample_size)
        self.documents = 0

    def add_batch(self, concept_sets: Sequence[set[str]]) -> None:
        batch = batch_document_frequencies(concept_sets)
        concepts = list(batch)
        counts = np.fromiter(batch.values(), dtype=np.int64, count=len(concepts))
        hashes = stable_hash64(concepts, self.cfg.seed)
        self.cms.add(hashes, counts)
        self.hll.add(hashes)
        self.heavy.add_counts(batch)
        self.sample.add_counts(concepts, hashes, counts)
        self.documents += len(concept_sets)

    def merge(self, other: "SketchCounts") -> "SketchCounts":
        self.cms.merge(other.cms)
        self.heavy.merge(other.heavy)
        self.hll.merge(other.hll)
        self.sample.merge(other.sample)
        self.documents += other.documents
        return self

    def estimate(self, concepts: Sequence[str]) -> np.ndarray:
        return self.cms.estimate(stable_hash64(concepts, self.cfg.seed))


def new_counts(mode: str, sketch: SketchConfig = SketchConfig()):
    if mode == "exact":
        return ExactCounts()
    if mode == "sketch":
        return SketchCounts(sketch)
    raise ConfigError(f"counting mode must be 'exact' or 'sketch', got {mode!r}")
