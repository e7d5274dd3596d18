"""The command line's manners: fast, light --help from the registry; quiet Beam unless -v; numbers as
people write them; a run that checks its paths first; an ingest that finds nothing says so; workers
that import the installed package whatever folder the command runs in."""
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import REPO, TEST_BEAM_ARGS
from tailmine.errors import ConfigError, InputError
from tailmine.pipelines.run import load_config, run
from tailmine.stages import COMMANDS, STAGE_LIST, field_help

HEAVY = ("apache_beam", "pyarrow", "torch", "numba", "fasttext", "tokenizers", "transformers", "scipy")
HELP_CPU_SECONDS = 1.5
"""The issue's bound, on the CPU time of the whole process (interpreter start included): a loaded
machine stretches wall time, hardly CPU time."""
HELP_WALL_SECONDS = 3.0
"""Wall time, checked on CI's clean machine only (developers' machines are often shared and loaded;
BENCHMARKS.md has times measured side by side with the code before)."""

PROBE = """
import sys, time
started = time.perf_counter()
from tailmine.cli import main
try:
    main([*sys.argv[1].split(), "--help"])
except SystemExit as exc:
    code = exc.code
print(repr((code, time.perf_counter() - started, sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2:])))))
"""


def _env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


SUBCOMMANDS = ["classify train", "classify score", "tokenizer train", "experiment tail", "experiment real"]


@pytest.mark.parametrize("command", list(COMMANDS) + SUBCOMMANDS)
def test_every_command_help_is_fast_and_imports_no_heavy_library(command):
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE, command, *HEAVY], capture_output=True, text=True, env=_env(), cwd=REPO)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert done.returncode == 0, done.stderr[-2000:]
    code, seconds, heavy = eval(done.stdout.strip().splitlines()[-1])
    assert code == 0 and "usage: tailmine " + command in done.stdout
    assert heavy == [], f"`tailmine {command} --help` imported {heavy}"
    assert cpu < HELP_CPU_SECONDS, f"`tailmine {command} --help` used {cpu:.2f} s of CPU"
    if os.environ.get("CI"):
        assert wall < HELP_WALL_SECONDS, f"`tailmine {command} --help` took {wall:.2f} s (in-process {seconds:.2f} s)"


def test_every_config_flag_has_its_field_doc_as_help():
    """Field docs come from one place (the string under the field); a flag without one would show an
    empty --help line."""
    import argparse

    for stage in STAGE_LIST:
        if not stage.standard_arguments or stage.flags == ():
            continue
        helps = field_help(stage.config_class())
        offered = [name for name in helps if stage.flags is None or name in stage.flags]
        assert offered and all(helps[name] for name in offered), (stage.name, [n for n in offered if not helps[n]])
        parser = argparse.ArgumentParser()
        stage.add_arguments(parser)
        shown = {a.dest: a.help for a in parser._actions}
        assert all(shown[name].startswith(helps[name].replace("%", "%%")) for name in offered), stage.name


def test_yaml_numbers_in_exponent_notation_are_accepted(tmp_path):
    """PyYAML reads 2e6 (no dot) as a string; a config means the number."""
    text = f"inputs: [{tmp_path}]\nmix: {{tokens: 2e6, compute_flops: 0, max_epochs: 4}}\ningest: {{max_doc_bytes: 1.6e7, unit_bytes: 64_000_000}}\n"
    config = dict(load_config(text, "cfg.yaml", str(tmp_path / "out")).stages)
    assert config["mix"].tokens == 2_000_000 and isinstance(config["mix"].tokens, int)
    assert config["ingest"].max_doc_bytes == 16_000_000 and config["ingest"].unit_bytes == 64_000_000
    with pytest.raises(ConfigError, match=r"mix\.tokens: expected an integer, got '2\.5e0'"):
        load_config(f"inputs: [{tmp_path}]\nmix: {{tokens: 2.5e0}}\n", "cfg.yaml", str(tmp_path / "out"))
    with pytest.raises(ConfigError, match=r"ingest\.max_doc_bytes: expected an integer, got 'lots'"):
        load_config(f"inputs: [{tmp_path}]\ningest: {{max_doc_bytes: lots}}\n", "cfg.yaml", str(tmp_path / "out"))


def test_flags_take_exponent_notation_too():
    import argparse

    parser = argparse.ArgumentParser()
    COMMANDS["ingest"].add_arguments(parser)
    args = parser.parse_args(["x", "--out", "o", "--max-doc-bytes", "2e6", "--max-compression-ratio", "1e2"])
    assert args.max_doc_bytes == 2_000_000 and args.max_compression_ratio == 100.0
    with pytest.raises(SystemExit):
        parser.parse_args(["x", "--out", "o", "--max-doc-bytes", "2.5"])


def test_run_checks_every_path_before_the_first_stage(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text(json.dumps({"text": "words " * 50}) + "\n")
    config = {
        "inputs": [str(tmp_path / "in")], "beam_args": TEST_BEAM_ARGS, "report": False,
        "decontaminate": {"eval": [str(tmp_path / "evals" / "missing.jsonl")]},
        "classify": {"model": str(tmp_path / "models" / "nope")},
        "mix": {"tokens": 1000, "tokenizer": str(tmp_path / "tok.json")},
    }
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as raised:
        run(load_config(json.dumps(config), "cfg.json", str(out)))
    message = str(raised.value)
    for key, path in (("decontaminate.eval", "missing.jsonl"), ("classify.model", "nope"), ("mix.tokenizer", "tok.json")):
        assert f"{key}: " in message and path in message
    assert "inputs:" not in message  # the input exists
    assert not (out / "ingest").exists(), "no stage ran"


def test_an_ingest_that_finds_no_documents_fails_naming_the_inputs(tmp_path, capsys):
    from tailmine.cli import main

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text('{"body": "text under another key"}\n{"body": "and again"}\n')
    assert main(["ingest", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--no-progress", "--", *TEST_BEAM_ARGS]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"tailmine: error: no documents in {tmp_path / 'in'} (1 file(s), 2 record(s): 2 ") and "--text-field" in err
    from tailmine.pipelines import ingest

    with pytest.raises(InputError, match="no documents"):
        ingest.run([str(tmp_path / "in")], str(tmp_path / "out2"), beam_args=TEST_BEAM_ARGS, progress=False)


def _cli(args, cwd):
    """``tailmine ARGS`` as the installed script runs it: the current folder is not on ``sys.path``."""
    boot = "import sys; sys.path.pop(0); from tailmine.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", boot, *args], capture_output=True, text=True, cwd=cwd, env=_env(), timeout=300)


def test_local_workers_import_the_installed_package_and_keep_beam_quiet(tmp_path):
    """A folder holding something named ``tailmine`` (a checkout, here a stub package) once shadowed the
    package on the DirectRunner's worker processes; and their start-up logs reached stderr."""
    (tmp_path / "tailmine").mkdir()
    (tmp_path / "tailmine" / "__init__.py").write_text("")  # no __version__, no ingest: what a checkout looks like to Python
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"text": f"document {i} " * 20}) + "\n" for i in range(4)))
    multi = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    quiet = _cli(["ingest", "a.jsonl", "--out", "out", "--no-progress", "--", *multi], tmp_path)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert quiet.stdout.startswith("ingest: 4 records in -> 4 documents") and quiet.stderr == ""
    loud = _cli(["-v", "ingest", "a.jsonl", "--out", "out", "--force", "--no-progress", "--", *multi], tmp_path)
    assert loud.returncode == 0 and "Worker" in loud.stderr  # -v shows what the workers log


def test_the_worker_drops_only_the_current_folder_python_put_first(tmp_path):
    """``-c`` puts ``''`` (the current folder) first; a PYTHONPATH entry naming the same folder stays
    (a developer's checkout on PYTHONPATH is how its own code reaches the workers)."""
    from tailmine.pipelines.options import WORKER_PATH

    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", WORKER_PATH + "print(repr(sys.path))"], capture_output=True, text=True, cwd=tmp_path, env=env)
    path = eval(done.stdout)
    assert "" not in path and path[0] == str(tmp_path)

