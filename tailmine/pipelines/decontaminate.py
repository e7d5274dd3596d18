"""The decontaminate stage: drop (or excise from) documents that contain evaluation items.

Run it::

    tailmine decontaminate --in out/filter --eval gsm8k-test.jsonl.gz mmlu/test/ --out out/decontam

or as the ``decontaminate`` section of a ``tailmine run`` config (``eval: [...]`` lists the files).
The eval index (see :mod:`tailmine.filters.decontam`) is built once on the driver and travels to the
workers pickled inside the step, Beam's way of broadcasting a small read-only object. Each document
gets ``decontam_matches_v1`` (JSON list of {item, overlap}, null when clean); with ``action=drop`` a
contaminated document is removed with reason ``contaminated``, with ``action=excise`` the matched
spans are cut out (a document left with no words is dropped, reason ``contaminated``).
``DIR/contamination.parquet`` lists every (document id, eval file, item index, item id, overlap, kept)
and the manifest's ``extra.decontamination`` holds per eval file: items, items skipped as too short,
items found, documents affected.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import fields, replace
from typing import Optional

import pyarrow as pa
import pyarrow.parquet as pq

from tailmine.errors import ConfigError
from tailmine.fileio import join, open_raw, readable_inputs, write_bytes_atomic
from tailmine.filters.decontam import DecontamConfig, EvalIndex, document_words, excise, read_eval_items
from tailmine.pipelines.stage import ShardStep, run_map_stage
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
        excising = self.index.cfg.action == "excise"
        out_texts, column = [], []
        for text in table.column("text").to_pylist():
            matches = self.index.match(text)
            column.append(json.dumps([{"item": m.item, "overlap": round(m.overlap, 4)} for m in matches]) if matches else None)
            if matches and excising:
                text = excise(text, [s for m in matches for s in m.spans])
            out_texts.append(text)
        if excising:
            i = table.schema.get_field_index("text")
            table = table.set_column(i, table.schema.field("text"), pa.array(out_texts, pa.string()))
        values = pa.array(column, pa.string())
        if MATCH_COLUMN in table.column_names:  # decontaminating a decontaminated stage again
            return table.set_column(table.schema.get_field_index(MATCH_COLUMN), MATCH_COLUMN, values)
        return table.append_column(MATCH_COLUMN, values)

    def decide(self, table: pa.Table) -> list[Optional[str]]:
        found = table.column(MATCH_COLUMN).to_pylist()
        if self.index.cfg.action == "drop":
            return [None if m is None else REASON for m in found]
        texts = table.column("text").to_pylist()
        return [REASON if m is not None and not document_words(t) else None for m, t in zip(found, texts)]


def load_index(cfg: DecontamConfig) -> tuple[EvalIndex, list[str], dict[str, str]]:
    """The eval index of ``cfg.eval`` (files, globs or folders), the file list and their SHA-256."""
    if not cfg.eval:
        raise ConfigError("eval: at least one evaluation file is required (--eval FILE...)")
    paths = [f.path for f in readable_inputs(cfg.eval)]
    digests = {}
    for path in paths:
        with open_raw(path) as handle:
            digests[path] = hashlib.sha256(handle.read()).hexdigest()
    items = [item for path in paths for item in read_eval_items(path, cfg)]
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
    index, paths, digests = load_index(cfg)
    manifest = run_map_stage(DecontamStep(index, digests), in_dir, out_dir, beam_args, force=force, resume=resume, progress=progress)
    return write_contamination(manifest, index, paths, out_dir)


def run_from_config(cfg: DecontamConfig, source: str, out_dir: str, beam_args, force: bool, resume: bool) -> Manifest:
    """The pipeline runner's entry (``StageSpec("decontaminate", DecontamConfig, run_from_config)``)."""
    return run(source, None, out_dir, cfg, beam_args, force=force, resume=resume)


def write_contamination(manifest: Manifest, index: EvalIndex, paths: list[str], out_dir: str) -> Manifest:
    """``contamination.parquet`` and the per-eval-file summary, from the match column of kept and
    removed rows; the manifest is rewritten with the summary in ``extra``."""
    items = index.items
    rows = []
    for shard, kept in [*((s, True) for s in manifest.outputs), *((s, False) for s in manifest.removed)]:
        table = pq.read_table(join(out_dir, shard.path), columns=["id", MATCH_COLUMN])
        for doc_id, found in zip(table.column("id").to_pylist(), table.column(MATCH_COLUMN).to_pylist()):
            for m in json.loads(found) if found else []:
                item = items[m["item"]]
                rows.append((doc_id, item.eval_file, item.index, item.item_id, m["overlap"], kept))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    table = pa.Table.from_pylist([dict(zip(CONTAMINATION_SCHEMA.names, r)) for r in rows], schema=CONTAMINATION_SCHEMA)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    write_bytes_atomic(join(out_dir, CONTAMINATION_FILE), sink.getvalue().to_pybytes())
    summary = {}
    for path in paths:
        mine = [r for r in rows if r[1] == path]
        summary[path] = {
            "items": sum(1 for it in items if it.eval_file == path),
            "items_too_short": index.skipped.get(path, 0),
            "items_found": len({r[2] for r in mine}),
            "documents_affected": len({r[0] for r in mine}),
        }
    manifest.extra = {
        **manifest.extra,
        "decontamination": summary,
        "documents_affected": len({r[0] for r in rows}),
        "contamination_file": CONTAMINATION_FILE,
    }
    manifest.write(out_dir)
    return manifest


# --- command line: `tailmine decontaminate` ------------------------------------------------------

HELP = "drop or excise documents that contain evaluation items (fuzzy n-gram match), with an audit file"
DESCRIPTION = (
    "Index every eval item (JSONL, JSON incl. BBH, Parquet, CSV or text; gzip ok; files, globs or\n"
    "folders) and find it in documents after normalisation (NFKC, case, punctuation), tolerating light\n"
    "edits: seed 3-grams propose regions, a word alignment verifies them. A document holding an item\n"
    "(short items: --short-match of its words; long ones: --ngram words or --min-overlap of them) is\n"
    "dropped with reason 'contaminated', or the span is cut out (--action excise). Writes\n"
    "DIR/contamination.parquet and a per-eval-file summary in the manifest."
)

_CLI_FIELDS = ("ngram", "min_ngram", "min_item_words", "min_overlap", "short_match", "min_identity", "seed", "max_seed_items")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = DecontamConfig()
    helps = DecontamConfig.field_help()
    parser.add_argument("--in", dest="in_dir", required=True, metavar="DIR", help="output folder of a finished stage")
    parser.add_argument("--eval", dest="eval_files", required=True, nargs="+", metavar="FILE", help="evaluation files, globs or folders")
    parser.add_argument("--eval-field", dest="eval_fields", action="append", metavar="FIELD",
                        help=f"field holding the item text (repeatable; default: the first present of {', '.join(d.eval_fields)})")
    parser.add_argument("--id-field", dest="id_fields", action="append", metavar="FIELD",
                        help=f"field holding an item id (repeatable; default: {', '.join(d.id_fields)}, else the item index)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    for f in fields(DecontamConfig):
        if f.name in _CLI_FIELDS:
            parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=type(f.default), default=f.default,
                                help=f"{helps[f.name]} (default: {f.default})")
    parser.add_argument("--action", choices=("drop", "excise"), default=d.action, help=f"{helps['action']} (default: {d.action})")
    parser.add_argument("--force", action="store_true", help="replace existing output in DIR")
    parser.add_argument("--resume", action="store_true", help="finish an interrupted run in DIR")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="do not print progress lines")


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    from tailmine.cli import summarize

    settings = {name: getattr(args, name) for name in _CLI_FIELDS}
    if args.eval_fields:
        settings["eval_fields"] = tuple(args.eval_fields)
    if args.id_fields:
        settings["id_fields"] = tuple(args.id_fields)
    cfg = DecontamConfig(eval=tuple(args.eval_files), action=args.action, **settings)
    manifest = run(args.in_dir, None, args.out, cfg, beam_args, force=args.force, resume=args.resume, progress=args.progress)
    print(summarize(manifest, args.out))
    for path, s in manifest.extra["decontamination"].items():
        print(f"  {path}: {s['items_found']:,}/{s['items']:,} items found in {s['documents_affected']:,} documents"
              f" ({s['items_too_short']:,} items too short to index)")
    return 0
