"""Configuration of the dedup stage: defaults that work for web crawls and books."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from tailmine.errors import ConfigError

MiB = 1 << 20


@dataclass(frozen=True)
class DedupConfig:
    threshold: float = 0.8
    """Jaccard similarity of word 5-gram shingle sets at or above which two documents are near-duplicates."""
    num_perm: int = 128
    """MinHash permutations per signature (estimate error ~ sqrt(J(1-J)/num_perm): 0.035 at 128)."""
    ngram: int = 5
    """Shingle length in tokens (words; characters for Chinese, Japanese, Thai and other unspaced scripts)."""
    seed: int = 42
    """Seed of the MinHash permutations: same seed, same signatures and clusters."""
    bands: int = 0
    """LSH bands; 0 chooses bands and rows from the threshold (weighted false positive/negative areas)."""
    rows: int = 0
    """LSH rows per band; 0 chooses them with bands."""
    fp_weight: float = 0.1
    """Weight of false positives when choosing bands/rows (false candidates are re-checked on signatures)."""
    fn_weight: float = 0.9
    """Weight of false negatives when choosing bands/rows (a missed duplicate stays in the mixture)."""
    verify_slack: float = 0.05
    """Candidate pairs whose signature estimate is below threshold - slack are dropped (the estimate's
    standard error is ~0.03 at 128 permutations; checking at the threshold itself would lose ~6% of
    pairs at threshold + 0.05)."""
    quality_column: str = "auto"
    """Column whose highest value picks the survivor of a cluster; 'auto' takes the first quality_* column
    present, 'none' ignores quality. Ties and missing scores: longest text, then smallest id."""
    band_partitions: int = 0
    """Partitions of the band-key shuffle; 0 lets the memory planner choose from the input size."""
    memory_budget_mb: int = 1024
    """Memory one worker may use for one partition of the band shuffle (the planner sizes partitions to it)."""
    batch_rows: int = 2048
    """Documents hashed per kernel call (bounds memory while signing a shard)."""
    line_dedup: str = "auto"
    """Remove lines repeated across many documents of the same site (registered domain of url) before
    signing: 'auto' for crawl documents (source warc/wet), 'on' for every document with a url, 'off'."""
    line_min_docs: int = 5
    """A line found in at least this many documents of one site is boilerplate and is removed from all of them."""
    components: str = "auto"
    """Connected components: 'local' in one task (needs the duplicate edges in memory), 'distributed'
    (label propagation by shard, in rounds), 'auto' = local when the planner's edge bound fits memory_budget_mb."""

    def __post_init__(self):
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"threshold: must lie in (0, 1), got {self.threshold}")
        for name in ("num_perm", "ngram", "memory_budget_mb", "batch_rows"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be a positive integer, got {getattr(self, name)}")
        if (self.bands == 0) != (self.rows == 0):
            raise ConfigError("bands/rows: give both or neither (0 = chosen from the threshold)")
        if self.bands < 0 or self.rows < 0 or self.bands * self.rows > self.num_perm:
            raise ConfigError(f"bands*rows: {self.bands}*{self.rows} must not exceed num_perm {self.num_perm}")
        if self.fp_weight < 0 or self.fn_weight < 0 or self.fp_weight + self.fn_weight <= 0:
            raise ConfigError("fp_weight/fn_weight: must be non-negative and not both zero")
        if not 0.0 <= self.verify_slack < self.threshold:
            raise ConfigError(f"verify_slack: must lie in [0, threshold), got {self.verify_slack}")
        if self.line_dedup not in ("auto", "on", "off"):
            raise ConfigError(f"line_dedup: expected auto, on or off, got {self.line_dedup!r}")
        if self.line_min_docs < 2:
            raise ConfigError(f"line_min_docs: must be at least 2, got {self.line_min_docs}")
        if self.components not in ("auto", "local", "distributed"):
            raise ConfigError(f"components: expected auto, local or distributed, got {self.components!r}")
        if self.band_partitions < 0:
            raise ConfigError(f"band_partitions: must be >= 0, got {self.band_partitions}")

    def bands_rows(self) -> tuple[int, int]:
        if self.bands:
            return self.bands, self.rows
        from tailmine.dedup.lsh import optimal_bands_rows

        return optimal_bands_rows(self.threshold, self.num_perm, self.fp_weight, self.fn_weight)

    def to_dict(self) -> dict:
        return asdict(self)
