"""The ``tailmine`` command. Thin: it parses arguments, builds configs and calls ``tailmine.pipelines``.

Anything after a bare ``--`` is handed to Apache Beam unchanged (``--runner=DataflowRunner ...``).
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import fields
from typing import Optional, Sequence

from tailmine import __version__
from tailmine.errors import TailmineError

EPILOG = (
    "Beam options go after a bare '--', e.g.\n"
    "  tailmine ingest gs://b/crawl/*.warc.gz --out gs://b/ingest -- --runner=DataflowRunner \\\n"
    "      --project=P --region=R --temp_location=gs://b/tmp --setup_file=./setup.py\n"
    "Without them, Beam's DirectRunner runs locally on all cores."
)


def _split_beam_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    argv = list(argv)
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, []


def _add_ingest_config(parser: argparse.ArgumentParser) -> None:
    from tailmine.ingest.config import FORMATS, IngestConfig

    helps = IngestConfig.field_help()
    for f in fields(IngestConfig):
        flag = "--" + f.name.replace("_", "-")
        kwargs = {"dest": f.name, "default": f.default, "help": f"{helps[f.name]} (default: {f.default})"}
        if f.name == "format":
            kwargs["choices"] = FORMATS
        elif isinstance(f.default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif isinstance(f.default, (int, float)):
            kwargs["type"] = type(f.default)
        parser.add_argument(flag, **kwargs)


def _ingest_config(args):
    from tailmine.ingest.config import IngestConfig

    return IngestConfig(**{f.name: getattr(args, f.name) for f in fields(IngestConfig)})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tailmine",
        description="Curate raw crawl and book dumps into a training mixture that buys the long tail on purpose.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tailmine {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log Beam and tailmine details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    ingest = sub.add_parser(
        "ingest",
        help="WARC/WET/ARC, HTML, Gutenberg books, text, JSONL, Parquet -> document shards + manifest",
        description=(
            "Read crawl files, HTML pages, Project Gutenberg books, plain text, JSONL and Parquet (gzip/zstd\n"
            "transparently; files, globs and directories) into DIR/docs/part-*.parquet under tailmine's\n"
            "document schema. Broken records go to DIR/quarantine/*.parquet with a reason; every record is\n"
            "counted in DIR/manifest.json (input = output + dropped + quarantined)."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ingest.add_argument("inputs", nargs="+", metavar="INPUT", help="files, globs or directories (local, gs://, s3://)")
    ingest.add_argument("--out", required=True, metavar="DIR", help="output directory")
    ingest.add_argument("--force", action="store_true", help="replace existing output in DIR")
    ingest.add_argument("--resume", action="store_true", help="finish an interrupted run in DIR, keeping finished units")
    ingest.add_argument("--no-progress", dest="progress", action="store_false", help="do not print progress lines")
    _add_ingest_config(ingest)

    demo = sub.add_parser(
        "demo",
        help="generate a small synthetic sample and run the pipeline on it",
        description="Generate tailmine's synthetic multi-format sample (no download) and run the pipeline on it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--out", default="demo-out", metavar="DIR", help="output directory (default: demo-out)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the synthetic sample (default: 0)")
    demo.add_argument("--force", action="store_true", help="replace existing output in DIR")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    own, beam_args = _split_beam_args(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(own)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
    try:
        if args.command == "ingest":
            from tailmine.pipelines import ingest

            manifest = ingest.run(
                args.inputs, args.out, _ingest_config(args), beam_args, force=args.force, resume=args.resume, progress=args.progress
            )
            print(summarize(manifest, args.out))
        elif args.command == "demo":
            from tailmine.demo import run_demo

            run_demo(args.out, seed=args.seed, force=args.force, beam_args=beam_args)
    except TailmineError as exc:
        print(f"tailmine: error: {exc}", file=sys.stderr)
        return 2
    return 0


def summarize(manifest, out_dir: str) -> str:
    c = manifest.counts
    lines = [
        f"{manifest.stage}: {c.input:,} records in -> {c.output:,} documents in {len(manifest.outputs)} shard(s)",
    ]
    for reason, n in sorted(c.dropped.items(), key=lambda kv: -kv[1]):
        lines.append(f"  dropped      {n:>8,}  {reason}")
    for reason, n in sorted(c.quarantined.items(), key=lambda kv: -kv[1]):
        lines.append(f"  quarantined  {n:>8,}  {reason}")
    lines.append(f"  manifest: {out_dir.rstrip('/')}/manifest.json")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
