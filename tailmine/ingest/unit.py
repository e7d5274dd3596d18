"""Units of ingest work: planning them, and running one from input bytes to committed shards.

A unit is a list of file slices (whole files, byte ranges of uncompressed JSONL, row-group ranges of
Parquet) of about ``unit_bytes`` input. Running a unit streams its records through the readers and
writes its own shards ``docs/part-UUUUU-KKK.parquet`` and ``quarantine/part-UUUUU.parquet``: records
are written in input order, so the bytes depend only on inputs and config (deterministic), and files
are written under a temporary name and renamed, so a retried or resumed unit rewrites the same bytes.
Only a small summary per unit travels through Beam; documents never cross a shuffle in this stage.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Iterable, Optional

import pyarrow as pa
import pyarrow.parquet as pq

from tailmine.fileio import InputFile, commit, create_hashing, exists, is_local, join, read_bytes, read_head, write_bytes_atomic
from tailmine.ingest import records as r
from tailmine.ingest.config import IngestConfig
from tailmine.ingest.formats import SPLITTABLE, detect_format, reader_for
from tailmine.schemas.document import DOCUMENT_SCHEMA, QUARANTINE_SCHEMA
from tailmine.schemas.manifest import Counts, ShardInfo

STAGE = "ingest"
DOCS_DIR = "docs"
QUARANTINE_DIR = "quarantine"
WORK_DIR = "_work"
PARQUET_COMPRESSION = "zstd"
MIN_UNIT_BYTES = 1 << 20
UNITS_TARGET = 64


@dataclass(frozen=True)
class Slice:
    path: str
    size: int
    format: str
    start: int = 0
    end: Optional[int] = None  # exclusive; bytes for JSONL, row groups for Parquet; None = to the end
    weight: int = 0  # input bytes this slice stands for (for packing and progress)


@dataclass(frozen=True)
class WorkUnit:
    index: int
    slices: tuple[Slice, ...]

    @property
    def input_bytes(self) -> int:
        return sum(s.weight for s in self.slices)


def _is_compressed(path: str) -> bool:
    from tailmine.fileio import open_raw, sniff_compression

    with open_raw(path) as handle:
        return sniff_compression(handle.read(4)) is not None


def plan_units(files: Iterable[InputFile], cfg: IngestConfig) -> list[WorkUnit]:
    """Cut the inputs into units: pack small files, split large splittable ones. Deterministic."""
    from tailmine.ingest.parquet import row_groups

    files = sorted(files)
    # Units shrink with the input so small runs still use every core; this depends on the inputs and
    # config only (never on the machine), so the shards written are the same everywhere.
    unit_bytes = min(cfg.unit_bytes, max(MIN_UNIT_BYTES, sum(f.size for f in files) // UNITS_TARGET))
    slices: list[Slice] = []
    for f in files:
        fmt = cfg.format if cfg.format != "auto" else detect_format(f.path, read_head(f.path))
        if fmt in SPLITTABLE and f.size > unit_bytes:
            if fmt == "jsonl" and not _is_compressed(f.path):
                for start in range(0, f.size, unit_bytes):
                    end = min(start + unit_bytes, f.size)
                    slices.append(Slice(f.path, f.size, fmt, start, end if end < f.size else None, end - start))
                continue
            if fmt == "parquet":
                try:
                    groups = row_groups(f.path)
                except Exception:
                    groups = []
                if len(groups) > 1:
                    per_row = f.size / max(1, sum(groups))
                    start, acc = 0, 0.0
                    for i, rows in enumerate(groups):
                        acc += rows * per_row
                        if acc >= unit_bytes or i == len(groups) - 1:
                            slices.append(Slice(f.path, f.size, fmt, start, i + 1 if i + 1 < len(groups) else None, int(acc)))
                            start, acc = i + 1, 0.0
                    continue
        slices.append(Slice(f.path, f.size, fmt, weight=f.size))
    units: list[WorkUnit] = []
    current: list[Slice] = []
    weight = 0
    for s in slices:
        if current and (weight + s.weight > unit_bytes or len(current) >= 1000):
            units.append(WorkUnit(len(units), tuple(current)))
            current, weight = [], 0
        current.append(s)
        weight += s.weight
    if current:
        units.append(WorkUnit(len(units), tuple(current)))
    return units


class DocumentShardWriter:
    """Writes document rows to ``docs/part-UUUUU-KKK.parquet``, rolling shards at ``shard_bytes`` of text.

    Rows are buffered column-wise and flushed as a row group every ``row_group_bytes`` of text, so
    memory stays bounded by the row-group size whatever the input size.
    """

    def __init__(self, out_dir: str, unit: int, cfg: IngestConfig, schema: pa.Schema = DOCUMENT_SCHEMA, subdir: str = DOCS_DIR):
        self.out_dir, self.unit, self.cfg, self.schema, self.subdir = out_dir, unit, cfg, schema, subdir
        self.shards: list[ShardInfo] = []
        self._columns: dict[str, list] = {name: [] for name in schema.names}
        self._buffered_bytes = 0
        self._shard_bytes = 0
        self._shard_rows = 0
        self._writer: Optional[pq.ParquetWriter] = None
        self._sink = None
        self._name = ""

    def _open(self) -> None:
        self._name = f"{self.subdir}/part-{self.unit:05d}-{len(self.shards):03d}.parquet"
        self._sink = create_hashing(join(self.out_dir, self.subdir, f".tmp-{self._name.rsplit('/', 1)[1]}"))
        self._writer = pq.ParquetWriter(
            pa.PythonFile(self._sink, mode="w"), self.schema, compression=PARQUET_COMPRESSION, write_statistics=False
        )

    def add(self, row: dict, size: int) -> None:
        for name, column in self._columns.items():
            column.append(row.get(name))
        self._buffered_bytes += size
        self._shard_bytes += size
        self._shard_rows += 1
        if self._buffered_bytes >= self.cfg.row_group_bytes:
            self._flush()
        if self._shard_bytes >= self.cfg.shard_bytes:
            self._close_shard()

    def _flush(self) -> None:
        if not self._columns[self.schema.names[0]]:
            return
        if self._writer is None:
            self._open()
        batch = pa.RecordBatch.from_pydict(self._columns, schema=self.schema)
        self._writer.write_batch(batch)
        self._columns = {name: [] for name in self.schema.names}
        self._buffered_bytes = 0

    def _close_shard(self) -> None:
        self._flush()
        if self._writer is None:
            return
        self._writer.close()
        self._sink.close()
        final = join(self.out_dir, self._name)
        commit(join(self.out_dir, self.subdir, f".tmp-{self._name.rsplit('/', 1)[1]}"), final)
        self.shards.append(ShardInfo(self._name, self._shard_rows, self._sink.bytes, self._sink.sha256.hexdigest()))
        self._writer, self._sink = None, None
        self._shard_bytes = 0
        self._shard_rows = 0

    def close(self) -> list[ShardInfo]:
        self._close_shard()
        return self.shards


class QuarantineWriter(DocumentShardWriter):
    def __init__(self, out_dir: str, unit: int, cfg: IngestConfig):
        super().__init__(out_dir, unit, cfg, QUARANTINE_SCHEMA, QUARANTINE_DIR)


def unit_summary_path(out_dir: str, unit: int) -> str:
    return join(out_dir, WORK_DIR, f"unit-{unit:05d}.json")


def run_unit(unit: WorkUnit, cfg: IngestConfig, out_dir: str, extractor=None) -> dict:
    """Ingest one unit and return its summary (counts, shards, files, timing).

    If a summary for this unit and config fingerprint already exists (a resumed run), it is returned
    without redoing the work.
    """
    summary_path = unit_summary_path(out_dir, unit.index)
    fingerprint = cfg.fingerprint()
    if exists(summary_path):
        previous = json.loads(read_bytes(summary_path))
        if previous.get("fingerprint") == fingerprint and previous.get("slices") == [asdict(s) for s in unit.slices]:
            return previous
    if extractor is None:
        from tailmine.ingest.extract import get_extractor

        extractor = get_extractor(cfg.extractor)
    started = time.perf_counter()
    counts = Counts()
    docs = DocumentShardWriter(out_dir, unit.index, cfg)
    quarantine = QuarantineWriter(out_dir, unit.index, cfg)
    for piece in unit.slices:
        for outcome in _outcomes(piece, cfg, extractor):
            counts.input += 1
            if isinstance(outcome, r.Reject):
                if outcome.action == r.QUARANTINED:
                    counts.quarantine(outcome.reason)
                    row = {
                        "source_file": piece.path,
                        "source_record": outcome.record,
                        "source_offset": outcome.offset,
                        "stage": STAGE,
                        "reason": outcome.reason,
                        "detail": outcome.detail,
                        "snippet": outcome.snippet,
                    }
                    quarantine.add(row, len(outcome.snippet) + len(outcome.detail) + 64)
                else:
                    counts.drop(outcome.reason)
                continue
            outcome["source_file"] = piece.path
            counts.output += 1
            docs.add(outcome, len(outcome["text"]))
    summary = {
        "unit": unit.index,
        "fingerprint": fingerprint,
        "slices": [asdict(s) for s in unit.slices],
        "input_bytes": unit.input_bytes,
        "seconds": round(time.perf_counter() - started, 3),
        "outputs": [asdict(s) for s in docs.close()],
        "quarantine": [asdict(s) for s in quarantine.close()],
        "counts": counts.to_dict(),
    }
    counts.check_balanced(f"unit {unit.index}")
    write_bytes_atomic(summary_path, json.dumps(summary, sort_keys=True).encode())
    return summary


def _outcomes(piece: Slice, cfg: IngestConfig, extractor):
    """Every outcome of one slice, after the checks common to all formats (empty text, size cap)."""
    if piece.format == "unknown":
        snippet = read_head(piece.path, r.SNIPPET_BYTES)
        yield r.quarantine(r.UNKNOWN_FORMAT, None, None, "format not recognised; force one with --format", snippet)
        return
    reader = reader_for(piece.format)
    try:
        if piece.format in SPLITTABLE:
            stream = reader(piece.path, cfg, extractor, start=piece.start, end=piece.end)
        else:
            stream = reader(piece.path, cfg, extractor)
        for outcome in stream:
            if isinstance(outcome, r.Reject):
                yield outcome
                continue
            text = outcome["text"].strip()
            if not text:
                yield r.drop(r.EMPTY_TEXT, outcome["source_record"], outcome["source_offset"], "no text after extraction")
                continue
            try:
                encoded_bytes = len(text.encode("utf-8"))
            except UnicodeEncodeError as exc:  # lone surrogates, e.g. from a JSON "\ud800" escape
                yield r.quarantine(r.UNDECODABLE_BYTES, outcome["source_record"], outcome["source_offset"], f"not encodable as UTF-8: {exc}")
                continue
            if encoded_bytes > cfg.max_doc_bytes:
                yield r.drop(r.DOCUMENT_TOO_LARGE, outcome["source_record"], outcome["source_offset"], "text over max_doc_bytes")
                continue
            for key in ("title", "url", "metadata", "id"):
                if outcome.get(key) is not None:
                    outcome[key] = _utf8_safe(outcome[key])
            outcome["text"] = text
            yield outcome
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        yield r.quarantine(r.UNREADABLE_FILE, None, None, str(exc))


def _utf8_safe(value: str) -> str:
    """Short string fields with lone surrogates get U+FFFD instead (Arrow strings must be UTF-8)."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
