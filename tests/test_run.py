"""`tailmine run CONFIG`: validation before work, skip when unchanged, rerun on change, resume."""
import json

import pytest

from conftest import TEST_BEAM_ARGS
from tailmine.errors import ConfigError, InputError
from tailmine.pipelines.run import load_config, run
from tailmine.schemas.manifest import read_manifest


def _config(tmp_path, **over):
    data = {"inputs": [str(tmp_path / "in")], "ingest": {"text_field": "body"}, "beam_args": TEST_BEAM_ARGS, "report": False}
    data.update(over)
    return json.dumps(data)


@pytest.fixture
def inputs(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text("".join(json.dumps({"body": f"document {i} " * 10}) + "\n" for i in range(50)))
    return tmp_path


@pytest.mark.parametrize(
    "override, message",
    [
        ({"ingest": {"text_feild": "x"}}, r"ingest\.text_feild: unknown setting"),
        ({"ingest": {"max_doc_bytes": "big"}}, r"ingest\.max_doc_bytes: expected an integer"),
        ({"ingest": {"format": "pdf"}}, r"ingest\.format: 'pdf' is not one of"),
        ({"dedupe": {}}, r"unknown key 'dedupe'"),
        ({"inputs": []}, r"inputs: a list"),
        ({"report": "yes"}, r"report: expected true or false"),
    ],
)
def test_config_errors_name_the_key_before_any_work(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_config(tmp_path, **override), "cfg.yaml", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_unchanged_stage_is_skipped_and_a_change_reruns_it(inputs, tmp_path, capsys):
    out = str(tmp_path / "out")
    first = run(load_config(_config(tmp_path), "cfg", out))
    shard = tmp_path / "out" / "ingest" / first["ingest"].outputs[0].path
    mtime = shard.stat().st_mtime_ns
    second = run(load_config(_config(tmp_path), "cfg", out))
    assert "unchanged since the last run: skipped" in capsys.readouterr().err
    assert shard.stat().st_mtime_ns == mtime and second["ingest"].counts == first["ingest"].counts
    with pytest.raises(InputError, match=r"no documents in .*50 record\(s\): 50 document_too_large"):  # the change reran ingest
        run(load_config(_config(tmp_path, ingest={"text_field": "body", "max_doc_bytes": 100}), "cfg", out))
    assert read_manifest(str(tmp_path / "out" / "ingest")).counts.dropped == {"document_too_large": 50}
    state = json.loads((tmp_path / "out" / "run-state.json").read_text())
    assert state["ingest"]["status"] == "running"  # not done: the next run does it again


def test_interrupted_stage_resumes_and_matches_a_clean_run(inputs, tmp_path):
    from tailmine.fileio import expand_inputs
    from tailmine.ingest.unit import plan_units, run_unit

    for i in range(3):
        (tmp_path / "in" / f"more{i}.jsonl").write_text("".join(json.dumps({"body": f"more {i} {j} " * 30}) + "\n" for j in range(300)))
    clean = run(load_config(_config(tmp_path), "cfg", str(tmp_path / "clean")))
    # A run killed mid-ingest: the state says "running" and some units finished.
    config = load_config(_config(tmp_path), "cfg", str(tmp_path / "killed"))
    run(config)  # establishes the fingerprint
    state_path = tmp_path / "killed" / "run-state.json"
    state = json.loads(state_path.read_text())
    state["ingest"]["status"] = "running"
    state_path.write_text(json.dumps(state))
    (tmp_path / "killed" / "ingest" / "manifest.json").unlink()
    cfg = config.stages[0][1]
    units = plan_units(expand_inputs(config.inputs), cfg)
    run_unit(units[0], cfg, str(tmp_path / "killed" / "ingest"))
    resumed = run(config)
    assert [(s.path, s.sha256) for s in resumed["ingest"].outputs] == [(s.path, s.sha256) for s in clean["ingest"].outputs]


def test_cli_run_reads_yaml(inputs, tmp_path, capsys):
    from tailmine.cli import main

    cfg = tmp_path / "pipeline.yaml"
    cfg.write_text(f"inputs: [{tmp_path / 'in'}]\ningest:\n  text_field: body\nreport: true\n")
    assert main(["run", str(cfg), "--out", str(tmp_path / "out"), "--", *TEST_BEAM_ARGS]) == 0
    err = capsys.readouterr().err
    assert "ingest" in err and "report:" in err
    assert (tmp_path / "out" / "report.html").is_file()
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2


def test_every_command_help_exits_zero():
    """argparse formats help strings with %: a literal '%' in a config field's doc once crashed `dedup --help`."""
    import subprocess
    import sys

    from tailmine.cli import COMMANDS

    for name in COMMANDS:
        done = subprocess.run([sys.executable, "-m", "tailmine.cli", name, "--help"], capture_output=True, text=True)
        assert done.returncode == 0, f"{name} --help: {done.stderr[-500:]}"
        assert "usage:" in done.stdout
