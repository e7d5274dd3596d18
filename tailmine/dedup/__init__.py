"""Deduplication: normalisation and exact hashes, MinHash signatures (compiled kernel), LSH band/row
choice and candidates, connected components, survivor choice, and the memory planner.

Names load with their module on first use, so reading :class:`DedupConfig` (``tailmine dedup --help``)
does not compile or import the numba kernels."""
from __future__ import annotations

import importlib

_HOMES = {
    "tailmine.dedup.components": ("choose_survivors", "components_local"),
    "tailmine.dedup.config": ("DedupConfig",),
    "tailmine.dedup.lsh": ("band_keys", "bucket_edges", "near_duplicate_edges", "optimal_bands_rows"),
    "tailmine.dedup.minhash": ("MinHasher", "estimate_jaccard", "normalize", "text_hash"),
    "tailmine.dedup.planner": ("DedupPlan", "plan"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_HOME_OF)


def __getattr__(name: str):
    if name not in _HOME_OF:
        raise AttributeError(f"module 'tailmine.dedup' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME_OF[name]), name)
