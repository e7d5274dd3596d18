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

from tailmine.runtime import ShardStep

COLUMNS = ("concept_count_v1", "concept_min_df_v1", "concept_mean_log_df_v1", "concept_tail_count_v1")


def rarity_columns(
    concept_sets: Sequence[set[str]], lookup: Callable[[list[str]], np.ndarray], tail_range: tuple[int, int]
) -> dict[str, pa.Array]:
    """The four rarity columns for a batch; ``lookup`` maps concepts to their df (at least 1)."""
    ordered = [sorted(concepts) for concepts in concept_sets]
    offsets = np.zeros(len(ordered) + 1, np.int64)
    np.cumsum([len(c) for c in ordered], out=offsets[1:])
    flat = [c for one in ordered for c in one]
    df = np.asarray(lookup(flat), dtype=np.int64) if flat else np.zeros(0, np.int64)
    return rarity_from_dfs(df, offsets, tail_range)


def rarity_from_dfs(df: np.ndarray, offsets: np.ndarray, tail_range: tuple[int, int]) -> dict[str, pa.Array]:
    """The four rarity columns from the dfs of every document's concepts, flattened
    (``df[offsets[i]:offsets[i+1]]`` for document i); dfs below 1 count as 1."""
    lo, hi = tail_range
    df = np.maximum(np.asarray(df, np.int64), 1)
    sizes = np.diff(offsets)
    has = sizes > 0
    starts = offsets[:-1][has]
    n = len(sizes)
    min_df = np.zeros(n, np.int64)
    mean_log = np.zeros(n, np.float64)
    tail = np.zeros(n, np.int64)
    if len(starts):
        min_df[has] = np.minimum.reduceat(df, starts)
        mean_log[has] = np.add.reduceat(np.log(df), starts) / sizes[has]
        tail[has] = np.add.reduceat(((df >= lo) & (df <= hi)).astype(np.int64), starts)
    empty = ~has
    return {
        "concept_count_v1": pa.array(sizes, pa.int32()),
        "concept_min_df_v1": pa.array(min_df, pa.int64(), mask=empty),
        "concept_mean_log_df_v1": pa.array(mean_log, pa.float64(), mask=empty),
        "concept_tail_count_v1": pa.array(tail, pa.int32()),
    }


class ConceptRarityStep(ShardStep):
    """Annotates every document with its rarity signals; removes nothing (selection is a later stage).

    Concept ids come from pass 1 (:meth:`begin_shard` hands them over, row-aligned with the shard);
    without them the batch is extracted again."""

    name = "concepts"

    def __init__(self, cfg, counts, tail_range: tuple[int, int]):
        self.cfg, self.counts, self.tail_range = cfg, counts, tail_range
        self._extractor = None
        self._stored = None
        self._cursor = 0

    def parameters(self) -> dict:
        return self.cfg.to_dict()

    def setup(self) -> None:
        from tailmine.concepts.extract import build_extractors

        self._extractor = build_extractors(self.cfg.extractors, self.cfg.max_n)
        self._extractor.setup()

    def begin_shard(self, stored: Optional[tuple[np.ndarray, np.ndarray]], rows: int) -> None:
        """Use ``stored`` = (ids, offsets) of the next shard's rows, if it has exactly ``rows`` rows."""
        self._stored = stored if stored is not None and len(stored[1]) - 1 == rows else None
        self._cursor = 0

    def end_shard(self) -> None:
        self._stored = None

    def lookup_ids(self, hashes: np.ndarray) -> np.ndarray:
        if self.counts.mode == "exact":
            return self.counts.lookup(hashes)
        return self.counts.cms.estimate(hashes)

    def _batch_ids(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        n = table.num_rows
        if self._stored is not None and self._cursor + n <= len(self._stored[1]) - 1:
            hashes, offsets = self._stored
            a, b = offsets[self._cursor], offsets[self._cursor + n]
            out = hashes[a:b], offsets[self._cursor : self._cursor + n + 1] - a
            self._cursor += n
            return out
        self._stored = None
        if self._extractor is None:
            self.setup()
        batch = self._extractor.extract_hashed(table.column("text").to_pylist(), self.cfg.seed)
        return batch.hashes, batch.offsets

    def annotate(self, table: pa.Table) -> pa.Table:
        hashes, offsets = self._batch_ids(table)
        for name, column in rarity_from_dfs(self.lookup_ids(hashes), offsets, self.tail_range).items():
            if name in table.column_names:
                table = table.drop_columns([name])  # re-annotating an annotated shard replaces the signal
            table = table.append_column(name, column)
        return table
