"""Deduplication: normalisation and exact hashes, MinHash signatures (compiled kernel), LSH band/row
choice and candidates, connected components, survivor choice, and the memory planner."""
from tailmine.dedup.components import choose_survivors, components_local
from tailmine.dedup.config import DedupConfig
from tailmine.dedup.lsh import band_keys, bucket_edges, near_duplicate_edges, optimal_bands_rows
from tailmine.dedup.minhash import MinHasher, estimate_jaccard, normalize, text_hash
from tailmine.dedup.planner import DedupPlan, plan

__all__ = [
    "DedupConfig", "DedupPlan", "MinHasher", "band_keys", "bucket_edges", "choose_survivors", "components_local",
    "estimate_jaccard", "near_duplicate_edges", "normalize", "optimal_bands_rows", "plan", "text_hash",
]
