"""Parquet input: any Parquet file with a text column; split across workers by row group.

Memory is bounded by a read budget, checked from the file's own metadata before any value is
decoded, because Arrow must hold a whole page (and its decoded copy) to read any cell in it:

* a row group whose column chunks are small in total is read as is;
* a larger one has its page headers scanned (a few bytes each): if every page fits the budget, it is
  read in batches sized from the average row, and each cell's byte length (Arrow offsets, no Python
  objects) is checked before a row is converted, so an oversized row is dropped without being
  materialised;
* a row group holding a page over the budget (one giant cell, e.g. 1 GiB of text in 33 KB of zstd)
  is not decoded at all: each of its rows is dropped as ``document_too_large`` with the page's size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

from tailmine.ingest import records as r
from tailmine.ingest.jsonl import FieldNames, row_from_mapping

BATCH_ROWS = 1024
MIN_READ_BUDGET = 8 << 20
READ_BUDGET_DOCS = 8
"""The read budget is ``max(MIN_READ_BUDGET, READ_BUDGET_DOCS * max_doc_bytes)`` decoded bytes."""
READ_BUFFER = 8 << 20  # column chunks are streamed through this buffer, not read whole


def read_budget(cfg) -> int:
    return max(MIN_READ_BUDGET, READ_BUDGET_DOCS * cfg.max_doc_bytes)


def row_groups(path: str) -> list[int]:
    """Row counts per row group (used by the planner to split big files)."""
    import pyarrow.parquet as pq

    from tailmine.fileio import open_raw

    with open_raw(path) as handle:
        meta = pq.ParquetFile(handle).metadata
        return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


# --- page headers: Thrift compact protocol, just enough to walk a column chunk ------------------


class _Compact:
    """A reader of Thrift's compact protocol over ``data`` (page headers are a few dozen bytes)."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise EOFError("page header runs past the bytes read")
        self.pos += 1
        return self.data[self.pos - 1]

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise ValueError("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def skip(self, kind: int, depth: int = 0) -> None:
        if depth > 32:
            raise ValueError("page header nested too deeply")
        if kind in (1, 2):  # booleans live in the field header
            return
        if kind == 3:
            self.byte()
        elif kind in (4, 5, 6):
            self.varint()
        elif kind == 7:
            self.pos += 8
        elif kind == 8:
            length = self.varint()  # read before moving: `self.pos += self.varint()` would lose the varint
            self.pos += length
        elif kind in (9, 10):
            head = self.byte()
            size, element = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            for _ in range(size):
                self.byte() if element in (1, 2) else self.skip(element, depth + 1)
        elif kind == 11:
            size = self.varint()
            if size:
                types = self.byte()
                for _ in range(size):
                    self.skip(types >> 4, depth + 1)
                    self.skip(types & 0x0F, depth + 1)
        elif kind == 12:
            self.struct(depth + 1)
        else:
            raise ValueError(f"unknown Thrift type {kind}")

    def struct(self, depth: int = 0) -> dict[int, int]:
        """The integer fields of a struct by id (nested structs and other values are skipped)."""
        fields: dict[int, int] = {}
        last = 0
        while True:
            head = self.byte()
            kind = head & 0x0F
            if kind == 0:
                return fields
            delta = head >> 4
            field = last + delta if delta else self.zigzag()
            last = field
            if kind in (4, 5, 6):
                fields[field] = self.zigzag()
            else:
                self.skip(kind, depth)


def largest_page(handle, start: int, length: int) -> int:
    """The largest uncompressed page size in the column chunk at ``start`` (``length`` bytes on disk)."""
    largest = 0
    pos, end = start, start + length
    while pos < end:
        handle.seek(pos)
        header = _Compact(handle.read(min(64 << 10, end - pos)))
        fields = header.struct()
        uncompressed, compressed = fields.get(2), fields.get(3)
        if uncompressed is None or compressed is None or compressed < 0:
            raise ValueError(f"page header at byte {pos} lacks its sizes")
        largest = max(largest, uncompressed)
        pos += header.pos + compressed
    return largest


@dataclass(frozen=True)
class GroupPlan:
    """How to read one row group: rows per batch, or why not to read it at all."""

    batch_rows: int
    too_large: str = ""  # why the row group's rows are dropped unread ('' = read it)


def plan_group(handle, meta, group: int, budget: int) -> GroupPlan:
    rg = meta.row_group(group)
    total = sum(rg.column(c).total_uncompressed_size for c in range(rg.num_columns))
    if total <= budget:
        return GroupPlan(BATCH_ROWS)
    pages = 0
    for c in range(rg.num_columns):
        column = rg.column(c)
        if column.total_uncompressed_size <= budget // max(1, rg.num_columns):
            pages += column.total_uncompressed_size
            continue
        start = column.dictionary_page_offset if column.has_dictionary_page else column.data_page_offset
        largest = largest_page(handle, start, column.total_compressed_size)
        pages += largest
        if largest > budget:
            return GroupPlan(0, f"column {column.path_in_schema!r} of row group {group} holds a page of {largest} bytes, over the read budget {budget}; its rows were not read")
    if pages > budget:
        return GroupPlan(0, f"row group {group}: the pages read together hold {pages} bytes, over the read budget {budget}; its rows were not read")
    per_row = max(1, total // max(1, rg.num_rows))
    return GroupPlan(max(1, min(BATCH_ROWS, budget // (2 * per_row))))


def row_bytes(batch):
    """Each row's bytes in its variable-length (string/binary) columns, from Arrow offsets only."""
    import pyarrow as pa
    import pyarrow.compute as pc

    sizes = None
    for column in batch.columns:
        if pa.types.is_string(column.type) or pa.types.is_binary(column.type) or pa.types.is_large_string(column.type) or pa.types.is_large_binary(column.type):
            length = pc.fill_null(pc.binary_length(column), 0).cast(pa.int64())
            sizes = length if sizes is None else pc.add(sizes, length)
    return sizes.to_pylist() if sizes is not None else [0] * batch.num_rows


def read_parquet(path: str, cfg, extractor=None, start: int = 0, end: Optional[int] = None) -> Iterator[dict | r.Reject]:
    import pyarrow.parquet as pq

    from tailmine.fileio import open_raw

    try:
        handle = open_raw(path)
        parquet = pq.ParquetFile(handle, buffer_size=READ_BUFFER)
    except Exception as exc:
        yield r.quarantine(r.CORRUPT_FILE, None, None, f"not a readable Parquet file: {exc}")
        return
    names = FieldNames.of(cfg)
    meta = parquet.metadata
    budget = read_budget(cfg)
    groups = list(range(meta.num_row_groups))[start:end]
    first_row = sum(meta.row_group(i).num_rows for i in range(start))
    record = first_row - 1
    with handle:
        for group in groups:
            group_end = sum(meta.row_group(i).num_rows for i in range(group + 1))
            try:
                plan = plan_group(handle, meta, group, budget)
            except Exception as exc:  # page headers that cannot be walked: Arrow could not read them either
                while record + 1 < group_end:
                    record += 1
                    yield r.quarantine(r.CORRUPT_RECORD, record, None, f"row group {group}: unreadable page headers: {exc}")
                continue
            if plan.too_large:
                while record + 1 < group_end:
                    record += 1
                    yield r.drop(r.DOCUMENT_TOO_LARGE, record, None, plan.too_large)
                continue
            try:
                for batch in parquet.iter_batches(batch_size=plan.batch_rows, row_groups=[group]):
                    for outcome in _batch_rows(batch, record, path, names, cfg.max_doc_bytes):
                        record += 1
                        yield outcome
            except Exception as exc:
                # the rest of this row group is unreadable: account for its rows one by one
                while record + 1 < group_end:
                    record += 1
                    yield r.quarantine(r.CORRUPT_RECORD, record, None, f"row group {group} unreadable: {exc}")


def _batch_rows(batch, before: int, path: str, names: FieldNames, max_doc_bytes: int) -> Iterator[dict | r.Reject]:
    """The outcomes of one batch, rows over ``max_doc_bytes`` dropped before any Python object is made."""
    sizes = row_bytes(batch)
    if max(sizes, default=0) <= max_doc_bytes:
        for i, row in enumerate(batch.to_pylist()):
            yield row_from_mapping(row, "parquet", path, before + 1 + i, None, names)
        return
    for i, size in enumerate(sizes):
        if size > max_doc_bytes:
            yield r.drop(r.DOCUMENT_TOO_LARGE, before + 1 + i, None, f"row holds {size} bytes > max_doc_bytes {max_doc_bytes}")
        else:
            yield row_from_mapping(batch.slice(i, 1).to_pylist()[0], "parquet", path, before + 1 + i, None, names)
