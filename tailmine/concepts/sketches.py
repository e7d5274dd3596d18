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
import pyarrow as pa

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
    """Frequent items with at most ``k`` counters; counts undercount by at most N/(k+1).

    Counters are kept as arrays keyed by the concept's 64-bit id (a batch is merged with one sort);
    only the kept concepts carry their string. ``counters`` gives the ``concept -> count`` view."""

    def __init__(self, k: int = 10_000, seed: int = 0):
        self.k, self.total, self.decrement, self.seed = k, 0, 0, seed
        self.keys = np.zeros(0, np.uint64)  # sorted
        self.counts = np.zeros(0, np.int64)
        self.names = _EMPTY_NAMES  # aligned with keys (one Arrow array: cheap to pickle and to size)

    @property
    def counters(self) -> dict:
        return dict(zip(self.names.to_pylist(), self.counts.tolist()))

    def add_counts(self, counts: Mapping[str, int]) -> None:
        concepts = list(counts)
        hashes = stable_hash64(concepts, self.seed)
        values = np.fromiter((counts[c] for c in concepts), dtype=np.int64, count=len(concepts))
        self.add_hashed(hashes, values, lambda idx: [concepts[i] for i in idx])

    def add_hashed(self, hashes: np.ndarray, counts: np.ndarray, names) -> None:
        """Add distinct ``hashes`` with ``counts``; ``names(indices)`` gives the strings of those
        positions (called only for concepts that survive the pruning)."""
        self.total += int(np.sum(counts))
        keys, total, first = _sum_by_key(np.concatenate((self.keys, hashes)), np.concatenate((self.counts, counts)))
        keys, total, first = self._prune(keys, total, first)
        self.names = _carry_names(self.names, len(self.keys), first, first - len(self.keys), names)
        self.keys, self.counts = keys, total

    def merge(self, other: "MisraGries") -> "MisraGries":
        self.total += other.total
        self.decrement += other.decrement
        keys, total, first = _sum_by_key(np.concatenate((self.keys, other.keys)), np.concatenate((self.counts, other.counts)))
        keys, total, first = self._prune(keys, total, first)
        self.names = pa.concat_arrays([self.names, other.names]).take(pa.array(first))
        self.keys, self.counts = keys, total
        return self

    def _prune(self, keys, total, first):
        if len(keys) > self.k:
            cut = int(np.partition(total, len(total) - self.k - 1)[len(total) - self.k - 1])  # the (k+1)-th largest
            self.decrement += cut
            keep = total > cut
            keys, total, first = keys[keep], total[keep] - cut, first[keep]
        return keys, total, first

    def error_bound(self) -> int:
        """Every count is low by at most this much (the total subtracted, <= N/(k+1))."""
        return self.decrement


_EMPTY_NAMES = pa.array([], pa.string())


def _carry_names(old: pa.Array, n_old: int, first: np.ndarray, fresh_at: np.ndarray, names) -> pa.Array:
    """Names aligned with merged keys: ``first`` < ``n_old`` takes ``old[first]``; the others are
    new, named by ``names(fresh_at[those])`` (a list or Arrow array of strings)."""
    new = first >= n_old
    fresh = fresh_at[new]
    if len(fresh) == 0:
        return old.take(pa.array(first))
    made = names(fresh.tolist())
    made = made if isinstance(made, pa.Array) else pa.array(made, pa.string())
    index = first.copy()
    index[new] = n_old + np.arange(len(fresh))
    return pa.concat_arrays([old, made.cast(pa.string())]).take(pa.array(index))


def _sum_by_key(keys: np.ndarray, counts: np.ndarray):
    """Distinct sorted keys, the sum of their counts, and each key's first position in the input."""
    if len(keys) == 0:
        return keys.astype(np.uint64), counts.astype(np.int64), np.zeros(0, np.int64)
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
    return k[starts], np.add.reduceat(counts[order].astype(np.int64), starts), order[starts]


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
        self.keys = np.zeros(0, np.uint64)  # sorted: the sample's hashes
        self.counts = np.zeros(0, np.int64)
        self.names = _EMPTY_NAMES  # aligned with keys

    @property
    def items(self) -> dict:
        """``concept -> [hash, df]``."""
        return {c: [h, n] for c, h, n in zip(self.names.to_pylist(), self.keys.tolist(), self.counts.tolist())}

    def add_counts(self, concepts: Sequence[str], hashes: np.ndarray, counts: np.ndarray) -> None:
        self.add_hashed(np.asarray(hashes, np.uint64), np.asarray(counts, np.int64), lambda idx: [concepts[i] for i in idx])

    def add_hashed(self, hashes: np.ndarray, counts: np.ndarray, names) -> None:
        if len(hashes) > self.k:
            keep = np.argpartition(hashes, self.k)[: self.k]
        else:
            keep = np.arange(len(hashes))
        keys, total, first = _sum_by_key(np.concatenate((self.keys, hashes[keep])), np.concatenate((self.counts, counts[keep])))
        keys, total, first = keys[: self.k], total[: self.k], first[: self.k]  # sorted by hash: the k smallest
        fresh_at = keep[np.clip(first - len(self.keys), 0, None)] if len(keep) else first
        self.names = _carry_names(self.names, len(self.keys), first, fresh_at, names)
        self.keys, self.counts = keys, total

    def merge(self, other: "BottomKSample") -> "BottomKSample":
        keys, total, first = _sum_by_key(np.concatenate((self.keys, other.keys)), np.concatenate((self.counts, other.counts)))
        self.names = pa.concat_arrays([self.names, other.names]).take(pa.array(first[: self.k]))
        self.keys, self.counts = keys[: self.k], total[: self.k]
        return self

    def fraction(self) -> float:
        """The share of all concepts the sample stands for (1.0 when it holds every concept)."""
        if len(self.keys) < self.k:
            return 1.0
        return (int(self.keys[-1]) + 1) / 2.0**64

    def dfs(self) -> np.ndarray:
        return np.sort(self.counts).astype(np.int64)


def good_turing_missing_mass(dfs: np.ndarray) -> float:
    """P(the next concept occurrence is a concept never seen) ~ V1/N (Good 1953): the share of
    concept-document incidences that belong to concepts seen in exactly one document."""
    values, counts = np.unique(np.asarray(dfs, np.int64), return_counts=True)
    return spectrum_missing_mass(values, counts)


def spectrum_missing_mass(values, counts) -> float:
    """:func:`good_turing_missing_mass` from the frequency spectrum (df value -> number of concepts)."""
    values, counts = np.asarray(values, np.int64), np.asarray(counts, np.int64)
    total = int(np.dot(values, counts)) if len(values) else 0
    return float(counts[values == 1].sum()) / total if total else 1.0


def batch_document_frequencies(concept_sets: Iterable[set[str]]) -> Counter:
    """df within a batch of documents: each document counts each of its concepts once."""
    counts: Counter = Counter()
    for concepts in concept_sets:
        counts.update(concepts)
    return counts


def sorted_lookup(keys: np.ndarray, values: np.ndarray, hashes: np.ndarray, default: int = 1) -> np.ndarray:
    """``values`` of each of ``hashes`` in the sorted ``keys`` (``default`` where absent)."""
    if len(keys) == 0:
        return np.full(len(hashes), default, np.int64)
    pos = np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)
    return np.where(keys[pos] == hashes, values[pos], default)


class ExactCounts:
    """Exact df of every concept, plus the number of documents.

    Held as arrays sorted by concept id (``hashes``, ``counts``) with the concept strings alongside
    (an Arrow array, one string per distinct concept); partial counts are merged with one sort.
    ``df`` gives the ``concept -> df`` dict view."""

    mode = "exact"

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.documents = 0
        self.hashes = np.zeros(0, np.uint64)
        self.counts = np.zeros(0, np.int64)
        self.concepts = pa.array([], pa.string())
        self._pending: list = []
        self._pending_rows = 0
        self._df = None

    def __getstate__(self):
        self._compact()
        state = dict(self.__dict__)
        state["_df"] = None
        return state

    @property
    def df(self) -> dict:
        self._compact()
        if self._df is None:
            self._df = dict(zip(self.concepts.to_pylist(), self.counts.tolist()))
        return self._df

    def add_batch(self, concept_sets: Sequence[set[str]]) -> None:
        batch = batch_document_frequencies(concept_sets)
        concepts = list(batch)
        counts = np.fromiter(batch.values(), dtype=np.int64, count=len(concepts))
        self.add_hashed(stable_hash64(concepts, self.seed), counts, pa.array(concepts, pa.string()), len(concept_sets))

    def add_hashed(self, hashes: np.ndarray, counts: np.ndarray, concepts: pa.Array, documents: int) -> None:
        """Distinct concept ids of a batch with their dfs and strings (aligned)."""
        self._pending.append((hashes, counts, concepts))
        self._pending_rows += len(hashes)
        self.documents += documents
        self._df = None
        if self._pending_rows > 4 * max(len(self.hashes), 1 << 20):
            self._compact()

    def _compact(self) -> None:
        if not self._pending:
            return
        parts = [(self.hashes, self.counts, self.concepts)] + self._pending
        self._pending, self._pending_rows = [], 0
        keys, total, first = _sum_by_key(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        strings = pa.chunked_array([p[2] for p in parts], pa.string()).take(pa.array(first))
        self.hashes, self.counts = keys, total
        self.concepts = strings.combine_chunks() if isinstance(strings, pa.ChunkedArray) else strings

    def arrays(self) -> tuple[np.ndarray, np.ndarray, pa.Array]:
        """(sorted concept ids, their dfs, their strings)."""
        self._compact()
        return self.hashes, self.counts, self.concepts

    def lookup(self, hashes: np.ndarray, default: int = 1) -> np.ndarray:
        """df of each concept id (``default`` for an id never counted)."""
        self._compact()
        return sorted_lookup(self.hashes, self.counts, hashes, default)

    def merge(self, other: "ExactCounts") -> "ExactCounts":
        other._compact()
        self._pending.append((other.hashes, other.counts, other.concepts))
        self._pending_rows += len(other.hashes)
        self.documents += other.documents
        self._df = None
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
        self.heavy = MisraGries(cfg.heavy_hitters, cfg.seed)
        self.hll = HyperLogLog(cfg.hll_precision)
        self.sample = BottomKSample(cfg.sample_size)
        self.documents = 0

    def add_batch(self, concept_sets: Sequence[set[str]]) -> None:
        batch = batch_document_frequencies(concept_sets)
        concepts = list(batch)
        counts = np.fromiter(batch.values(), dtype=np.int64, count=len(concepts))
        hashes = stable_hash64(concepts, self.cfg.seed)
        self.add_hashed(hashes, counts, lambda idx: [concepts[i] for i in idx], len(concept_sets))

    def add_hashed(self, hashes: np.ndarray, counts: np.ndarray, names, documents: int) -> None:
        """A batch as distinct concept ids with their dfs; ``names(indices)`` builds the strings of
        the positions a sketch keeps (heavy hitters, sample members)."""
        self.cms.add(hashes, counts)
        self.hll.add(hashes)
        self.heavy.add_hashed(hashes, counts, names)
        self.sample.add_hashed(hashes, counts, names)
        self.documents += documents

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
        return ExactCounts(sketch.seed)
    if mode == "sketch":
        return SketchCounts(sketch)
    raise ConfigError(f"counting mode must be 'exact' or 'sketch', got {mode!r}")
