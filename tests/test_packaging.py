"""The package as Dataflow's ``--setup_file ./setup.py`` ships it: Beam's own stager builds the sdist,
it is installed into a fresh virtualenv, and a stage runs from there (tailmine imported from the
installed sdist, not from this checkout). A module or data file missing from the sdist fails here
instead of on remote workers."""
import json
import os
import site
import subprocess
import sys
import sysconfig

from conftest import REPO, TEST_BEAM_ARGS


def _fresh_venv(path):
    """A virtualenv whose own site-packages comes first, with this interpreter's site-packages (Beam,
    torch, pip...) appended by a ``.pth`` so nothing heavy is reinstalled. Paths named in a ``.pth``
    are added without reading the ``.pth`` files inside them, so an editable install of tailmine in
    this environment does not leak into the new one."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    parents = [p for p in dict.fromkeys([*site.getsitepackages(), sysconfig.get_paths()["purelib"]]) if os.path.isdir(p)]
    with open(os.path.join(purelib, "_parent_env.pth"), "w") as handle:
        handle.write("\n".join(parents) + "\n")
    return python


def test_sdist_built_like_dataflow_installs_in_a_fresh_venv_and_runs_a_stage(tmp_path):
    from apache_beam.runners.portability.stager import Stager

    dist = tmp_path / "dist"
    dist.mkdir()
    sdist = Stager._build_setup_package(str(REPO / "setup.py"), str(dist))  # what --setup_file runs
    assert os.path.basename(sdist).startswith("tailmine-") and sdist.endswith(".tar.gz")

    python = _fresh_venv(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--ignore-installed",
                    "--quiet", sdist], check=True, env=env, cwd=tmp_path)

    work = tmp_path / "elsewhere"  # not the checkout: nothing may be imported from the current folder
    work.mkdir()
    where = subprocess.run([str(python), "-c", "import tailmine, tailmine.ingest.warc, tailmine.pipelines.mix; print(tailmine.__file__)"],
                           check=True, capture_output=True, text=True, env=env, cwd=work).stdout.strip()
    assert where.startswith(str(tmp_path / "venv")), f"tailmine came from {where}, not the installed sdist"

    (work / "in.jsonl").write_text("".join(json.dumps({"id": f"d{i}", "text": f"document {i} " + "words to keep " * 20}) + "\n" for i in range(30)))
    ran = subprocess.run([str(tmp_path / "venv" / "bin" / "tailmine"), "ingest", "in.jsonl", "--out", "out", "--", *TEST_BEAM_ARGS],
                         capture_output=True, text=True, env=env, cwd=work)
    assert ran.returncode == 0, ran.stderr[-3000:]
    manifest = json.loads((work / "out" / "manifest.json").read_text())
    assert manifest["counts"]["input"] == 30 and manifest["counts"]["output"] == 30
