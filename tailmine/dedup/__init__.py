"""Deduplication: normalisation and exact hashes, MinHash signatures (compiled kernel), LSH band/row
choice and candidates, connected components, survivor choice, and the memory planner.

Names load with their module on first use, so reading :class:`DedupConfig` (``tailmine dedup --help``)
does not compile or import the numba kernels."""
from __future__ import annotations

from tailmine.lazy import lazy_attributes

__getattr__, __all__ = lazy_attributes(__name__, {
    "tailmine.dedup.components": ("choose_survivors", "components_local"),
    "tailmine.dedup.config": ("DedupConfig",),
    "tailmine.dedup.lsh": ("band_keys", "bucket_edges", "near_duplicate_edges", "optimal_bands_rows"),
    "tailmine.dedup.minhash": ("MinHasher", "estimate_jaccard", "normalize", "text_hash"),
    "tailmine.dedup.planner": ("DedupPlan", "plan"),
})
