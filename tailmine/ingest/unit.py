"""Units of ingest work: planning them, and running one from input bytes to committed shards.

A unit is a list of file slices (whole files, byte ranges of uncompressed JSONL, row-group ranges of
Parquet) of about ``unit_bytes`` input. Running a unit streams its records through the readers and
writes its own shards ``docs/part-UUUUU-KKK.parquet`` and ``quarantine/part-UUUUU.parquet``: records
are written in input order, so the bytes depend only on inputs and config (deterministic), and files
are written under a temporary name and renamed, so a retried or resumed unit rewrites the same bytes.
Only a small summary per unit travels through Beam; documents never cross a shuffle in this stage.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Iterable, Optional

from tailmine.fileio import InputFile, open_raw, printable_path, read_head
from tailmine.ingest import records as r
from tailmine.ingest.config import IngestConfig
from tailmine.ingest.formats import SPLITTABLE, detect_format, reader_for
from tailmine.runtime import DOCS_DIR, DROP_SAMPLES_DIR, QUARANTINE_DIR, finished_summary, save_summary
from tailmine.schemas.document import DOCUMENT_SCHEMA, QUARANTINE_SCHEMA
from tailmine.schemas.manifest import Counts
from tailmine.schemas.shards import ShardWriter

STAGE = "ingest"
DROP_SAMPLES_PER_REASON = 3
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
    problem: str = ""  # quarantine reason of an input that cannot be read (see InputFile.problem)
    detail: str = ""


@dataclass(frozen=True)
class WorkUnit:
    index: int
    slices: tuple[Slice, ...]

    @property
    def input_bytes(self) -> int:
        return sum(s.weight for s in self.slices)


def _is_compressed(path: str) -> bool:
    from tailmine.fileio import open_raw, sniff_compression

    try:
        with open_raw(path) as handle:
            return sniff_compression(handle.read(4)) is not None
    except OSError:  # unreadable: the reader quarantines it as a whole
        return False


def plan_units(files: Iterable[InputFile], cfg: IngestConfig) -> list[WorkUnit]:
    """Cut the inputs into units: pack small files, split large splittable ones. Deterministic."""
    from tailmine.ingest.parquet import row_groups

    files = sorted(files)
    # Units shrink with the input so small runs still use every core; this depends on the inputs and
    # config only (never on the machine), so the shards written are the same everywhere.
    unit_bytes = min(cfg.unit_bytes, max(MIN_UNIT_BYTES, sum(f.size for f in files) // UNITS_TARGET))
    slices: list[Slice] = []
    for f in files:
        if f.problem:
            slices.append(Slice(f.path, f.size, "unreadable", problem=f.problem, detail=f.detail))
            continue
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


def _document_writer(out_dir: str, unit: int, cfg: IngestConfig) -> ShardWriter:
    return ShardWriter(out_dir, DOCS_DIR, f"part-{unit:05d}", DOCUMENT_SCHEMA, cfg.shard_bytes, cfg.row_group_bytes)


def _quarantine_writer(out_dir: str, unit: int, cfg: IngestConfig) -> ShardWriter:
    return ShardWriter(out_dir, QUARANTINE_DIR, f"part-{unit:05d}", QUARANTINE_SCHEMA, cfg.shard_bytes, cfg.row_group_bytes)


def run_unit(unit: WorkUnit, cfg: IngestConfig, out_dir: str, extractor=None) -> dict:
    """Ingest one unit and return its summary (counts, shards, files, timing).

    If a summary for this unit and config fingerprint already exists (a resumed run), it is returned
    without redoing the work.
    """
    fingerprint = cfg.fingerprint()
    previous = finished_summary(out_dir, unit.index, fingerprint)
    if previous is not None and previous.get("slices") == _slice_records(unit):
        return previous
    if extractor is None:
        from tailmine.ingest.extract import get_extractor

        extractor = get_extractor(cfg.extractor)
    started = time.perf_counter()
    counts = Counts()
    output_chars = text_bytes = 0
    docs = _document_writer(out_dir, unit.index, cfg)
    quarantine = _quarantine_writer(out_dir, unit.index, cfg)
    samples = ShardWriter(out_dir, DROP_SAMPLES_DIR, f"part-{unit.index:05d}", QUARANTINE_SCHEMA, cfg.shard_bytes, cfg.row_group_bytes, numbered=False)
    samples_kept: dict[str, int] = {}
    for piece in unit.slices:
        source_file = printable_path(piece.path)  # Parquet strings are UTF-8: a non-UTF-8 name is escaped
        for outcome in _outcomes(piece, cfg, extractor):
            counts.input += 1
            if isinstance(outcome, r.Reject):
                if outcome.action == r.QUARANTINED:
                    counts.quarantine(outcome.reason)
                    quarantine.add(_reject_row(piece.path, outcome), len(outcome.snippet) + len(outcome.detail) + 64)
                else:
                    counts.drop(outcome.reason)
                    if samples_kept.get(outcome.reason, 0) < DROP_SAMPLES_PER_REASON:
                        # a few examples per drop reason, so a report can show what was dropped
                        samples_kept[outcome.reason] = samples_kept.get(outcome.reason, 0) + 1
                        samples.add(_reject_row(piece.path, outcome), len(outcome.snippet) + len(outcome.detail) + 64)
                continue
            outcome["source_file"] = source_file
            counts.output += 1
            output_chars += len(outcome["text"])
            text = outcome["text"]
            text_bytes += len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))  # the dedup plan's input
            docs.add(outcome, len(outcome["text"]))
    summary = {
        "unit": unit.index,
        "fingerprint": fingerprint,
        "slices": _slice_records(unit),
        "input_bytes": unit.input_bytes,
        "seconds": round(time.perf_counter() - started, 3),
        "outputs": [asdict(s) for s in docs.close()],
        "quarantine": [asdict(s) for s in quarantine.close()],
        "drop_samples": [asdict(s) for s in samples.close()],
        "counts": counts.to_dict(),
        "output_chars": output_chars,
        "text_bytes": text_bytes,
    }
    counts.check_balanced(f"unit {unit.index}")
    save_summary(out_dir, summary)
    return summary


def _slice_records(unit: WorkUnit) -> list[dict]:
    """The unit's slices for its summary, which Beam encodes as UTF-8: non-UTF-8 names escaped."""
    return [{**asdict(s), "path": printable_path(s.path)} for s in unit.slices]


def _reject_row(path: str, outcome: r.Reject) -> dict:
    return {
        "source_file": printable_path(path),
        "source_record": outcome.record,
        "source_offset": outcome.offset,
        "stage": STAGE,
        "reason": outcome.reason,
        "detail": outcome.detail,
        "snippet": outcome.snippet,
    }


def _outcomes(piece: Slice, cfg: IngestConfig, extractor):
    """Every outcome of one slice, after the checks common to all formats (empty text, size cap)."""
    if piece.problem:
        yield r.quarantine(piece.problem, None, None, piece.detail)
        return
    try:  # one open before any reader: a file that cannot be opened is unreadable, not corrupt
        open_raw(piece.path).close()
    except OSError as exc:
        yield r.quarantine(r.UNREADABLE_FILE, None, None, f"cannot open: {exc.strerror or exc}")
        return
    if piece.format == "unknown":
        head = read_head(piece.path, 512)
        hint = "a tar archive: unpack it and ingest the folder" if head[257:262] == b"ustar" else "force one with --format"
        yield r.quarantine(r.UNKNOWN_FORMAT, None, None, f"format not recognised; {hint}", head[: r.SNIPPET_BYTES])
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
            # UTF-8 takes at most 4 bytes a character: encode only when the cap might be crossed.
            if len(text) * 4 > cfg.max_doc_bytes and len(text.encode("utf-8")) > cfg.max_doc_bytes:
                yield r.drop(r.DOCUMENT_TOO_LARGE, outcome["source_record"], outcome["source_offset"], "text over max_doc_bytes")
                continue
            for key in ("title", "url", "id", "metadata"):  # short fields: cheap to check, and header bytes can be anything
                value = outcome.get(key)
                if value is not None and not value.isascii():
                    outcome[key] = value.encode("utf-8", "replace").decode("utf-8")
            outcome["text"] = text
            yield outcome
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        yield r.quarantine(r.UNREADABLE_FILE, None, None, str(exc))

