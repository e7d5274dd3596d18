"""The ``tailmine`` command. Thin: every subcommand, its help and its arguments come from the registry
(:data:`tailmine.stages.COMMANDS`); its ``main(args, beam_args) -> int`` is imported only to run it, so
``--help`` imports neither Beam nor pyarrow (nor any model code).

Anything after a bare ``--`` is handed to Apache Beam unchanged (``--runner=DataflowRunner ...``).
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import re
import sys
from typing import Optional, Sequence

from tailmine import __version__
from tailmine.errors import TailmineError
from tailmine.stages import COMMANDS

#: commands whose --out is a folder they fill: one run at a time may write it (``tailmine run`` locks its
#: run folder and stage folders itself, since its folder may come from the config).
FOLDER_COMMANDS = {name for name, command in COMMANDS.items() if command.writes_folder}

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


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The parser of ``tailmine``: every subcommand with its help line, and the arguments of ``command``
    only (building them imports its config module)."""
    parser = argparse.ArgumentParser(
        prog="tailmine",
        description="Curate raw crawl and book dumps into a training mixture that buys the long tail on purpose.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tailmine {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log Beam and tailmine details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, spec in COMMANDS.items():
        sub_parser = sub.add_parser(
            name, help=spec.help, description=spec.full_description(), epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        if command == name:
            spec.add_arguments(sub_parser)
    return parser


def chosen_command(argv: Sequence[str]) -> Optional[str]:
    """The subcommand named in ``argv`` (the first argument that is one), if any."""
    return next((arg for arg in argv if arg in COMMANDS), None)


class _QuietBeamImport(logging.Filter):
    """Beam logs a root-level warning at import when its optional GCP client libraries are absent;
    it says nothing about the user's run, so the CLI does not show it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.getLogger().addFilter(_QuietBeamImport())
    own, beam_args = _split_beam_args(sys.argv[1:] if argv is None else argv)
    args = build_parser(chosen_command(own)).parse_args(own)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:
        # CRITICAL, not ERROR: Beam logs a failed worker's whole traceback (hundreds of lines) before the
        # pipeline raises it; the raised error says it all (one line for a storage error, the traceback
        # for anything else), and -v shows Beam's logs
        logging.getLogger("apache_beam").setLevel(logging.CRITICAL)
    from tailmine.fileio import check_access  # Beam is imported here, after the filter above is in place
    from tailmine.lock import OutputLock
    from tailmine.pipelines.options import configure_filesystems

    try:
        options = configure_filesystems(beam_args)
        if args.command != "run":  # `run` checks with its config's beam_args added (pipelines.run.run)
            check_access(_urls(vars(args)), options)
        check_output_writable(getattr(args, "out", None))
        out_dir = getattr(args, "out", None) if args.command in FOLDER_COMMANDS else None
        with OutputLock(out_dir, f"tailmine {args.command}") if out_dir else contextlib.nullcontext():
            return COMMANDS[args.command].run_command(args, beam_args)
    except TailmineError as exc:
        print(f"tailmine: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        line = storage_error_line(exc)
        if line is None:
            raise
        print(f"tailmine: error: {line}", file=sys.stderr)
        return 2


_ERRNO_IN_TEXT = re.compile(r"\[Errno (\d+)\] ([^:\n]+)(?:: '([^'\n]*)')?")
_STORAGE_ERRNOS = {
    errno.ENOSPC: "free some space (or choose another --out) and rerun (a stage command with --resume): finished work is kept",
    errno.EDQUOT: "free some of your quota (or choose another --out) and rerun (a stage command with --resume): finished work is kept",
    errno.EROFS: "the file system is read-only: choose another --out",
    errno.EACCES: "give this user access to it (write for --out, read for inputs and models) or choose another --out",
    errno.EPERM: "give this user access to it (write for --out, read for inputs and models) or choose another --out",
}


def check_output_writable(out: Optional[str]) -> None:
    """Before any work: can a file be created where ``--out`` is (or would be)? A local folder that
    cannot be written otherwise fails inside the workers, each printing its traceback. The probe is
    an unnamed temporary file (O_TMPFILE) in the nearest existing folder: nothing is left behind."""
    import tempfile

    if not out or "://" in out:
        return
    folder = os.path.abspath(out)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        if exc.errno in _STORAGE_ERRNOS:
            raise OSError(exc.errno, exc.strerror, out) from None  # name --out, not the probe


def storage_error_line(exc: BaseException) -> Optional[str]:
    """One line for a full disk, a read-only file system or a refused permission, saying what to do;
    None for any other error (a bug keeps its traceback).

    A worker's error reaches the driver wrapped by Beam (its type lost, its text kept), so the
    ``[Errno N] message: 'path'`` text is recognised as well as the exception chain.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
            where = f": {exc.filename}" if exc.filename else ""
            return f"{exc.strerror or os.strerror(exc.errno)}{where}; {_STORAGE_ERRNOS[exc.errno]}"
        for match in _ERRNO_IN_TEXT.finditer(str(exc)):
            code = int(match.group(1))
            if code in _STORAGE_ERRNOS:
                where = f": {match.group(3)}" if match.group(3) else ""
                return f"{match.group(2).strip()}{where}; {_STORAGE_ERRNOS[code]}"
        exc = exc.__cause__ or exc.__context__
    return None


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
