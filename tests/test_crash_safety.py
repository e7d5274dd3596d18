"""A run killed with SIGKILL mid-stage and started again ends identical to an uninterrupted run."""
import json
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq

from conftest import TEST_BEAM_ARGS, write_jsonl_inputs



def _ids(out):
    ids = []
    manifest = json.loads((out / "ingest" / "manifest.json").read_text())
    for shard in manifest["outputs"]:
        ids += pq.read_table(out / "ingest" / shard["path"], columns=["id"]).column("id").to_pylist()
    return ids, manifest


def test_sigkill_mid_stage_then_rerun_gives_identical_output(tmp_path):
    write_jsonl_inputs(tmp_path / "in", files=24, docs=400, words=60)
    config = tmp_path / "pipeline.yaml"
    config.write_text(f"inputs: [{tmp_path / 'in'}]\nreport: false\ningest:\n  unit_bytes: 100000\n")
    clean = subprocess.run([sys.executable, "-m", "tailmine", "run", str(config), "--out", str(tmp_path / "clean"), "--", *TEST_BEAM_ARGS],
                           capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr[-2000:]

    killed_out = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "tailmine", "run", str(config), "--out", str(killed_out), "--", *TEST_BEAM_ARGS],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = killed_out / "ingest" / "_work"
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if work.is_dir() and len(list(work.glob("unit-*.json"))) >= 3:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be killed: make the input bigger"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed_out / "ingest" / "manifest.json").exists()
    finished_before = len(list(work.glob("unit-*.json")))

    rerun = subprocess.run([sys.executable, "-m", "tailmine", "run", str(config), "--out", str(killed_out), "--", *TEST_BEAM_ARGS],
                           capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    clean_ids, clean_manifest = _ids(tmp_path / "clean")
    resumed_ids, resumed_manifest = _ids(killed_out)
    assert len(resumed_ids) == len(set(resumed_ids)) == 24 * 400, "no document missing or doubled"
    assert sorted(resumed_ids) == sorted(clean_ids)
    assert [(s["path"], s["sha256"]) for s in resumed_manifest["outputs"]] == [(s["path"], s["sha256"]) for s in clean_manifest["outputs"]]
    assert resumed_manifest["counts"] == clean_manifest["counts"]
    assert finished_before >= 3
    assert not list((killed_out / "ingest" / "docs").glob(".tmp-*")), "no temporary files left behind"
