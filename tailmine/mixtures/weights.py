"""Source weights and document repeat counts (longtail-methods.md §3.4).

* :func:`temperature_weights`: π_s ∝ U_s^(1/T).
* :func:`unimax`: capped water-filling (Chung et al. 2023): each group gets at most ``E_max·U_g``
  tokens and the rest is shared in proportion to a target π_g ∝ p_g^(1−β) (β = 1: uniform UniMax,
  β = 0: passive).
* :func:`document_epochs`: concept-balanced expected epochs e_d = (1−λ)·passive + λ·UniMax(β, E_max)
  over concept buckets, capped at E_max.
* :func:`uniform_hash`: u ∈ [0, 1) from blake2b(seed ‖ key); the repeat draws, the budget search
  and the document-share cap that use it are the passes of :mod:`tailmine.mixtures.passes`.
"""
from __future__ import annotations

import hashlib
from typing import Mapping, Optional, Sequence

import numpy as np

from tailmine.errors import ConfigError


def uniform_hash(keys: Sequence[str], seed: int, salt: str = "") -> np.ndarray:
    """u ∈ [0, 1) per key from blake2b(seed, salt, key): stable across machines and Python runs."""
    prefix = f"{seed}\x1f{salt}\x1f".encode()
    out = np.empty(len(keys), np.float64)
    for i, key in enumerate(keys):
        h = hashlib.blake2b(prefix + key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        out[i] = int.from_bytes(h, "little") / 2.0**64
    return out


def temperature_weights(unique_tokens: Mapping[str, float], temperature: float) -> dict[str, float]:
    if temperature <= 0:
        raise ConfigError(f"temperature must be positive, got {temperature}")
    raw = {k: float(v) ** (1.0 / temperature) for k, v in unique_tokens.items() if v > 0}
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()}


def unimax(unique: np.ndarray, budget: float, max_epochs: float, beta: float = 1.0) -> np.ndarray:
    """Tokens allotted to each group by capped water-filling; ``unique`` are the groups' unique tokens.

    Target shares π_g ∝ (U_g/U)^(1−β); a group never gets more than ``max_epochs·U_g``. Groups that
    saturate first (smallest cap/π) are served first and the remainder is re-shared in proportion to π
    among the others. O(G log G).
    """
    unique = np.asarray(unique, np.float64)
    out = np.zeros_like(unique)
    live = unique > 0
    if not live.any() or budget <= 0:
        return out
    if not 0.0 <= beta <= 1.0:
        raise ConfigError(f"beta must be in [0, 1], got {beta}")
    p = np.where(live, unique / unique[live].sum(), 0.0)
    target = np.where(live, np.power(np.where(live, p, 1.0), 1.0 - beta), 0.0)
    cap = max_epochs * unique
    idx = np.flatnonzero(live)
    order = idx[np.argsort(cap[idx] / target[idx], kind="stable")]
    remaining, share_left = float(budget), float(target[order].sum())
    for g in order:
        if share_left <= 0 or remaining <= 0:
            break
        give = min(cap[g], remaining * target[g] / share_left)
        out[g] = give
        remaining -= give
        share_left -= target[g]
    return out


def source_budgets(unique: Mapping[str, float], budget: float, method: str, max_epochs: float,
                   temperature: float = 1.0, explicit: Optional[Mapping[str, float]] = None) -> dict[str, float]:
    """Token budget per source: natural (∝ U_s), explicit weights, temperature, or UniMax with caps."""
    names = sorted(unique)
    u = np.array([unique[n] for n in names], np.float64)
    if method == "natural":
        w = u / u.sum()
        alloc = w * budget
    elif method == "temperature":
        tw = temperature_weights(unique, temperature)
        alloc = np.array([tw.get(n, 0.0) for n in names]) * budget
    elif method == "explicit":
        explicit = dict(explicit or {})
        unknown = sorted(set(explicit) - set(names))
        if unknown:
            raise ConfigError(f"source weights name unknown sources {unknown}; sources are {names}")
        w = np.array([float(explicit.get(n, 0.0)) for n in names])
        if w.sum() <= 0:
            raise ConfigError("explicit source weights must have a positive sum")
        alloc = w / w.sum() * budget
    elif method == "unimax":
        alloc = unimax(u, budget, max_epochs, beta=1.0)
    else:
        raise ConfigError(f"unknown source weighting {method!r}; use natural, explicit, temperature or unimax")
    return {n: float(a) for n, a in zip(names, alloc)}


def document_epochs(bucket: np.ndarray, tokens: np.ndarray, budget: float, lam: float, beta: float,
                    max_epochs: float) -> tuple[np.ndarray, dict]:
    """Expected epochs per document for one source: (1−λ)·passive + λ·UniMax(β, E_max) over buckets.

    ``bucket`` holds integer bucket codes (one per document), ``tokens`` the document lengths.
    Returns (e_d, per-bucket arrays {unique_tokens, target_epochs}).
    """
    tokens = np.asarray(tokens, np.float64)
    total = tokens.sum()
    if total <= 0:
        return np.zeros_like(tokens), {"unique_tokens": np.zeros(0), "epochs": np.zeros(0)}
    passive = budget / total
    n_buckets = int(bucket.max()) + 1 if len(bucket) else 0
    unique = np.bincount(bucket, weights=tokens, minlength=n_buckets)
    alloc = unimax(unique, budget, max_epochs, beta)
    bucket_epochs = np.divide(alloc, unique, out=np.zeros_like(alloc), where=unique > 0)
    e = (1.0 - lam) * passive + lam * bucket_epochs[bucket]
    return np.minimum(e, max_epochs), {"unique_tokens": unique, "epochs": np.minimum((1 - lam) * passive + lam * bucket_epochs, max_epochs)}
