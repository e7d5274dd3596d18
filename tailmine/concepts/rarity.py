"""Per-document rarity signals from concept document frequencies (annotate; selection comes later).

Columns (versioned, so a changed definition gets a new name):

* ``concept_count_v1``: distinct concepts in the document;
* ``concept_min_df_v1``: df of its rarest concept (null when it has none);
* ``concept_mean_log_df_v1``: mean of ln(df) over its concepts (null when none): low = rare content;
* ``concept_tail_count_v1``: how many of its concepts are tail concepts (df within the tail range).
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import pyarrow as pa

from tailmine.pipelines.stage import ShardStep

COLUMNS = ("concept_count_v1", "concept_min_df_v1", "concept_mean_log_df_v1", "concept_tail_count_v1")


def rarity_columns(
    concept_sets: Sequence[set[str]], lookup: Callable[[list[str]], np.ndarray], tail_range: tuple[int, int]
) -> dict[str, pa.Array]:
    """The four rarity columns for a batch; ``lookup`` maps concepts to their df (at least 1)."""
    lo, hi = tail_range
    count, min_df, mean_log, tail = [], [], [], []
    for concepts in concept_sets:
        if not concepts:
            count.append(0), min_df.append(None), mean_log.append(None), tail.append(0)
            continue
        df = np.maximum(np.asarray(lookup(sorted(concepts)), dtype=np.int64), 1)
        count.append(len(df))
        min_df.append(int(df.min()))
        mean_log.append(float(np.log(df).mean()))
        tail.append(int(np.count_nonzero((df >= lo) & (df <= hi))))
    return {
        "concept_count_v1": pa.array(count, pa.int32()),
        "concept_min_df_v1": pa.array(min_df, pa.int64()),
        "concept_mean_log_df_v1": pa.array(mean_log, pa.float64()),
        "concept_tail_count_v1": pa.array(tail, pa.int32()),
    }


class ConceptRarityStep(ShardStep):
    """Annotates every document with its rarity signals; removes nothing (selection is a later stage)."""

    name = "concepts"

    def __init__(self, cfg, counts, tail_range: tuple[int, int]):
        self.cfg, self.counts, self.tail_range = cfg, counts, tail_range
        self._extractor = None

    def parameters(self) -> dict:
        return self.cfg.to_dict()

    def setup(self) -> None:
        from tailmine.concepts.extract import build_extractors

        self._extractor = build_extractors(self.cfg.extractors, self.cfg.max_n)
        self._extractor.setup()

    def _lookup(self, concepts: list[str]) -> np.ndarray:
        if self.counts.mode == "exact":
            get = self.counts.df.get
            return np.fromiter((get(c, 1) for c in concepts), dtype=np.int64, count=len(concepts))
        return self.counts.estimate(concepts)

    def annotate(self, table: pa.Table) -> pa.Table:
        if self._extractor is None:
            self.setup()
        sets = [self._extractor.extract(t or "") for t in table.column("text").to_pylist()]
        for name, column in rarity_columns(sets, self._lookup, self.tail_range).items():
            if name in table.column_names:
                table = table.drop_columns([name])  # re-annotating an annotated shard replaces the signal
            table = table.append_column(name, column)
        return table
