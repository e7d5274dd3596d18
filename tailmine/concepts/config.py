"""The concepts stage's configuration: one dataclass, checked before any work starts."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from tailmine.errors import ConfigError

MODES = ("exact", "sketch")


@dataclass(frozen=True)
class ConceptConfig:
    extractors: tuple = ("ngram", "entity")
    """comma-separated concept extractors: ngram (word 1..max_n-grams), entity (capitalised spans)"""
    max_n: int = 3
    """longest word n-gram"""
    mode: str = "exact"
    """exact: exact document frequencies, sharded by concept id over the workers; sketch: Count-Min +
    heavy hitters + HyperLogLog + an exact bottom-k concept sample, in fixed memory"""
    epsilon: float = 1e-5
    """sketch mode: Count-Min error per increment (overestimate <= epsilon * N)"""
    delta: float = 0.01
    """sketch mode: probability that the Count-Min bound fails"""
    heavy_hitters: int = 10_000
    """sketch mode: Misra-Gries counters (concepts listed in the concept table)"""
    sample_size: int = 100_000
    """sketch mode: concepts in the exact-df hash sample used for the fit"""
    hll_precision: int = 14
    """sketch mode: HyperLogLog registers = 2^precision"""
    bootstrap: int = 1000
    """power-law goodness-of-fit bootstrap replicates (2500 gives p to about +-0.01)"""
    fit_min_tail: int = 50
    """smallest tail (concepts >= xmin) the power-law fit may choose"""
    tail_fraction: float = 0.01
    """a tail concept occurs in at most this fraction of documents"""
    min_tail_df: int = 2
    """a tail concept occurs in at least this many documents"""
    seed: int = 0
    """seed of hashing and the bootstrap"""

    def __post_init__(self):
        if isinstance(self.extractors, str):
            object.__setattr__(self, "extractors", tuple(e.strip() for e in self.extractors.split(",") if e.strip()))
        else:
            object.__setattr__(self, "extractors", tuple(self.extractors))
        if self.mode not in MODES:
            raise ConfigError(f"concepts mode must be 'exact' or 'sketch', got {self.mode!r}")
        if not 0 < self.tail_fraction < 1:
            raise ConfigError(f"concepts tail_fraction must be in (0, 1), got {self.tail_fraction}")
        if self.bootstrap < 0 or self.min_tail_df < 1 or self.fit_min_tail < 2:
            raise ConfigError("concepts bootstrap must be >= 0, min_tail_df >= 1 and fit_min_tail >= 2")
        from tailmine.concepts.extract import build_extractors

        build_extractors(self.extractors, self.max_n)  # names and max_n checked now, not on a worker

    def to_dict(self) -> dict:
        data = asdict(self)
        data["extractors"] = list(self.extractors)
        return data

    def tail_df_range(self, documents: int) -> tuple[int, int]:
        """df values that make a concept a *tail* concept: seen in at least ``min_tail_df`` documents
        (a one-off is more often a typo than knowledge) and at most ``tail_fraction`` of them."""
        return self.min_tail_df, max(self.min_tail_df, int(documents * self.tail_fraction))
