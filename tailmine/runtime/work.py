"""Units of work and resume: one implementation each, used by every stage.

A unit of work writes its outputs itself (atomically) and leaves a small JSON record in
``OUT/_work/``; a rerun with ``--resume`` reuses every record whose fingerprint (config + unit)
matches, so an interrupted stage finishes without redoing work.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable, Optional

from tailmine.errors import ManifestError, OutputExistsError
from tailmine.fileio import delete_tree, exists, join, read_bytes, write_bytes_atomic
from tailmine.schemas.manifest import MANIFEST_NAME, Manifest, ShardInfo, read_manifest

DOCS_DIR = "docs"
QUARANTINE_DIR = "quarantine"
REMOVED_DIR = "removed"
WORK_DIR = "_work"
DROP_SAMPLES_DIR = "drop-samples"
STAGE_SUBDIRS = (DOCS_DIR, QUARANTINE_DIR, REMOVED_DIR, DROP_SAMPLES_DIR, WORK_DIR)


def prepare_output(out_dir: str, force: bool, resume: bool, subdirs: Iterable[str] = STAGE_SUBDIRS) -> None:
    """Refuse to overwrite earlier output unless ``force``; ``resume`` keeps finished units."""
    if resume:
        return
    subdirs = tuple(subdirs)
    occupied = exists(join(out_dir, MANIFEST_NAME)) or any(exists(join(out_dir, d)) for d in subdirs)
    if occupied and not force:
        raise OutputExistsError(
            f"{out_dir} already holds tailmine output; pass --force to replace it or --resume to finish an interrupted run"
        )
    if occupied:
        for sub in subdirs:
            delete_tree(join(out_dir, sub))
        delete_tree(join(out_dir, MANIFEST_NAME))


@dataclass(frozen=True)
class ShardTask:
    """One input shard as a unit of work: its position (the unit number, which names its outputs)."""

    unit: int
    path: str  # absolute path of the input shard
    rows: int
    bytes: int


def shard_tasks(in_dir: str, shards: Iterable[ShardInfo], first: int = 0) -> list[ShardTask]:
    """One task per document shard of the stage in ``in_dir``, numbered from ``first`` in manifest order."""
    return [ShardTask(first + i, join(in_dir, s.path), s.rows, s.bytes) for i, s in enumerate(shards)]


def stage_shards(in_dir: str) -> tuple[Manifest, list[ShardInfo]]:
    """The manifest of a finished stage and its document shards; a clear error if it did not finish."""
    try:
        manifest = read_manifest(in_dir)
    except ManifestError as exc:
        raise ManifestError(f"{exc}. Is {in_dir} the output folder of a finished tailmine stage?") from exc
    return manifest, list(manifest.outputs)


def load_done(path: str, fingerprint: str) -> Optional[dict]:
    """The JSON record a finished piece of work left at ``path``, if it was made with ``fingerprint``
    (``None`` when it is absent or from other parameters: the work is done again)."""
    if not exists(path):
        return None
    record = json.loads(read_bytes(path))
    return record if record.get("fingerprint") == fingerprint else None


def save_done(path: str, record: dict) -> None:
    """Write a finished piece of work's record (holding its ``fingerprint``) atomically."""
    write_bytes_atomic(path, json.dumps(record, sort_keys=True).encode())


def unit_summary_path(out_dir: str, unit: int) -> str:
    return join(out_dir, WORK_DIR, f"unit-{unit:05d}.json")


def finished_summary(out_dir: str, unit: int, fingerprint: str) -> Optional[dict]:
    """The summary a previous run left for this unit, if it was made with the same fingerprint."""
    return load_done(unit_summary_path(out_dir, unit), fingerprint)


def save_summary(out_dir: str, summary: dict) -> None:
    save_done(unit_summary_path(out_dir, summary["unit"]), summary)
