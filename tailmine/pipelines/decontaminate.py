"""The decontaminate stage: drop (or excise from) documents that contain evaluation items.

Run it::

    tailmine decontaminate --in out/filter --eval gsm8k-test.jsonl.gz mmlu/test/ --out out/decontam

or as the ``decontaminate`` section of a ``tailmine run`` config (``eval: [...]`` lists the files).
The eval index (see :mod:`tailmine.filters.decontam`) is built once on the driver and travels to the
workers pickled inside the step, Beam's way of broadcasting a small read-only object. Each document
gets ``decontam_matches_v1`` (JSON list of {item, overlap, action, tokens_removed}, null when clean).
By default (``action=auto``) the matched spans are cut out of documents of at least ``excise_min_words``
words (2,000) and shorter documents are removed with reason ``contaminated``: one GSM8K question inside
a book costs the question, not the book. ``action=drop`` removes every contaminated document,
``action=excise`` cuts the spans from every one (a document left with no words is dropped).
``DIR/contamination.parquet`` lists every (document id, eval file, item index, item id, overlap, kept,
action, tokens removed) and the manifest's ``extra.decontamination`` holds per eval set (an eval file or
archive): items, items skipped as too short, items found, documents affected (excised + dropped) and
tokens removed (normalised words, the unit matching counts in; all of a dropped document's).
``extra.eval_files_skipped`` notes every file of an eval folder or archive that was not read (README,
LICENSE, formats that are not eval files).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
from dataclasses import replace
from typing import Optional

import pyarrow as pa
import pyarrow.parquet as pq

from tailmine.errors import ConfigError
from tailmine.fileio import join, open_raw, readable_inputs, write_bytes_atomic
from tailmine.filters.decontam import DecontamConfig, EvalIndex, Match, document_words, excise, read_eval_items, skip_reason
from tailmine.pipelines.stage import run_map_stage
from tailmine.runtime import ShardStep
from tailmine.schemas.manifest import Manifest

STAGE = "decontaminate"
REASON = "contaminated"
MATCH_COLUMN = "decontam_matches_v1"
CONTAMINATION_FILE = "contamination.parquet"
CONTAMINATION_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("eval_file", pa.string()),
        ("item_index", pa.int64()),
        ("item_id", pa.string()),
        ("overlap", pa.float64()),
        ("kept", pa.bool_()),
        ("action", pa.string()),
        ("tokens_removed", pa.int64()),
    ]
)


class DecontamStep(ShardStep):
    name = STAGE

    def __init__(self, index: EvalIndex, eval_digests: dict[str, str]):
        self.index, self.eval_digests = index, eval_digests

    def parameters(self) -> dict:
        # file digests make --resume and the runner's fingerprints notice edited eval files
        return {**self.index.cfg.to_dict(), "eval_sha256": self.eval_digests, "eval_items": len(self.index.items)}

    def annotate(self, table: pa.Table) -> pa.Table:
        out_texts, column = [], []
        changed = False
        for text in table.column("text").to_pylist():
            matches = self.index.match(text)
            entries = None
            if matches:
                text, entries = self.treat(text, matches)
                changed = changed or any(e["action"] == "excise" for e in entries)
            column.append(json.dumps(entries) if entries else None)
            out_texts.append(text)
        if changed:
            i = table.schema.get_field_index("text")
            table = table.set_column(i, table.schema.field("text"), pa.array(out_texts, pa.string()))
        values = pa.array(column, pa.string())
        if MATCH_COLUMN in table.column_names:  # decontaminating a decontaminated stage again
            return table.set_column(table.schema.get_field_index(MATCH_COLUMN), MATCH_COLUMN, values)
        return table.append_column(MATCH_COLUMN, values)

    def treat(self, text: str, matches: list[Match]) -> tuple[str, list[dict]]:
        """The document after its action (``excise`` or ``drop``, per :attr:`DecontamConfig.action`) and
        one entry per item found; ``tokens_removed`` is what the item's eval set took from the document
        (the words of that set's merged spans, or all the words of a dropped document)."""
        cfg = self.index.cfg
        words = len(document_words(text))
        action = "excise" if cfg.action == "excise" or (cfg.action == "auto" and words >= cfg.excise_min_words) else "drop"
        by_set: dict[str, list[tuple[int, int]]] = {}
        for m in matches:
            by_set.setdefault(self.index.items[m.item].eval_set, []).extend(m.spans)
        if action == "excise":
            removed = {name: words - len(document_words(excise(text, spans))) for name, spans in by_set.items()}
            text = excise(text, [s for m in matches for s in m.spans])
        else:
            removed = dict.fromkeys(by_set, words)
        entries = [{"item": m.item, "overlap": round(m.overlap, 4), "action": action,
                    "tokens_removed": removed[self.index.items[m.item].eval_set]} for m in matches]
        return text, entries

    def decide(self, table: pa.Table) -> list[Optional[str]]:
        found = table.column(MATCH_COLUMN).to_pylist()
        texts = table.column("text").to_pylist()
        reasons: list[Optional[str]] = []
        for entries, text in zip(found, texts):
            first = json.loads(entries)[0] if entries else None
            if first is None:
                reasons.append(None)
            elif first.get("action", "drop") == "drop" or not document_words(text):
                reasons.append(REASON)
            else:
                reasons.append(None)
        return reasons


def load_index(cfg: DecontamConfig, notes: Optional[list[str]] = None) -> tuple[EvalIndex, list[str], dict[str, str]]:
    """The eval index of ``cfg.eval``, the eval sets read (files and archives) and their SHA-256.

    A file named on its own must be an eval file or an archive of them (an error otherwise); inside a
    folder or glob, README/LICENSE-like files and other formats are skipped with a line in ``notes``.
    """
    if not cfg.eval:
        raise ConfigError("eval: at least one evaluation file is required (--eval FILE...)")
    paths = []
    for pattern in cfg.eval:
        matched = [f.path for f in readable_inputs([pattern])]
        if len(matched) == 1 and matched[0] == pattern:
            paths.append(pattern)  # named on its own: read, or an error naming it
            continue
        for path in matched:
            reason = skip_reason(path)
            if reason:
                if notes is not None:
                    notes.append(f"{path}: skipped: {reason}")
            else:
                paths.append(path)
    paths = sorted(set(paths))
    digests = {}
    for path in paths:
        with open_raw(path) as handle:
            digests[path] = hashlib.sha256(handle.read()).hexdigest()
    items = [item for path in paths for item in read_eval_items(path, cfg, notes)]
    return EvalIndex(items, cfg), paths, digests


def run(
    in_dir: str,
    eval_files: Optional[list[str]],
    out_dir: str,
    cfg: Optional[DecontamConfig] = None,
    beam_args: Optional[list[str]] = None,
    force: bool = False,
    resume: bool = False,
    progress: bool = True,
) -> Manifest:
    """Run the stage over the finished stage in ``in_dir``; ``eval_files`` (if given) replace ``cfg.eval``."""
    cfg = cfg or DecontamConfig()
    if eval_files:
        cfg = replace(cfg, eval=tuple(eval_files))
    notes: list[str] = []
    index, paths, digests = load_index(cfg, notes)
    for note in notes:
        logging.getLogger(__name__).warning("decontaminate: %s", note)
    manifest = run_map_stage(DecontamStep(index, digests), in_dir, out_dir, beam_args, force=force, resume=resume, progress=progress)
    return write_contamination(manifest, index, paths, out_dir, notes)


def run_from_config(source: str, out_dir: str, cfg: DecontamConfig, beam_args=None, force: bool = False, resume: bool = False,
                    progress: bool = True) -> Manifest:
    """The registry's entry for the stage (:data:`tailmine.stages.STAGES`): eval files come from ``cfg.eval``."""
    return run(source, None, out_dir, cfg, beam_args, force=force, resume=resume, progress=progress)


def write_contamination(manifest: Manifest, index: EvalIndex, paths: list[str], out_dir: str, notes: Optional[list[str]] = None) -> Manifest:
    """``contamination.parquet`` and the per-eval-set summary, from the match column of kept and
    removed rows; the manifest is rewritten with the summary in ``extra``."""
    items = index.items
    rows = []
    for shard, kept in [*((s, True) for s in manifest.outputs), *((s, False) for s in manifest.removed)]:
        table = pq.read_table(join(out_dir, shard.path), columns=["id", MATCH_COLUMN])
        for doc_id, found in zip(table.column("id").to_pylist(), table.column(MATCH_COLUMN).to_pylist()):
            for m in json.loads(found) if found else []:
                item = items[m["item"]]
                rows.append((doc_id, item.eval_file, item.index, item.item_id, m["overlap"], kept,
                             m.get("action", "drop"), m.get("tokens_removed", 0), item.eval_set))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    names = CONTAMINATION_SCHEMA.names
    table = pa.Table.from_pylist([dict(zip(names, r)) for r in rows], schema=CONTAMINATION_SCHEMA)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    write_bytes_atomic(join(out_dir, CONTAMINATION_FILE), sink.getvalue().to_pybytes())
    summary = {}
    for path in paths:
        mine = [r for r in rows if r[8] == path]
        per_doc = {(r[0], r[6]): r[7] for r in mine}  # one document's loss to this eval set, once
        summary[path] = {
            "items": sum(1 for it in items if it.eval_set == path),
            "items_too_short": index.skipped.get(path, 0),
            "items_found": len({(r[1], r[2]) for r in mine}),
            "documents_affected": len({r[0] for r in mine}),
            "documents_excised": sum(1 for _, action in per_doc if action == "excise"),
            "documents_dropped": sum(1 for _, action in per_doc if action == "drop"),
            "tokens_removed": sum(per_doc.values()),
        }
    manifest.extra = {
        **manifest.extra,
        "decontamination": summary,
        "documents_affected": len({r[0] for r in rows}),
        "contamination_file": CONTAMINATION_FILE,
        "eval_files_skipped": list(notes or []),
    }
    manifest.write(out_dir)
    return manifest


# --- command line: `tailmine decontaminate` ------------------------------------------------------


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    from tailmine.stages import STAGES, run_stage_command

    manifest = run_stage_command(STAGES[STAGE], args, beam_args)
    for path, s in manifest.extra["decontamination"].items():
        print(f"  {path}: {s['items_found']:,}/{s['items']:,} items found in {s['documents_affected']:,} documents"
              f" ({s['documents_excised']:,} excised, {s['documents_dropped']:,} dropped), {s['tokens_removed']:,} tokens removed"
              f" ({s['items_too_short']:,} items too short to index)")
    for note in manifest.extra.get("eval_files_skipped", []):
        print(f"  note: {note}")
    return 0
