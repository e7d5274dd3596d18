"""``tailmine report RUN_DIR``: a self-contained ``report.html`` and a ``report.json`` for a run folder;
``tailmine report --compare RUN_A RUN_B``: ``compare.html`` and ``compare.json`` for two runs.

A run folder holds one subfolder per stage (``ingest/``, ``filter/``, ``dedup/`` ...), each with its
``manifest.json``; the report shows the warnings first, then the funnel per stage and source with
reasons and examples, distributions, contamination per evaluation set, the concept rank–frequency
fit, and the mixture's tail coverage and composition — whatever has run.
"""
from __future__ import annotations

import json
from typing import Optional

from tailmine.fileio import join, write_bytes_atomic
from tailmine.errors import ConfigError
from tailmine.reports.collect import ReportConfig, collect
from tailmine.reports.compare import compare, render_compare
from tailmine.reports.html import render
from tailmine.reports.warnings import WarningThresholds, find_warnings

__all__ = ["ReportConfig", "WarningThresholds", "collect", "compare", "find_warnings", "render", "write_compare", "write_report"]


def _write_json(path: str, data: dict) -> None:
    write_bytes_atomic(path, (json.dumps(data, indent=1, sort_keys=True, default=str) + "\n").encode())


def write_report(run_dir: str, out_dir: Optional[str] = None, cfg: ReportConfig = ReportConfig()) -> tuple[str, str]:
    """Collect and render; returns the paths of ``report.html`` and ``report.json``."""
    out_dir = out_dir or run_dir
    data = collect(run_dir, cfg)
    html_path, json_path = join(out_dir, "report.html"), join(out_dir, "report.json")
    _write_json(json_path, data)
    write_bytes_atomic(html_path, render(data).encode("utf-8"))
    return html_path, json_path


def write_compare(run_a: str, run_b: str, out_dir: Optional[str] = None, cfg: ReportConfig = ReportConfig()) -> tuple[str, str]:
    """Compare two run folders; writes ``compare.html`` and ``compare.json`` to ``out_dir`` (default:
    RUN_B, the run being judged against A) and returns their paths."""
    out_dir = out_dir or run_b
    diff = compare(collect(run_a, cfg), collect(run_b, cfg))
    html_path, json_path = join(out_dir, "compare.html"), join(out_dir, "compare.json")
    _write_json(json_path, diff)
    write_bytes_atomic(html_path, render_compare(diff).encode("utf-8"))
    return html_path, json_path


# --- command line: `tailmine report` -------------------------------------------------------------


def main(args, beam_args) -> int:
    cfg = ReportConfig() if args.max_rows is None else ReportConfig(max_rows=args.max_rows)
    if args.compare:
        if args.run_dir:
            raise ConfigError(f"report: give either RUN_DIR ({args.run_dir}) or --compare RUN_A RUN_B, not both")
        html_path, json_path = write_compare(args.compare[0], args.compare[1], args.out, cfg)
        print(f"comparison: {html_path}\n            {json_path}")
        return 0
    if not args.run_dir:
        raise ConfigError("report: give a run folder (RUN_DIR) or --compare RUN_A RUN_B")
    html_path, json_path = write_report(args.run_dir, args.out, cfg)
    print(f"report: {html_path}\n        {json_path}")
    return 0
