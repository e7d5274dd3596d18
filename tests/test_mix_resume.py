"""``tailmine run`` killed with SIGKILL in the mix stage right after ``tokenizer.json`` is written, then
run again: the resumed mix keeps the tokenizer it trained and writes the same recipe.json (tokenizer
note included) and token shards as an uninterrupted run."""
import json
import shutil
import signal
import subprocess
import sys
import time

from conftest import REPO, TEST_BEAM_ARGS


def _write_config(tmp_path):
    from tailmine.demo.sample import synthetic_documents

    docs = synthetic_documents(300, seed=3)
    (tmp_path / "in").mkdir()
    with open(tmp_path / "in" / "docs.jsonl", "w") as handle:
        for i, text in enumerate(docs):
            handle.write(json.dumps({"id": f"d{i}", "text": text, "url": f"https://site{i % 20}.org/p{i}"}) + "\n")
    config = {"inputs": [str(tmp_path / "in")], "report": False, "concepts": {"bootstrap": 0},
              "mix": {"tokens": 40000, "vocab_size": 600, "holdout": 0.1}, "beam_args": TEST_BEAM_ARGS}
    path = tmp_path / "pipeline.json"
    path.write_text(json.dumps(config))
    return path


def test_mix_killed_after_the_tokenizer_is_written_resumes_to_the_same_recipe(tmp_path):
    from tailmine.pipelines.run import load_config, run

    config = _write_config(tmp_path)
    killed = tmp_path / "run"  # both runs write here in turn: recipes name their input paths
    clean = run(load_config(config.read_text(), str(config), str(killed)))
    clean_files = {name: (killed / "mix" / name).read_bytes() for name in ("recipe.json", "tokenizer.json")}
    shutil.rmtree(killed)

    process = subprocess.Popen([sys.executable, "-m", "tailmine", "run", str(config), "--out", str(killed)],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tokenizer = killed / "mix" / "tokenizer.json"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None and not tokenizer.exists():
        time.sleep(0.01)
    assert process.poll() is None, "the run finished before the kill"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert tokenizer.exists() and not (killed / "mix" / "recipe.json").exists()
    state = json.loads((killed / "run-state.json").read_text())
    assert state["mix"]["status"] == "running"

    resumed = run(load_config(config.read_text(), str(config), str(killed)))
    recipe = json.loads((killed / "mix" / "recipe.json").read_text())
    assert recipe == json.loads(clean_files["recipe.json"])
    assert any(note.startswith("tokenizer: byte-level BPE") for note in recipe["notes"])
    assert (killed / "mix" / "tokenizer.json").read_bytes() == clean_files["tokenizer.json"]
    assert (killed / "mix" / "recipe.json").read_bytes() == clean_files["recipe.json"]
    assert resumed["mix"].extra == clean["mix"].extra
    assert [(s.path, s.sha256) for s in resumed["mix"].outputs] == [(s.path, s.sha256) for s in clean["mix"].outputs]
