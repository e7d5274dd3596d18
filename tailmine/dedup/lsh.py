"""Locality-sensitive hashing over MinHash signatures: band/row choice, band keys, candidate pairs.

Two documents become candidates when all ``rows`` values of at least one of ``bands`` bands agree;
for Jaccard ``s`` that happens with probability ``1 - (1 - s**rows)**bands`` (the S-curve). The
band/row pair is chosen from the threshold by minimising ``fp_weight * FP + fn_weight * FN``, the
areas under the S-curve below the threshold (false positives) and above it (false negatives), as
datasketch does. tailmine weighs misses more (a missed duplicate stays in the mixture; a false
candidate is removed again by the signature check in :func:`verify_pairs`).
"""
from __future__ import annotations

import numpy as np


def _integrate(f, a: float, b: float, steps: int = 2000) -> float:
    if b <= a:
        return 0.0
    x = np.linspace(a, b, steps + 1)
    return float(np.trapezoid(f(x), x))


def false_positive_area(threshold: float, bands: int, rows: int) -> float:
    return _integrate(lambda s: 1.0 - (1.0 - s ** float(rows)) ** float(bands), 0.0, threshold)


def false_negative_area(threshold: float, bands: int, rows: int) -> float:
    return _integrate(lambda s: (1.0 - s ** float(rows)) ** float(bands), threshold, 1.0)


def optimal_bands_rows(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands * rows <= num_perm`` minimising the weighted FP + FN areas."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must lie in (0, 1), got {threshold}")
    best, best_cost = (1, num_perm), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            cost = fp_weight * false_positive_area(threshold, bands, rows) + fn_weight * false_negative_area(threshold, bands, rows)
            if cost < best_cost - 1e-15:
                best, best_cost = (bands, rows), cost
    return best


def collision_probability(similarity, bands: int, rows: int):
    """Probability that two documents of Jaccard ``similarity`` share at least one band."""
    s = np.asarray(similarity, dtype=float)
    return 1.0 - (1.0 - s**rows) ** bands


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``(n, bands)`` uint64 keys: a hash of each band's rows, salted by the band index so that equal
    values in different bands do not collide."""
    n = signatures.shape[0]
    keys = np.zeros((n, bands), np.uint64)
    if n == 0:
        return keys
    sig = signatures[:, : bands * rows].astype(np.uint64).reshape(n, bands, rows)
    with np.errstate(over="ignore"):
        h = np.full((n, bands), 0x9E3779B97F4A7C15, np.uint64) ^ (np.arange(bands, dtype=np.uint64) * np.uint64(0xD6E8FEB86659FD93))
        for r in range(rows):
            h = (h ^ sig[:, :, r]) * np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(29)
        h ^= h >> np.uint64(32)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(29)
    return h


def bucket_edges(keys: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """Star edges of every bucket: ``(m, 2)`` int64 pairs ``(smallest doc, other doc)`` for each key
    shared by two or more docs, sorted and unique. A bucket of k docs gives k - 1 edges, not k^2/2, and
    the same connected components."""
    keys = np.asarray(keys, np.uint64)
    docs = np.asarray(docs, np.int64)
    if len(keys) < 2:
        return np.empty((0, 2), np.int64)
    order = np.lexsort((docs, keys))
    k, d = keys[order], docs[order]
    first = np.ones(len(k), bool)
    first[1:] = k[1:] != k[:-1]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(k)), 0))
    roots = d[group_start]
    member = ~first & (d != roots)
    edges = np.stack([roots[member], d[member]], axis=1)
    return unique_edges(edges)


def unique_edges(edges: np.ndarray) -> np.ndarray:
    if len(edges) == 0:
        return np.empty((0, 2), np.int64)
    return np.unique(np.asarray(edges, np.int64), axis=0)


def all_pairs(keys: np.ndarray, docs: np.ndarray) -> set[tuple[int, int]]:
    """Every pair of docs sharing a key (quadratic in bucket size: for tests and small sets only)."""
    buckets: dict[int, list[int]] = {}
    for key, doc in zip(np.asarray(keys).tolist(), np.asarray(docs).tolist()):
        buckets.setdefault(key, []).append(doc)
    pairs = set()
    for members in buckets.values():
        members = sorted(set(members))
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                pairs.add((a, b))
    return pairs


def near_duplicate_edges(signatures: np.ndarray, bands: int, rows: int, min_estimate: float) -> np.ndarray:
    """In memory, for one batch: star edges of LSH buckets whose signature estimate is ``>= min_estimate``
    (what the dedup stage computes partition by partition; used by tests and benchmarks)."""
    n = len(signatures)
    keys = band_keys(signatures, bands, rows)
    docs = np.repeat(np.arange(n, dtype=np.int64), bands)
    edges = bucket_edges(keys.ravel(), docs)
    if len(edges) == 0:
        return edges
    est = np.mean(signatures[edges[:, 0]] == signatures[edges[:, 1]], axis=1)
    return edges[est >= min_estimate]
