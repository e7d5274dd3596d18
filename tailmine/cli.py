"""The ``tailmine`` command. Thin: each subcommand lives with its pipeline module, which defines
``HELP``, ``DESCRIPTION``, ``add_arguments(parser)`` and ``main(args, beam_args) -> int``.

Anything after a bare ``--`` is handed to Apache Beam unchanged (``--runner=DataflowRunner ...``).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import sys
from typing import Optional, Sequence

from tailmine import __version__
from tailmine.errors import TailmineError

#: subcommand -> module that implements it, in the order of the pipeline.
COMMANDS = {
    "run": "tailmine.pipelines.run",
    "ingest": "tailmine.pipelines.ingest",
    "filter": "tailmine.pipelines.filters",
    "dedup": "tailmine.pipelines.dedup",
    "decontaminate": "tailmine.pipelines.decontaminate",
    "classify": "tailmine.pipelines.classify",
    "concepts": "tailmine.pipelines.concepts",
    "mix": "tailmine.pipelines.mix",
    "tokenizer": "tailmine.pipelines.tokenizer",
    "report": "tailmine.reports",
    "demo": "tailmine.demo",
    "experiment": "tailmine.experiments",
}

#: commands whose --out is a folder they fill: one run at a time may write it (``tailmine run`` locks its
#: run folder and stage folders itself, since its folder may come from the config).
FOLDER_COMMANDS = {"ingest", "filter", "dedup", "decontaminate", "classify", "concepts", "mix", "demo"}

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
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(
            name, help=module.HELP, description=module.DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        module.add_arguments(command)
        command.set_defaults(_module=module)
    return parser


class _QuietBeamImport(logging.Filter):
    """Beam logs a root-level warning at import when its optional GCP client libraries are absent;
    it says nothing about the user's run, so the CLI does not show it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.getLogger().addFilter(_QuietBeamImport())
    own, beam_args = _split_beam_args(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(own)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
    from tailmine.fileio import check_access  # Beam is imported here, after the filter above is in place
    from tailmine.lock import OutputLock
    from tailmine.pipelines.options import configure_filesystems

    try:
        options = configure_filesystems(beam_args)
        if args.command != "run":  # `run` checks with its config's beam_args added (pipelines.run.run)
            check_access(_urls(vars(args)), options)
        out_dir = getattr(args, "out", None) if args.command in FOLDER_COMMANDS else None
        with OutputLock(out_dir, f"tailmine {args.command}") if out_dir else contextlib.nullcontext():
            return args._module.main(args, beam_args)
    except TailmineError as exc:
        print(f"tailmine: error: {exc}", file=sys.stderr)
        return 2
    except PermissionError as exc:
        print(f"tailmine: error: permission denied: {exc.filename or exc}; give this user access or choose another path", file=sys.stderr)
        return 2


def _urls(values: dict) -> list[str]:
    """Every ``scheme://`` path among the parsed arguments, checked for access before any work."""
    found = []
    for value in values.values():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, str) and "://" in item:
                found.append(item)
    return found


def summarize(manifest, out_dir: str) -> str:
    """A few lines for the terminal: records in and out, and every reason with its count."""
    c = manifest.counts
    lines = [f"{manifest.stage}: {c.input:,} records in -> {c.output:,} documents in {len(manifest.outputs)} shard(s)"]
    for reason, n in sorted(c.dropped.items(), key=lambda kv: -kv[1]):
        lines.append(f"  dropped      {n:>8,}  {reason}")
    for reason, n in sorted(c.quarantined.items(), key=lambda kv: -kv[1]):
        lines.append(f"  quarantined  {n:>8,}  {reason}")
    lines.append(f"  manifest: {out_dir.rstrip('/')}/manifest.json")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
