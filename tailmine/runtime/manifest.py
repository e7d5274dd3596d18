"""The stage manifest from unit summaries: counts merged, shards listed in unit order."""
from __future__ import annotations

import posixpath
from typing import Iterable, Optional

import tailmine
from tailmine.errors import ManifestError
from tailmine.fileio import join, list_files
from tailmine.schemas.document import DOCUMENT_SCHEMA_VERSION
from tailmine.schemas.manifest import MANIFEST_NAME, Counts, Manifest, ShardInfo


def fold_summaries(
    stage: str, summaries: Iterable[dict], parameters: dict, inputs: list[dict], extra: Optional[dict] = None
) -> Manifest:
    """The stage manifest from unit summaries (each with counts, outputs and optional quarantine/removed)."""
    summaries = sorted(summaries, key=lambda s: s["unit"])
    counts = Counts()
    for s in summaries:
        counts = counts.merge(Counts.from_dict(s["counts"]))
    return Manifest(
        stage=stage,
        tailmine_version=tailmine.__version__,
        schema_version=DOCUMENT_SCHEMA_VERSION,
        parameters=parameters,
        inputs=inputs,
        outputs=[ShardInfo(**o) for s in summaries for o in s["outputs"]],
        quarantine=[ShardInfo(**q) for s in summaries for q in s.get("quarantine", [])],
        removed=[ShardInfo(**q) for s in summaries for q in s.get("removed", [])],
        counts=counts,
        extra={"units": len(summaries), **_output_text(summaries), **_drop_samples(summaries), **(extra or {})},
    )


def _output_text(summaries: list[dict]) -> dict:
    """Characters (for token estimates before `mix`) and UTF-8 bytes (for the dedup plan) of the text
    written, each when every unit reported it (a unit resumed from an older run may not have)."""
    return {key: sum(s[key] for s in summaries) for key in ("output_chars", "text_bytes") if summaries and all(key in s for s in summaries)}


def _drop_samples(summaries: list[dict]) -> dict:
    """Shards of example records for reasons whose records are not kept (a few per reason per unit)."""
    shards = [s for summary in summaries for s in summary.get("drop_samples", [])]
    return {"drop_samples": shards} if shards else {}


def check_shards_exist(out_dir: str, manifest: Manifest) -> None:
    """Raise :class:`ManifestError` instead of writing a manifest that lists a shard which is not there.

    The folder lock (:mod:`tailmine.lock`) keeps a second run from deleting shards under a running one;
    this is the last guard (a folder edited by hand, a lock deleted by hand). One listing per shard
    folder, not one request per shard, so it stays cheap on object stores.
    """
    listed = [s.path for s in (*manifest.outputs, *manifest.quarantine, *manifest.removed)]
    present: set[str] = set()
    for folder in sorted({posixpath.dirname(p) for p in listed}):
        present.update(f.path for f in list_files(join(out_dir, folder) if folder else out_dir))
    missing = [p for p in listed if join(out_dir, p) not in present]
    if missing:
        raise ManifestError(
            f"{join(out_dir, MANIFEST_NAME)}: not written: {len(missing)} shard(s) it would list are missing "
            f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); did another run write into {out_dir}?"
        )
