"""Annotate-then-select, shard by shard: :class:`ShardStep`, :class:`SelectionWriter`, :func:`map_shard`."""
from __future__ import annotations

from typing import Optional

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tailmine.fileio import open_raw
from tailmine.runtime.work import DOCS_DIR, REMOVED_DIR, ShardTask, finished_summary, save_summary
from tailmine.schemas.document import DOCUMENT_SCHEMA, check_schema
from tailmine.schemas.manifest import Counts
from tailmine.schemas.shards import ShardWriter


class ShardStep:
    """One annotate-then-select step applied shard by shard (filters, scorers, concept annotation).

    ``annotate`` adds signal columns to a batch of documents (it may also rewrite ``text``, e.g. PII
    redaction); ``decide`` returns, per row, a snake_case drop reason or None to keep it. Keeping the
    two apart lets thresholds change without recomputing signals. ``setup`` runs once per worker before
    the first batch, for lazy loading of models. Subclasses must be picklable (no open handles in
    ``__init__``).
    """

    name = "step"

    def parameters(self) -> dict:
        return {}

    def setup(self) -> None:
        pass

    def annotate(self, table: pa.Table) -> pa.Table:
        return table

    def decide(self, table: pa.Table) -> list[Optional[str]]:
        return [None] * table.num_rows


class SelectionWriter:
    """Writes one input shard's rows after a decision: kept rows to ``docs/part-UUUUU.parquet``, removed
    rows with their ``drop_reason`` to ``removed/part-UUUUU.parquet``, counting every row; ``finish``
    checks the counts balance and saves the unit summary. Output order is input order (deterministic).
    """

    def __init__(self, task: ShardTask, out_dir: str, fingerprint: Optional[str]):
        self.task, self.out_dir, self.fingerprint = task, out_dir, fingerprint
        self.counts = Counts()
        self.output_chars = 0
        self.text_bytes = 0
        self._prefix = f"part-{task.unit:05d}"
        self._kept: Optional[ShardWriter] = None
        self._removed: Optional[ShardWriter] = None

    def add(self, table: pa.Table, reasons: list[Optional[str]]) -> None:
        if len(reasons) != table.num_rows:
            raise ValueError(f"{self.task.path}: {len(reasons)} decisions for {table.num_rows} rows")
        self.counts.input += table.num_rows
        keep = pa.array([reason is None for reason in reasons])
        kept = table.filter(keep)
        if self._kept is None:
            self._kept = ShardWriter(self.out_dir, DOCS_DIR, self._prefix, table.schema, numbered=False, shard_bytes=1 << 62)
        kept_bytes = _text_bytes(kept)
        self._kept.add_batch(kept, kept_bytes)
        self.text_bytes += kept_bytes
        self.counts.output += kept.num_rows
        self.output_chars += _text_chars(kept)
        if kept.num_rows < table.num_rows:
            dropped = [reason for reason in reasons if reason is not None]
            for reason in dropped:
                self.counts.drop(reason)
            removed = table.filter(pc.invert(keep)).append_column("drop_reason", pa.array(dropped, pa.string()))
            if self._removed is None:
                self._removed = ShardWriter(self.out_dir, REMOVED_DIR, self._prefix, removed.schema, numbered=False, shard_bytes=1 << 62)
            self._removed.add_batch(removed, _text_bytes(removed))

    def close(self, label: str) -> dict:
        """Close the shards and return the unit summary, after checking the counts balance."""
        summary = {
            "unit": self.task.unit,
            **({"fingerprint": self.fingerprint} if self.fingerprint is not None else {}),
            "input": self.task.path,
            "input_bytes": self.task.bytes,
            "outputs": [s.__dict__ for s in (self._kept.close() if self._kept else [])],
            "removed": [s.__dict__ for s in (self._removed.close() if self._removed else [])],
            "counts": self.counts.to_dict(),
            "output_chars": self.output_chars,
            "text_bytes": self.text_bytes,
        }
        self.counts.check_balanced(f"{label} on {self.task.path}")
        return summary

    def finish(self, label: str) -> dict:
        """:meth:`close`, then save the summary so a resumed run can reuse this unit."""
        summary = self.close(label)
        save_summary(self.out_dir, summary)
        return summary


def map_shard(task: ShardTask, step: ShardStep, out_dir: str, fingerprint: str, batch_rows: int = 2048) -> dict:
    """Apply ``step`` to one input shard through a :class:`SelectionWriter` (resumable per shard)."""
    previous = finished_summary(out_dir, task.unit, fingerprint)
    if previous is not None:
        return previous
    selection = SelectionWriter(task, out_dir, fingerprint)
    with open_raw(task.path) as handle:
        parquet = pq.ParquetFile(handle)
        check_schema(parquet.schema_arrow, task.path, DOCUMENT_SCHEMA)
        for batch in parquet.iter_batches(batch_size=batch_rows):
            table = step.annotate(pa.Table.from_batches([batch]))
            selection.add(table, step.decide(table))
    return selection.finish(step.name)


def _text_chars(table: pa.Table) -> int:
    if "text" not in table.column_names or table.num_rows == 0:
        return 0
    return int(pc.sum(pc.utf8_length(table.column("text"))).as_py() or 0)


def _text_bytes(table: pa.Table) -> int:
    if "text" not in table.column_names or table.num_rows == 0:
        return 0
    return int(pc.sum(pc.binary_length(table.column("text"))).as_py() or 0)
