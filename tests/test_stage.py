"""The machinery every stage shares: map-over-shards stages, removal audit, resume."""
import json
import os

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from conftest import TEST_BEAM_ARGS
from tailmine.pipelines.stage import run_map_stage
from tailmine.runtime import ShardStep
from tailmine.schemas import read_documents


class LengthStep(ShardStep):
    """Annotates text length; drops documents shorter than ``min_chars`` with reason ``too_short``."""

    name = "length"

    def __init__(self, min_chars):
        self.min_chars = min_chars

    def parameters(self):
        return {"min_chars": self.min_chars}

    def annotate(self, table):
        return table.append_column("length_v1", pc.utf8_length(table.column("text")))

    def decide(self, table):
        return [None if n >= self.min_chars else "too_short" for n in table.column("length_v1").to_pylist()]


def _jsonl(path, texts):
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(texts)))


def test_map_stage_annotates_keeps_removes_with_reason_and_balances(tmp_path, ingest):
    _jsonl(tmp_path / "a.jsonl", ["short", "a much longer document text", "tiny", "another long enough text"])
    ingest([tmp_path / "a.jsonl"], out=tmp_path / "ingest")
    manifest = run_map_stage(LengthStep(10), str(tmp_path / "ingest"), str(tmp_path / "len"), TEST_BEAM_ARGS, progress=False)
    assert (manifest.counts.input, manifest.counts.output, manifest.counts.dropped) == (4, 2, {"too_short": 2})
    kept = read_documents([os.path.join(tmp_path / "len", s.path) for s in manifest.outputs])
    assert kept.column("id").to_pylist() == ["d1", "d3"]
    assert kept.column("length_v1").to_pylist() == [27, 24]
    removed = pa.concat_tables([pa.parquet.read_table(os.path.join(tmp_path / "len", s.path)) for s in manifest.removed])
    assert removed.column("drop_reason").to_pylist() == ["too_short", "too_short"]
    assert manifest.parameters == {"step": "length", "min_chars": 10}


def test_map_stage_refuses_unfinished_input(tmp_path):
    from tailmine.errors import ManifestError

    with pytest.raises(ManifestError, match="finished tailmine stage"):
        run_map_stage(LengthStep(1), str(tmp_path / "nothing"), str(tmp_path / "out"), TEST_BEAM_ARGS, progress=False)


def test_resume_reuses_finished_units_and_gives_identical_output(tmp_path, ingest):
    from tailmine.ingest.config import IngestConfig
    from tailmine.ingest.unit import plan_units, run_unit
    from tailmine.fileio import expand_inputs
    from tailmine.pipelines import ingest as pipeline

    for i in range(4):
        _jsonl(tmp_path / f"in{i}.jsonl", [f"document {i}-{j} " * 40 for j in range(200)])
    inputs = [str(tmp_path / f"in{i}.jsonl") for i in range(4)]
    cfg = IngestConfig(unit_bytes=20_000)
    clean = pipeline.run(inputs, str(tmp_path / "clean"), cfg, TEST_BEAM_ARGS, progress=False)
    # An interrupted run: two units finished and left their summaries, then the job died.
    units = plan_units(expand_inputs(inputs), cfg)
    for unit in units[:2]:
        run_unit(unit, cfg, str(tmp_path / "resumed"))
    finished = {p: os.path.getmtime(p) for p in (tmp_path / "resumed" / "docs").iterdir()}
    resumed = pipeline.run(inputs, str(tmp_path / "resumed"), cfg, TEST_BEAM_ARGS, resume=True, progress=False)
    assert {p: os.path.getmtime(p) for p in finished} == finished, "finished units were not redone"
    assert [(s.path, s.sha256) for s in resumed.outputs] == [(s.path, s.sha256) for s in clean.outputs]
    assert resumed.counts == clean.counts
