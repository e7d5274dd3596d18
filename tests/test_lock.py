"""One writer per output folder (``tailmine.lock``): a second run is refused with the owner named, a
dead run's lock is taken over, and two ``tailmine run`` started together into one --out never leave a
manifest that lists a missing shard."""
import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from conftest import REPO, TEST_BEAM_ARGS, write_jsonl_inputs
from tailmine.errors import LockError
from tailmine.lock import LOCK_NAME, LockOwner, OutputLock, acquire, owner_is_running, process_start_time, release

HOLD = """
import sys, time
from tailmine.lock import acquire
acquire(sys.argv[1], "holder")
print("locked", flush=True)
time.sleep(120)
"""


def _hold_in_child(out_dir):
    """A child process that takes the lock of ``out_dir`` and keeps it until killed."""
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(out_dir)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "locked"
    return child


def test_a_live_owner_is_refused_with_pid_host_and_start_time_and_a_dead_ones_lock_is_taken_over(tmp_path):
    child = _hold_in_child(tmp_path / "out")
    try:
        with pytest.raises(LockError) as refused:
            acquire(str(tmp_path / "out"))
        message = str(refused.value)
        assert f"pid {child.pid} on {socket.gethostname()}, started 20" in message and "(holder)" in message
        assert str(tmp_path / "out" / LOCK_NAME) in message and "\n" not in message
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    stale = LockOwner.parse((tmp_path / "out" / LOCK_NAME).read_bytes())
    assert stale.pid == child.pid, "SIGKILL leaves the dead run's lock file behind"
    with OutputLock(str(tmp_path / "out"), "next") as me:
        assert me.pid == os.getpid()
        assert LockOwner.parse((tmp_path / "out" / LOCK_NAME).read_bytes()).token == me.token
    assert not (tmp_path / "out" / LOCK_NAME).exists(), "released on exit"


def test_the_holder_may_lock_again_and_releases_at_the_outermost_exit(tmp_path):
    out = str(tmp_path / "out")
    with OutputLock(out) as outer:
        with OutputLock(out + "/") as inner, OutputLock(os.path.join(str(tmp_path), ".", "out")) as third:
            assert inner.token == outer.token == third.token
        assert (tmp_path / "out" / LOCK_NAME).exists()
    assert not (tmp_path / "out" / LOCK_NAME).exists()
    release(out)  # releasing a lock not held is a no-op


def test_garbled_or_empty_lock_file_of_a_dead_run_is_taken_over(tmp_path):
    (tmp_path / "out").mkdir()
    for garbled in (b'{"pid": 12', b"", b"{}", b"[1, 2]", b'{"pid": "12", "host": 3}'):  # e.g. killed while writing it
        assert LockOwner.parse(garbled) is None
        (tmp_path / "out" / LOCK_NAME).write_bytes(garbled)
        with OutputLock(str(tmp_path / "out")) as me:
            assert me.pid == os.getpid()


def _owner(**over):
    fields = dict(pid=os.getpid(), host=socket.gethostname(), started="2026-01-01T00:00:00Z",
                  process_start=process_start_time(os.getpid()), token="t", command="")
    fields.update(over)
    return LockOwner(**fields)


def test_owner_liveness_used_for_object_store_locks():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert owner_is_running(_owner())
    assert not owner_is_running(_owner(pid=dead.pid, process_start=None)), "a free pid on this host"
    if process_start_time(os.getpid()) is not None:  # Linux: a reused pid is told apart by its start time
        assert not owner_is_running(_owner(process_start=process_start_time(os.getpid()) - 1))
    assert owner_is_running(_owner(host="another-host", pid=dead.pid)), "another host's run cannot be checked: kept"



def test_two_concurrent_runs_into_one_out_one_is_refused_and_the_manifest_lists_only_real_shards(tmp_path):
    write_jsonl_inputs(tmp_path / "in", files=16, docs=300, words=40)
    config = tmp_path / "pipeline.yaml"
    config.write_text(f"inputs: [{tmp_path / 'in'}]\nreport: false\ningest:\n  unit_bytes: 100000\n")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "tailmine", "run", str(config), "--out", str(out), "--", *TEST_BEAM_ARGS]
    runs = [subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errors = [run.communicate(timeout=600)[1] for run in runs]
    codes = sorted(run.returncode for run in runs)
    assert codes == [0, 2], errors
    winner, loser = (0, 1) if runs[0].returncode == 0 else (1, 0)
    lines = errors[loser].strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"tailmine: error: {out} is being written by another tailmine run (pid {runs[winner].pid} on "), lines
    manifest = json.loads((out / "ingest" / "manifest.json").read_text())
    assert manifest["outputs"] and all((out / "ingest" / s["path"]).is_file() for s in manifest["outputs"])
    assert manifest["counts"]["output"] == 16 * 300
    assert not (out / LOCK_NAME).exists() and not (out / "ingest" / LOCK_NAME).exists()


def test_a_stage_command_into_a_locked_folder_and_an_unwritable_out_are_one_line_errors(tmp_path, capsys):
    from tailmine.cli import main

    (tmp_path / "in.jsonl").write_text(json.dumps({"text": "a document long enough to keep " * 5}) + "\n")
    child = _hold_in_child(tmp_path / "out")
    try:
        assert main(["ingest", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "out"), "--", *TEST_BEAM_ARGS]) == 2
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"is being written by another tailmine run (pid {child.pid}" in err[0]

    if os.geteuid() != 0:
        (tmp_path / "ro").mkdir(mode=0o500)
        unwritable = tmp_path / "ro" / "out"
    else:  # root writes anywhere a mode allows: use a folder no one may create
        unwritable = "/sys/tailmine-test-out"
        try:
            os.makedirs(unwritable)
        except PermissionError:
            pass
        else:
            os.rmdir(unwritable)
            pytest.skip("no unwritable folder available to this user")
    assert main(["ingest", str(tmp_path / "in.jsonl"), "--out", str(unwritable), "--", *TEST_BEAM_ARGS]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].lower().startswith("tailmine: error: permission denied: ") and str(unwritable) in err[0], err


def test_a_manifest_listing_a_missing_shard_is_not_written(tmp_path):
    from tailmine.errors import ManifestError
    from tailmine.pipelines.stage import WriteManifest
    from tailmine.schemas.manifest import Counts

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "part-00000.parquet").write_bytes(b"PAR1")
    shard = {"rows": 1, "bytes": 4, "sha256": "x"}
    summaries = [{"unit": 0, "counts": Counts(input=1, output=1).to_dict(), "outputs": [{"path": "docs/part-00000.parquet", **shard}]},
                 {"unit": 1, "counts": Counts(input=1, output=1).to_dict(), "outputs": [{"path": "docs/part-00001.parquet", **shard}]}]
    writer = WriteManifest("ingest", str(tmp_path), {}, [])
    with pytest.raises(ManifestError, match=r"1 shard\(s\) it would list are missing \(docs/part-00001\.parquet\)"):
        list(writer.process(summaries))
    assert not (tmp_path / "manifest.json").exists()
    assert list(writer.process(summaries[:1])) and (tmp_path / "manifest.json").exists()
