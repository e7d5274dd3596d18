import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tailmine.errors import ManifestError, SchemaError
from tailmine.schemas import DOCUMENT_SCHEMA, Counts, Manifest, ShardInfo, read_documents, read_manifest


def _row(**over):
    row = {
        "id": "a", "source": "jsonl", "url": None, "title": None, "text": "hello", "raw_bytes": 5,
        "timestamp": None, "source_file": "f.jsonl", "source_record": 0, "source_offset": 0, "metadata": "{}",
    }
    row.update(over)
    return row


def test_reads_a_valid_shard_with_extra_annotation_columns(tmp_path):
    table = pa.Table.from_pylist([_row()], schema=DOCUMENT_SCHEMA).append_column("quality_v1", pa.array([0.5]))
    pq.write_table(table, tmp_path / "part.parquet")
    read = read_documents(str(tmp_path / "part.parquet"))
    assert read.column("quality_v1").to_pylist() == [0.5]
    assert read.column("text").to_pylist() == ["hello"]


def test_missing_column_error_names_file_and_column(tmp_path):
    table = pa.Table.from_pylist([_row()], schema=DOCUMENT_SCHEMA).drop(["text"])
    path = tmp_path / "bad.parquet"
    pq.write_table(table, path)
    with pytest.raises(SchemaError, match=r"bad\.parquet.*'text' is missing"):
        read_documents(str(path))


def test_wrong_type_error_names_file_column_and_types(tmp_path):
    table = pa.Table.from_pylist([_row()], schema=DOCUMENT_SCHEMA)
    table = table.set_column(table.schema.get_field_index("raw_bytes"), "raw_bytes", pa.array(["5"]))
    path = tmp_path / "typed.parquet"
    pq.write_table(table, path)
    with pytest.raises(SchemaError, match=r"typed\.parquet.*'raw_bytes' has type string, expected int64"):
        read_documents(str(path))


def test_newer_schema_version_is_refused(tmp_path):
    table = pa.Table.from_pylist([_row()], schema=DOCUMENT_SCHEMA)
    table = table.replace_schema_metadata({"tailmine.schema": "document", "tailmine.schema_version": "99"})
    pq.write_table(table, tmp_path / "v99.parquet")
    with pytest.raises(SchemaError, match="version 99"):
        read_documents(str(tmp_path / "v99.parquet"))


def _manifest(counts):
    return Manifest("ingest", "0", "1", {"a": 1}, [{"path": "in", "bytes": 3}], [ShardInfo("docs/p.parquet", 2, 10, "ab")], [], counts)


def test_manifest_round_trip_and_balance(tmp_path):
    counts = Counts(input=5, output=2, dropped={"empty_text": 2}, quarantined={"invalid_json": 1})
    _manifest(counts).write(str(tmp_path))
    back = read_manifest(str(tmp_path))
    assert back.counts == counts
    assert back.outputs[0].rows == 2
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert data["counts"] == {"input": 5, "output": 2, "dropped": {"empty_text": 2}, "quarantined": {"invalid_json": 1}}


def test_unbalanced_manifest_is_refused_on_write_and_read(tmp_path):
    with pytest.raises(ManifestError, match="do not balance"):
        _manifest(Counts(input=5, output=2, dropped={"empty_text": 1})).write(str(tmp_path))
    text = _manifest(Counts(input=3, output=3)).to_json().replace('"input": 3', '"input": 4')
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(ManifestError, match="manifest.json.*do not balance"):
        read_manifest(str(tmp_path))


def test_missing_manifest_error_names_path(tmp_path):
    with pytest.raises(ManifestError, match=str(tmp_path)):
        read_manifest(str(tmp_path))


def test_counts_merge_adds_reasons():
    a = Counts(3, 1, {"x": 1}, {"q": 1})
    b = Counts(4, 2, {"x": 1, "y": 1}, {})
    m = a.merge(b)
    assert (m.input, m.output, m.dropped, m.quarantined) == (7, 3, {"x": 2, "y": 1}, {"q": 1})
    assert m.unbalanced_by == 0
