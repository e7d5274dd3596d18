"""The cost model (``tailmine run CONFIG --estimate``, docs/scale.md) and the benchmarks' process measurement."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from tailmine.cli import main as cli_main
from tailmine.pipelines import estimate

from conftest import benchmark_module

REPO = Path(__file__).resolve().parents[1]


def test_docs_scale_quotes_the_code_tables_verbatim():
    """docs/scale.md's rates and Common Crawl estimate are the code's (regenerate with
    ``python -m tailmine.pipelines.estimate`` after changing a rate)."""
    doc = (REPO / "docs" / "scale.md").read_text()
    assert estimate.rates_table() in doc
    assert estimate.common_crawl() in doc


def test_common_crawl_input_is_three_billion_documents():
    inputs = estimate.estimate_input([(f"s3://cc/CC-MAIN-{i}.warc.gz", 100e12 / 90_000) for i in range(90_000)])
    assert inputs.by_format == {"warc": (90_000, pytest.approx(100e12))}
    assert 2.9e9 < inputs.documents < 3.1e9


def test_formats_come_from_names_only():
    assert estimate.input_format("a/CC-MAIN-1.warc.gz") == "warc"
    assert estimate.input_format("a/CC-MAIN-1.warc.wet.gz") == "wet"
    assert estimate.input_format("a/x.arc.gz") == "warc"
    assert estimate.input_format("a/part-0.jsonl.zst") == "jsonl"
    assert estimate.input_format("a/part-0.parquet") == "parquet"
    assert estimate.input_format("a/README") == "text"  # unknown: counted at the slowest text rate
    assert estimate.input_format("a/README", forced="jsonl") == "jsonl"


def test_time_grows_linearly_with_the_input_outside_dedup():
    from tailmine.concepts.config import ConceptConfig

    stages = [("ingest", None), ("filter", None), ("concepts", ConceptConfig(mode="sketch")), ("mix", None)]
    one = estimate.estimate_stages(estimate.estimate_input([("a.jsonl.gz", 1e9)] * 10), stages)
    two = estimate.estimate_stages(estimate.estimate_input([("a.jsonl.gz", 1e9)] * 20), stages)
    for a, b in zip(one, two):
        assert b.cpu_hours_high == pytest.approx(2 * a.cpu_hours_high)
        assert b.cpu_hours_low == pytest.approx(2 * a.cpu_hours_low)
        assert b.worker_mb == a.worker_mb  # memory per worker does not grow with the corpus


def test_run_estimate_prints_every_configured_stage_and_writes_nothing(tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "crawl-0.warc.gz").write_bytes(b"not a WARC at all: never read" * 1000)
    (inputs / "part-0.jsonl.gz").write_bytes(b"\x00" * 50_000)
    out = tmp_path / "run"
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps({
        "out": str(out), "inputs": [str(inputs)], "filter": {}, "dedup": {}, "decontaminate": {"eval": [str(inputs / "part-0.jsonl.gz")]},
        "classify": {}, "concepts": {"mode": "exact"}, "mix": {"tokens": 1000},
    }))
    assert cli_main(["run", str(config), "--estimate", "16"]) == 0
    printed = capsys.readouterr().out
    assert "warc: 1 files" in printed and "jsonl: 1 files" in printed
    assert "wall hours at 16 vCPUs" in printed
    rows = {line.split("|")[1].strip() for line in printed.splitlines() if line.startswith("| ")}
    assert {"ingest", "filter", "dedup", "decontaminate", "classify", "concepts_exact", "mix", "**total**"} <= rows
    assert not out.exists()  # an estimate runs nothing


def test_dedup_estimate_is_its_planner():
    from tailmine.dedup.config import DedupConfig
    from tailmine.dedup.planner import plan

    inputs = estimate.estimate_input([("a.jsonl.gz", 2.1e8)] * 4)
    (dedup,) = estimate.estimate_stages(inputs, [("dedup", DedupConfig())])
    expected = plan(int(inputs.documents), int(inputs.text_bytes), [int(inputs.documents / 4)] * 4, DedupConfig())
    assert dedup.cpu_hours_high == pytest.approx(expected.cpu_seconds / 3600)
    assert dedup.shuffle_bytes == expected.shuffle_bytes


def test_not_measured_stages_say_so():
    (row,) = estimate.estimate_stages(estimate.estimate_input([("a.parquet", 1e9)]), [("classify", None)])
    assert math.isnan(row.cpu_hours_high) and row.note == "not measured"


def test_run_measured_sees_the_process_tree_not_the_parent_and_fails_loudly():
    timing = benchmark_module("timing")
    grandchild = "import time; b = bytearray(300_000_000); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}], check=True); print('ok')"
    held = bytearray(400_000_000)
    held[::4096] = b"x" * len(held[::4096])  # the parent's pages: the kernel's ru_maxrss would carry them into the child
    m = timing.run_measured([sys.executable, "-c", child])
    del held
    assert m["stdout"].strip() == "ok"
    assert m["tree_peak_rss_mb"] >= 300  # the grandchild's 300 MB, seen while it ran
    assert m["peak_rss_mb"] < 200  # the child itself: a small interpreter, not the parent's 400 MB
    assert m["cpu_s"] > 0 and m["wall_s"] >= 1.5
    with pytest.raises(RuntimeError, match="exit 3"):
        timing.run_measured([sys.executable, "-c", "import sys; print('bad', file=sys.stderr); sys.exit(3)"])
