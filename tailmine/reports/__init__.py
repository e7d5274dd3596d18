"""``tailmine report RUN_DIR``: a self-contained ``report.html`` and a ``report.json`` for a run folder.

A run folder holds one subfolder per stage (``ingest/``, ``filter/``, ``dedup/`` ...), each with its
``manifest.json``; the report shows the funnel with reasons and examples, distributions, contamination,
the concept rank–frequency fit, and the mixture's tail coverage and composition — whatever has run.
"""
from __future__ import annotations

import json
from typing import Optional

from tailmine.fileio import join, write_bytes_atomic
from tailmine.reports.collect import ReportConfig, collect
from tailmine.reports.html import render

__all__ = ["ReportConfig", "collect", "render", "write_report"]


def write_report(run_dir: str, out_dir: Optional[str] = None, cfg: ReportConfig = ReportConfig()) -> tuple[str, str]:
    """Collect and render; returns the paths of ``report.html`` and ``report.json``."""
    out_dir = out_dir or run_dir
    data = collect(run_dir, cfg)
    html_path, json_path = join(out_dir, "report.html"), join(out_dir, "report.json")
    write_bytes_atomic(json_path, (json.dumps(data, indent=1, sort_keys=True, default=str) + "\n").encode())
    write_bytes_atomic(html_path, render(data).encode("utf-8"))
    return html_path, json_path


# --- command line: `tailmine report` -------------------------------------------------------------

HELP = "write a self-contained report.html and report.json for a run folder"
DESCRIPTION = (
    "Read every stage folder of RUN_DIR (ingest/, filter/, dedup/, ...) and write RUN_DIR/report.html\n"
    "(offline, no CDN) and RUN_DIR/report.json: the funnel per stage and source with reasons and\n"
    "examples, length/language/score histograms, dedup clusters, contamination, the concept power law,\n"
    "and the mixture's tail coverage and composition."
)


def add_arguments(parser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder with one subfolder per stage")
    parser.add_argument("--out", metavar="DIR", default=None, help="where to write the report (default: RUN_DIR)")
    parser.add_argument("--max-rows", type=int, default=ReportConfig.max_rows, help="documents read per stage for histograms (default: %(default)s)")


def main(args, beam_args) -> int:
    html_path, json_path = write_report(args.run_dir, args.out, ReportConfig(max_rows=args.max_rows))
    print(f"report: {html_path}\n        {json_path}")
    return 0
