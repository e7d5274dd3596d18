"""The concepts stage's configuration: one dataclass, checked before any work starts."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from tailmine.errors import ConfigError


@dataclass(frozen=True)
class ConceptConfig:
    extractors: tuple = ("ngram", "entity")
    max_n: int = 3
    mode: str = "exact"
    epsilon: float = 1e-5
    delta: float = 0.01
    heavy_hitters: int = 10_000
    sample_size: int = 100_000
    hll_precision: int = 14
    bootstrap: int = 1000
    fit_min_tail: int = 50
    tail_fraction: float = 0.01
    min_tail_df: int = 2
    seed: int = 0

    def __post_init__(self):
        if isinstance(self.extractors, str):
            object.__setattr__(self, "extractors", tuple(e.strip() for e in self.extractors.split(",") if e.strip()))
        else:
            object.__setattr__(self, "extractors", tuple(self.extractors))
        if self.mode not in ("exact", "sketch"):
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

    @staticmethod
    def field_help() -> dict[str, str]:
        return {
            "extractors": "comma-separated concept extractors: ngram (word 1..max_n-grams), entity (capitalised spans)",
            "max_n": "longest word n-gram",
            "mode": "exact: exact document frequencies, sharded by concept id over the workers; sketch: Count-Min + "
            "heavy hitters + HyperLogLog + an exact bottom-k concept sample, in fixed memory",
            "epsilon": "sketch mode: Count-Min error per increment (overestimate <= epsilon * N)",
            "delta": "sketch mode: probability that the Count-Min bound fails",
            "heavy_hitters": "sketch mode: Misra-Gries counters (concepts listed in the concept table)",
            "sample_size": "sketch mode: concepts in the exact-df hash sample used for the fit",
            "hll_precision": "sketch mode: HyperLogLog registers = 2^precision",
            "bootstrap": "power-law goodness-of-fit bootstrap replicates (2500 gives p to about +-0.01)",
            "fit_min_tail": "smallest tail (concepts >= xmin) the power-law fit may choose",
            "tail_fraction": "a tail concept occurs in at most this fraction of documents",
            "min_tail_df": "a tail concept occurs in at least this many documents",
            "seed": "seed of hashing and the bootstrap",
        }


def config_fields():
    return fields(ConceptConfig)
