"""Writing and listing Parquet shards: atomic, hashed, deterministic.

Every stage writes its shards through :class:`ShardWriter`: rows or record batches go in, a shard is
closed at a byte budget, written under a temporary name and renamed, and its row count, size and
sha256 are recorded for the manifest.
"""
from __future__ import annotations

from typing import Optional

import pyarrow as pa
import pyarrow.parquet as pq

from tailmine.fileio import commit, create_hashing, join
from tailmine.schemas.manifest import ShardInfo

PARQUET_COMPRESSION = "zstd"
STATISTICS_COLUMNS = ["source", "url"]
"""Columns whose min/max/null counts go in the shard footers, so a later stage can plan from footers
alone (dedup skips its line step when no crawl document has a URL); never the text (costly, useless)."""


class ShardWriter:
    """Writes rows to ``SUBDIR/PREFIX-KKK.parquet`` under ``schema``, rolling at ``shard_bytes``.

    Rows are buffered column-wise and flushed as a row group every ``row_group_bytes`` of payload, so
    memory stays bounded whatever the input size. ``add_batch`` takes whole record batches (map stages).
    """

    def __init__(
        self,
        out_dir: str,
        subdir: str,
        prefix: str,
        schema: pa.Schema,
        shard_bytes: int = 256 << 20,
        row_group_bytes: int = 32 << 20,
        numbered: bool = True,
    ):
        self.out_dir, self.subdir, self.prefix, self.schema = out_dir, subdir, prefix, schema
        self.shard_bytes, self.row_group_bytes, self.numbered = shard_bytes, row_group_bytes, numbered
        self.shards: list[ShardInfo] = []
        self._columns: dict[str, list] = {name: [] for name in schema.names}
        self._buffered_bytes = 0
        self._shard_bytes = 0
        self._shard_rows = 0
        self._writer: Optional[pq.ParquetWriter] = None
        self._sink = None
        self._name = ""

    def _tmp(self) -> str:
        return join(self.out_dir, self.subdir, f".tmp-{self._name.rsplit('/', 1)[1]}")

    def _open(self) -> None:
        suffix = f"-{len(self.shards):03d}" if self.numbered else ""
        self._name = f"{self.subdir}/{self.prefix}{suffix}.parquet"
        self._sink = create_hashing(self._tmp())
        self._writer = pq.ParquetWriter(
            pa.PythonFile(self._sink, mode="w"), self.schema, compression=PARQUET_COMPRESSION, write_statistics=STATISTICS_COLUMNS
        )

    def add(self, row: dict, size: int) -> None:
        for name, column in self._columns.items():
            column.append(row.get(name))
        self._grow(1, size)

    def add_batch(self, batch: pa.RecordBatch | pa.Table, size: int) -> None:
        """Append a whole batch (already in ``schema``); ``size`` is its payload bytes."""
        self._flush()
        if batch.num_rows == 0:
            return
        if self._writer is None:
            self._open()
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        self._writer.write_table(table.cast(self.schema) if not table.schema.equals(self.schema) else table)
        self._shard_bytes += size
        self._shard_rows += batch.num_rows
        if self._shard_bytes >= self.shard_bytes:
            self._close_shard()

    def _grow(self, rows: int, size: int) -> None:
        self._buffered_bytes += size
        self._shard_bytes += size
        self._shard_rows += rows
        if self._buffered_bytes >= self.row_group_bytes:
            self._flush()
        if self._shard_bytes >= self.shard_bytes:
            self._close_shard()

    def _flush(self) -> None:
        if not self._columns[self.schema.names[0]]:
            return
        if self._writer is None:
            self._open()
        self._writer.write_batch(pa.RecordBatch.from_pydict(self._columns, schema=self.schema))
        self._columns = {name: [] for name in self.schema.names}
        self._buffered_bytes = 0

    def _close_shard(self) -> None:
        self._flush()
        if self._writer is None:
            return
        self._writer.close()
        self._sink.close()
        commit(self._tmp(), join(self.out_dir, self._name))
        self.shards.append(ShardInfo(self._name, self._shard_rows, self._sink.bytes, self._sink.sha256.hexdigest()))
        self._writer, self._sink = None, None
        self._shard_bytes = 0
        self._shard_rows = 0

    def close(self) -> list[ShardInfo]:
        self._close_shard()
        return self.shards
