"""Parquet input: any Parquet file with a text column; split across workers by row group."""
from __future__ import annotations

from typing import Iterator, Optional

from tailmine.ingest import records as r
from tailmine.ingest.jsonl import FieldNames, row_from_mapping

BATCH_ROWS = 1024


def row_groups(path: str) -> list[int]:
    """Row counts per row group (used by the planner to split big files)."""
    import pyarrow.parquet as pq

    from tailmine.fileio import open_raw

    with open_raw(path) as handle:
        meta = pq.ParquetFile(handle).metadata
        return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def read_parquet(path: str, cfg, extractor=None, start: int = 0, end: Optional[int] = None) -> Iterator[dict | r.Reject]:
    import pyarrow.parquet as pq

    from tailmine.fileio import open_raw

    try:
        handle = open_raw(path)
        parquet = pq.ParquetFile(handle)
    except Exception as exc:
        yield r.quarantine(r.CORRUPT_FILE, None, None, f"not a readable Parquet file: {exc}")
        return
    names = FieldNames.of(cfg)
    meta = parquet.metadata
    groups = list(range(meta.num_row_groups))[start:end]
    first_row = sum(meta.row_group(i).num_rows for i in range(start))
    record = first_row - 1
    with handle:
        for group in groups:
            try:
                for batch in parquet.iter_batches(batch_size=BATCH_ROWS, row_groups=[group]):
                    for row in batch.to_pylist():
                        record += 1
                        yield row_from_mapping(row, "parquet", path, record, None, names)
            except Exception as exc:
                # the rest of this row group is unreadable: account for its rows one by one
                group_end = sum(meta.row_group(i).num_rows for i in range(group + 1))
                while record + 1 < group_end:
                    record += 1
                    yield r.quarantine(r.CORRUPT_RECORD, record, None, f"row group {group} unreadable: {exc}")
