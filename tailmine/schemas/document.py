"""Arrow schemas for a document and for a quarantined record.

The document schema is the core every stage shares. Later stages *add* annotation columns (scores,
cluster ids, flags) next to these; they never change or remove a core column, so a reader checks the
core columns and lets extra columns through. The schema version lives in the Arrow schema metadata so
a shard says which contract it was written under.
"""
from __future__ import annotations

from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from tailmine.errors import SchemaError

DOCUMENT_SCHEMA_VERSION = "1"
QUARANTINE_SCHEMA_VERSION = "1"

DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False, metadata={"doc": "stable id: the source's own id when it has one"}),
        pa.field("source", pa.string(), nullable=False, metadata={"doc": "source kind: warc, wet, html, gutenberg, text, jsonl, parquet"}),
        pa.field("url", pa.string(), metadata={"doc": "target URI for crawl records; the file path for local files"}),
        pa.field("title", pa.string()),
        pa.field("text", pa.string(), nullable=False),
        pa.field("raw_bytes", pa.int64(), nullable=False, metadata={"doc": "byte length of the raw record payload before extraction"}),
        pa.field("timestamp", pa.timestamp("us", tz="UTC"), metadata={"doc": "crawl or record date when the source gives one"}),
        pa.field("source_file", pa.string(), nullable=False, metadata={"doc": "input file the document came from (lineage)"}),
        pa.field("source_record", pa.int64(), metadata={"doc": "0-based record index within source_file when known; a JSONL file read in byte ranges knows only source_offset"}),
        pa.field("source_offset", pa.int64(), metadata={"doc": "byte offset of the record in source_file when known"}),
        pa.field("metadata", pa.string(), metadata={"doc": "free-form JSON object: source-specific fields (author, language, http headers, ...)"}),
    ],
    metadata={"tailmine.schema": "document", "tailmine.schema_version": DOCUMENT_SCHEMA_VERSION},
)

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("source_record", pa.int64(), metadata={"doc": "0-based record index (or line number for JSONL)"}),
        pa.field("source_offset", pa.int64(), metadata={"doc": "byte offset of the record when known"}),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False, metadata={"doc": "snake_case reason, also counted in the manifest"}),
        pa.field("detail", pa.string(), metadata={"doc": "the error message or measurement behind the reason"}),
        pa.field("snippet", pa.binary(), metadata={"doc": "the first bytes of the raw record, for inspection"}),
    ],
    metadata={"tailmine.schema": "quarantine", "tailmine.schema_version": QUARANTINE_SCHEMA_VERSION},
)


def check_schema(schema: pa.Schema, path: str, expected: pa.Schema = DOCUMENT_SCHEMA) -> None:
    """Raise :class:`SchemaError` naming ``path`` and the first column that breaks ``expected``.

    Extra columns are allowed (annotations added by later stages); every column of ``expected`` must be
    present with the same type.
    """
    kind = (expected.metadata or {}).get(b"tailmine.schema", b"?").decode()
    for field in expected:
        index = schema.get_field_index(field.name)
        if index < 0:
            raise SchemaError(
                f"{path}: column {field.name!r} is missing; a tailmine {kind} shard needs "
                f"{', '.join(expected.names)}"
            )
        actual = schema.field(index).type
        if not actual.equals(field.type):
            raise SchemaError(f"{path}: column {field.name!r} has type {actual}, expected {field.type}")
    found = (schema.metadata or {}).get(b"tailmine.schema_version")
    want = (expected.metadata or {}).get(b"tailmine.schema_version")
    if found is not None and found != want:
        raise SchemaError(
            f"{path}: written under {kind} schema version {found.decode()}, this tailmine reads version {want.decode()}"
        )


def _read(paths: str | Iterable[str], expected: pa.Schema, columns: list[str] | None) -> pa.Table:
    from apache_beam.io.filesystems import FileSystems

    paths = [paths] if isinstance(paths, str) else list(paths)
    tables = []
    for path in paths:
        with FileSystems.open(path) as handle:
            parquet = pq.ParquetFile(handle)
            check_schema(parquet.schema_arrow, path, expected)
            tables.append(parquet.read(columns=columns))
    if not tables:
        return expected.empty_table() if columns is None else expected.empty_table().select(columns)
    return pa.concat_tables(tables, promote_options="default")


def read_documents(paths: str | Iterable[str], columns: list[str] | None = None) -> pa.Table:
    """Read document shards into one table after checking each against :data:`DOCUMENT_SCHEMA`."""
    return _read(paths, DOCUMENT_SCHEMA, columns)


def read_quarantine(paths: str | Iterable[str], columns: list[str] | None = None) -> pa.Table:
    """Read quarantine shards after checking each against :data:`QUARANTINE_SCHEMA`."""
    return _read(paths, QUARANTINE_SCHEMA, columns)
