"""What the dedup stage learns from its input before any work: the plan (from the input manifest's
measured ``text_bytes`` and an earlier run's duplicate rate) and the quality column that ranks survivors."""
from __future__ import annotations

import logging
from typing import Optional

import pyarrow as pa
import pyarrow.parquet as pq

from tailmine.dedup.config import DedupConfig
from tailmine.dedup.planner import DedupPlan, plan
from tailmine.dedup.work import STAGE
from tailmine.fileio import exists, join, open_raw
from tailmine.runtime import ShardTask as Unit
from tailmine.runtime import shard_tasks, stage_shards
from tailmine.schemas.manifest import read_manifest

log = logging.getLogger("tailmine.dedup")


def quality_column_of(schema: pa.Schema, cfg: DedupConfig, where: str) -> Optional[str]:
    """The column that ranks survivors: ``cfg.quality_column`` (an error naming ``where`` when ``schema``
    lacks it), none for ``none``, and for ``auto`` the first ``quality_*`` number column by name."""
    if cfg.quality_column == "none":
        return None
    if cfg.quality_column != "auto":
        from tailmine.errors import ConfigError

        if cfg.quality_column not in schema.names:
            raise ConfigError(f"quality_column: {cfg.quality_column!r} is not a column of {where}")
        return cfg.quality_column
    numeric = [f.name for f in schema if f.name.startswith("quality_") and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))]
    return sorted(numeric)[0] if numeric else None


def detect_quality_column(cfg: DedupConfig, in_dir: str, first_shard: Optional[str]) -> Optional[str]:
    if cfg.quality_column == "none" or first_shard is None:
        return None
    with open_raw(first_shard) as handle:
        return quality_column_of(pq.ParquetFile(handle).schema_arrow, cfg, first_shard)


def observed_dup_fraction(out_dir: Optional[str], in_dir: str) -> Optional[float]:
    """Share of documents that had a duplicate in the finished dedup run in ``out_dir`` over the same
    input (``clustered_documents / input``), or None when there is no such run to learn from."""
    if not out_dir or not exists(join(out_dir, "manifest.json")):
        return None
    try:
        earlier = read_manifest(out_dir)
    except Exception as exc:  # an unreadable earlier output only means the rate is unknown
        log.warning("%s: no duplicate rate learnt from the earlier run (%s)", out_dir, exc)
        return None
    _, shards = stage_shards(in_dir)
    shape = lambda path, rows, size: (str(path).rsplit("/", 1)[-1], int(rows), int(size))
    same_input = [shape(i.get("path", ""), i.get("rows", -1), i.get("bytes", -1)) for i in earlier.inputs] == [shape(s.path, s.rows, s.bytes) for s in shards]
    if earlier.stage != STAGE or not same_input or not earlier.counts.input:
        return None
    return int(earlier.extra.get("clustered_documents", 0)) / earlier.counts.input


def make_plan(in_dir: str, cfg: DedupConfig, out_dir: Optional[str] = None) -> tuple[DedupPlan, list[Unit]]:
    """The plan and the units; with ``out_dir``, the memory figures use the duplicate rate an earlier
    run there observed (see :func:`observed_dup_fraction`)."""
    manifest, shards = stage_shards(in_dir)
    units = shard_tasks(in_dir, shards)
    text_bytes = int(manifest.extra.get("text_bytes", 0)) if manifest.extra else 0
    if not text_bytes:
        text_bytes = sum(s.bytes for s in shards) * 3  # Parquet shards are zstd text: about 1/3 of the raw size
    observed = observed_dup_fraction(out_dir, in_dir)
    return plan(sum(u.rows for u in units), text_bytes, [u.rows for u in units], cfg, sum(s.bytes for s in shards), observed), units
