"""Quality classifiers without Beam: text preparation, grouping/splitting, metrics, training, loading."""
from __future__ import annotations

import hashlib
import io
import json
import os
import random

import numpy as np
import pytest

from tailmine.classifiers.card import ModelError, read_card
from tailmine.classifiers.data import DataConfig, build_examples, merge_overlapping_groups, split_examples
from tailmine.classifiers.fasttext_model import FastTextParams
from tailmine.classifiers.metrics import precision_at_k, roc_auc
from tailmine.classifiers.text import chunk_text, detokenize_wikitext, normalize_text, wikitext_articles
from tailmine.classifiers.torch_model import Featurizer, TorchParams, resolve_device
from tailmine.classifiers.train import TrainConfig, load_model, train_from_documents
from tailmine.errors import ConfigError, OutputExistsError

# --- text -----------------------------------------------------------------------------------------


def test_layout_and_typography_are_not_features():
    book = "“It was,” said he —\nwrapped at seventy\ncolumns and   _emphasis_.\n\n\nNext para."
    page = '"it was," said he - wrapped at seventy columns and emphasis . next para.'.replace(" .", ".")
    assert normalize_text(book) == normalize_text(page)
    assert "\n" not in normalize_text(book) and "  " not in normalize_text(book)


def test_normalize_bounds_huge_documents():
    huge = "word " * 1_000_000
    assert len(normalize_text(huge)) <= 200_000


@pytest.mark.parametrize("text", ["", "   \n\n  ", "x" * 50_000, "Σύντομο κείμενο. " * 400, ("para. " * 100 + "\n\n") * 30])
def test_chunks_are_bounded_and_keep_every_word(text):
    chunks = list(chunk_text(text, 500, 1200))
    assert all(len(c.encode()) <= 1200 for c in chunks)
    if "x" * 50_000 != text:  # an over-long "word" is cut (documented), everything else is kept
        assert " ".join(" ".join(chunks).split()) == " ".join(text.split())
    assert all(len(c.encode()) >= 500 for c in chunks[:-1]) or len(chunks) <= 1 or "x" in text


def test_wikitext_is_detokenised_and_split_into_articles():
    raw = " = Alpha = \n \n Alpha is a 1 @,@ 000 m well @-@ known peak . It 's high ( very ) . \n = = History = = \n \n Named in <unk> 1900 . \n = Beta = \n \n Beta was built . \n"
    articles = list(wikitext_articles(raw))
    assert [t for t, _ in articles] == ["Alpha", "Beta"]
    assert "Alpha is a 1,000 m well-known peak. It's high (very)." in articles[0][1]
    assert "History" in articles[0][1] and "<unk>" not in articles[0][1] and "=" not in articles[0][1]
    assert detokenize_wikitext('he said " yes " .') == 'he said "yes".'


# --- metrics --------------------------------------------------------------------------------------


def test_roc_auc_matches_pair_counting_with_ties():
    rng = random.Random(3)
    labels = [rng.randint(0, 1) for _ in range(300)]
    scores = [round(rng.random(), 1) for _ in range(300)]  # many ties
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    brute = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))
    assert roc_auc(labels, scores) == pytest.approx(brute, abs=1e-12)
    assert roc_auc([0, 1], [0.2, 0.9]) == 1.0 and roc_auc([1, 0], [0.2, 0.9]) == 0.0
    with pytest.raises(ValueError):
        roc_auc([1, 1], [0.1, 0.2])
    assert precision_at_k([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1], 2) == 0.5


# --- grouping and split ---------------------------------------------------------------------------


def _sentences(seed: int, n: int) -> str:
    rng = random.Random(seed)
    words = [f"w{rng.randint(0, 5000)}" for _ in range(n * 14)]
    return " ".join(" ".join(words[i : i + 14]) + "." for i in range(0, len(words), 14))


def test_editions_of_one_work_are_merged_and_different_works_are_not():
    work = _sentences(1, 400)
    edition = "Preface of the second edition.\n\n" + work.replace(". ", ".\n", 50)  # other layout, same text
    other = _sentences(2, 400)
    roots = merge_overlapping_groups({"book:a": [work], "book:b": [edition], "book:c": [other]}, 0.2)
    assert roots["book:a"] == roots["book:b"] != roots["book:c"]


def _docs(n: int, vocab: list[str], seed: int, source: str, title_prefix: str = "") -> list[dict]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        paragraphs = [" ".join(rng.choice(vocab) if rng.random() < 0.3 else rng.choice(FILLER) for _ in range(60)) + "." for _ in range(8)]
        docs.append(
            {"id": f"{source}-{i}", "source": source, "url": None if source == "gutenberg" else f"https://site{i}.example/p",
             "title": f"{title_prefix}Book {i}", "text": "\n\n".join(paragraphs), "source_file": f"/data/{source}-{i}"}
        )
    return docs


FILLER = [f"common{i}" for i in range(300)]  # shared by both classes
GOOD = ["whereupon", "thereafter", "solemn", "river", "meadow", "letters", "ancient", "however", "chapter"]
CRAWL = ["click", "subscribe", "cookie", "login", "deal", "free", "cart", "shipping", "now"]


def test_split_keeps_groups_on_one_side_and_needs_both_classes():
    examples = build_examples(_docs(30, GOOD, 1, "gutenberg"), _docs(30, CRAWL, 2, "warc"), DataConfig(chunk_min_bytes=300, chunk_max_bytes=800))
    train, heldout = split_examples(examples, seed=0, fraction=0.3)
    assert {e.group for e in train}.isdisjoint({e.group for e in heldout})
    assert {e.label for e in heldout} == {0, 1}
    with pytest.raises(ConfigError, match="positive"):
        split_examples([e for e in examples if e.label == 0], seed=0, fraction=0.3)


# --- featuriser -----------------------------------------------------------------------------------


def _bags(ids, offsets):
    bounds = list(offsets) + [len(ids)]
    return [ids[bounds[i] : bounds[i + 1]].tolist() for i in range(len(offsets))]


def test_bigrams_never_cross_documents_and_empty_documents_work():
    f = Featurizer(["a", "b", "c"], buckets=97, max_tokens=3, min_n=0, max_n=0)
    uni, uo, bi, bo, sub, so, counts = f.encode(["a b", "", "c", "a b c a b"])
    assert uni.tolist() == [0, 1, 2, 0, 1, 2] and uo.tolist() == [0, 2, 2, 3]
    assert len(bi) == 1 + 0 + 0 + 2 and bo.tolist() == [0, 1, 1, 1]
    assert len(sub) == len(so) == 0 and f.subword_sizes == 0
    assert counts.tolist() == [3, 1, 1, 5]  # an empty document divides by one, not zero


def _reference_subwords(word: str, n: int, buckets: int) -> list[int]:
    """The documented hash, one n-gram at a time: polynomial over the UTF-8 bytes of " word " (mod 2**32), + n, Fibonacci-mixed, top bits."""
    data = f" {word} ".encode()
    out = []
    for i in range(len(data) - n + 1):
        h = 0
        for byte in data[i : i + n]:
            h = (h * 16_777_619 + byte) % 2**32
        out.append(((h + n) * 0x9E3779B1 % 2**32) >> (32 - (buckets.bit_length() - 1)))
    return out


def test_unknown_words_are_dropped_and_become_byte_ngrams():
    f = Featurizer(["a", "b"], buckets=97, max_tokens=8, subword_buckets=1024, min_n=3, max_n=4)
    texts = ["a zz b", "", "b", "żółw a", "a b"]
    uni, uo, bi, bo, sub, so, counts = f.encode(texts)
    assert _bags(uni, uo) == [[0, 1], [], [1], [0], [0, 1]]
    assert _bags(bi, bo) == [[f.bigram_base + 1], [], [], [], [f.bigram_base + 1]]  # "a zz b": the bigram skips the unknown word
    bags = _bags(sub, so)  # n-major: the 3-gram bags of all texts, then the 4-gram bags
    unknown = [["zz"], [], [], ["żółw"], []]
    for k, n in enumerate((3, 4)):
        expected = [[f.subword_base + b for w in words for b in _reference_subwords(w, n, 1024)] for words in unknown]
        assert bags[k * len(texts) : (k + 1) * len(texts)] == expected
    assert counts.tolist() == [2 + 1 + (2 + 1), 1, 1, 1 + (7 + 6), 2 + 1]  # " żółw " is 9 bytes
    alone = f.encode(texts[3:4])  # a text gets the same ids alone as in a batch
    assert _bags(alone[4], alone[5]) == [bags[3], bags[len(texts) + 3]]


# --- training, cards, loading ---------------------------------------------------------------------

SMALL = DataConfig(chunk_min_bytes=300, chunk_max_bytes=800, heldout_fraction=0.3)
FAST_FT = FastTextParams(dim=16, epoch=10, bucket=200_000)
FAST_TORCH = TorchParams(vocab_size=2000, buckets=1 << 12, dim=8, hidden=8, epochs=10, lr=1e-2)


@pytest.fixture(scope="module")
def corpus():
    return _docs(25, GOOD, 1, "gutenberg"), _docs(25, CRAWL, 2, "warc")


@pytest.fixture(scope="module", params=["fasttext", "torch"])
def trained(request, corpus, tmp_path_factory):
    cfg = TrainConfig(kind=request.param, seed=7, data=SMALL, fasttext=FAST_FT, torch=FAST_TORCH)
    out = str(tmp_path_factory.mktemp(request.param))
    card = train_from_documents(*corpus, out, cfg)
    return request.param, out, card, cfg


def test_card_records_data_sizes_hyperparameters_metrics_seed_and_hashes(trained):
    kind, out, card, cfg = trained
    assert card == read_card(out)
    assert card["name"] == card["column"] == f"quality_{kind}_v1" and card["seed"] == 7
    assert card["metrics"]["roc_auc"] > 0.95  # the two vocabularies are separable
    assert card["sizes"]["train_examples"] > 0 and card["sizes"]["heldout_positive"] > 0
    assert card["hyperparameters"] == cfg.hyperparameters()
    for name, digest in card["files"].items():
        with open(os.path.join(out, name), "rb") as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == digest
    assert set(card["top_features"]["positive"][:8]) & {"whereupon", "thereafter", "solemn", "meadow", "ancient", "letters", "chapter", "river", "however"}


def test_same_seed_same_weights_other_seed_other_weights(trained, corpus, tmp_path):
    kind, out, card, cfg = trained
    again = train_from_documents(*corpus, str(tmp_path / "again"), cfg)
    assert again["files"] == card["files"]
    other = train_from_documents(*corpus, str(tmp_path / "other"), TrainConfig(kind=kind, seed=8, data=SMALL, fasttext=FAST_FT, torch=FAST_TORCH))
    assert other["files"] != card["files"]


def test_scores_adversarial_inputs_deterministically(trained):
    kind, out, _, _ = trained
    model = load_model(out, device="cpu")
    texts = ["", " \n\t ", "whereupon the solemn meadow " * 20, "click subscribe cookie cart " * 20, "x" * 3_000_000,
             "Всё смешалось в доме Облонских. 一切都乱了。", "\u0000\ud7ff odd \U0001F600 chars"]
    scores = model.score(texts)
    assert scores.dtype == np.float32 and scores.shape == (len(texts),)
    assert np.all((scores >= 0) & (scores <= 1))
    assert scores[2] > 0.5 > scores[3]
    assert np.array_equal(model.score(texts), scores)
    single = np.array([model.score([t])[0] for t in texts], dtype=np.float32)
    assert np.allclose(single, scores, atol=1e-6)  # batch composition does not change a score


def test_corrupt_or_missing_model_files_fail_naming_the_file(trained, tmp_path):
    import shutil

    kind, out, card, _ = trained
    broken = str(tmp_path / "broken")
    shutil.copytree(out, broken)
    weights = "model.bin" if kind == "fasttext" else "model.pt"
    with open(os.path.join(broken, weights), "r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00garbage\x00")
    with pytest.raises(ModelError, match=f"{weights}: model file is corrupt"):
        load_model(broken, device="cpu")
    os.remove(os.path.join(broken, weights))
    with pytest.raises(ModelError, match=f"{weights}: model file is missing"):
        load_model(broken, device="cpu")
    with open(os.path.join(broken, "card.json"), "w") as handle:
        handle.write("{not json")
    with pytest.raises(ModelError, match="card.json: model card is not valid JSON"):
        load_model(broken, device="cpu")
    with pytest.raises(ModelError, match="model card not found"):
        load_model(str(tmp_path / "nowhere"))
    with pytest.raises(OutputExistsError):
        train_from_documents([], [], out)


def test_torch_weights_are_never_unpickled(tmp_path, trained):
    """A model.pt carrying a pickled object (with a card that vouches for it) is refused by weights_only."""
    import pickle

    import torch

    kind, out, card, _ = trained
    if kind != "torch":
        pytest.skip("torch only")

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    evil_dir = tmp_path / "evil"
    evil_dir.mkdir()
    buffer = io.BytesIO()
    torch.save({"embedding.weight": Payload()}, buffer, pickle_module=pickle)
    (evil_dir / "model.pt").write_bytes(buffer.getvalue())
    (evil_dir / "vocab.json").write_bytes(open(os.path.join(out, "vocab.json"), "rb").read())
    evil_card = dict(card, files={"model.pt": hashlib.sha256(buffer.getvalue()).hexdigest(), "vocab.json": card["files"]["vocab.json"]})
    (evil_dir / "card.json").write_text(json.dumps(evil_card))
    with pytest.raises(ModelError, match="model.pt: cannot load the torch weights"):
        load_model(str(evil_dir), device="cpu")
    assert not (tmp_path / "pwned").exists()


def test_torch_model_of_another_featurizer_version_is_refused(tmp_path, trained):
    """A version-1 model dir (unknown words as one id, no subwords) must not be scored with version-2 ids."""
    import shutil

    kind, out, card, _ = trained
    if kind != "torch":
        pytest.skip("torch only")
    assert card["hyperparameters"]["featurizer_version"] == 2
    old = tmp_path / "v1"
    shutil.copytree(out, old)
    config = json.loads((old / "vocab.json").read_text())
    v1 = {k: config[k] for k in ("vocab", "buckets", "max_tokens", "dim", "hidden")}  # what version 1 wrote
    blob = json.dumps(v1).encode()
    (old / "vocab.json").write_bytes(blob)
    (old / "card.json").write_text(json.dumps(dict(card, files=dict(card["files"], **{"vocab.json": hashlib.sha256(blob).hexdigest()}))))
    with pytest.raises(ModelError, match="vocab.json: written for torch featurizer version 1, this tailmine reads version 2.*retrain"):
        load_model(str(old), device="cpu")


def test_device_selection():
    import torch

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(ModelError, match="use auto, cpu"):
        resolve_device("tpu")


def test_train_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="kind"):
        TrainConfig(kind="bert")
    with pytest.raises(ConfigError, match="heldout_fraction"):
        DataConfig(heldout_fraction=1.5)


def test_fasttext_weights_do_not_depend_on_what_the_process_freed_before(corpus, tmp_path):
    """Regression: fastText 0.9.3 leaves 90% of its input matrix uninitialised with thread=1, so a heap
    holding freed NaNs gave "Encountered NaN" or other weights. The training child zero-fills allocations:
    a child that first fills and frees 16 MB of NaN must still write the same model.bin."""
    import subprocess
    import sys

    from tailmine.classifiers.fasttext_model import determinism, train_fasttext, training_env

    examples = build_examples(*corpus, SMALL)
    texts, labels = [e.text for e in examples], [e.label for e in examples]
    reference = str(tmp_path / "reference.bin")
    train_fasttext(texts, labels, FAST_FT, 3, reference)
    train_file = tmp_path / "train.txt"
    order = list(range(len(texts)))
    random.Random(3).shuffle(order)  # the order train_fasttext writes
    train_file.write_text("".join(f"{'__label__hq' if labels[i] else '__label__cc'} {texts[i]}\n" for i in order))
    polluted = str(tmp_path / "polluted.bin")
    args = {"input": str(train_file), "output": polluted, "seed": 3, **FAST_FT.to_dict()}
    script = (
        "import json, sys, numpy as np\n"
        "for _ in range(3):\n    junk = np.full(4_000_000, np.nan, dtype=np.float32); del junk\n"
        "from tailmine.classifiers.fasttext_model import _train_in_this_process\n"
        "_train_in_this_process(json.loads(sys.argv[1]))\n"
    )
    child = subprocess.run([sys.executable, "-c", script, json.dumps(args)], env=training_env(), capture_output=True, text=True)
    assert child.returncode == 0, child.stderr
    assert determinism()["same_seed_same_weights"]
    assert open(polluted, "rb").read() == open(reference, "rb").read()


def test_fasttext_training_errors_are_clear():
    from tailmine.classifiers.fasttext_model import train_fasttext

    with pytest.raises(ModelError, match="no negative example"):
        train_fasttext(["a b c"] * 4, [1] * 4, FAST_FT, 0, "/tmp/unused.bin")
    with pytest.raises(ModelError, match="lr=50"):
        train_fasttext(["a b c", "d e f"], [1, 0], FastTextParams(lr=50.0), 0, "/tmp/unused.bin")


def test_group_keys_do_not_depend_on_where_the_data_was_unpacked():
    """A key built from a temp path would move documents across the held-out split from run to run."""
    from tailmine.classifiers.data import document_units

    def keys(prefix):
        doc = {"text": "a page of text " * 20, "source": "html", "url": f"{prefix}/pages/abc.html", "title": None, "source_file": f"{prefix}/pages/abc.html"}
        return [k for k, _ in document_units(doc)]

    assert keys("/tmp/pytest-of-root/pytest-1/t0") == keys("/tmp/elsewhere/run-2")


def test_unpacked_pages_keep_their_split_group_wherever_they_are_unpacked(tmp_path):
    """Pages without a URL are grouped by stable_file_key; unpacking the same tarball into two folders
    of different names must give the same keys (else the held-out set moves with a temp-dir name)."""
    import io
    import tarfile

    from tailmine.classifiers.data import unpack_html_pages
    from tailmine.fileio import stable_file_key

    tarball = tmp_path / "pages-set.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        for name, body in (("site/a.html", b"<p>one</p>"), ("site/b/expected.html", b"x"), ("site/c.htm", b"<p>two</p>")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    first = unpack_html_pages(str(tarball), str(tmp_path / "pages0"))
    second = unpack_html_pages(str(tarball), str(tmp_path / "elsewhere-xyz"))
    assert len(first) == 2 and [stable_file_key(p) for p in first] == [stable_file_key(p) for p in second]
    assert stable_file_key(first[0]) == "pages-set/site_a.html"
