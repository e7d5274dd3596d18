"""Decontamination: recall and false positives measured on real eval sets planted into real documents,
plus the stage end to end (drop, excise, contamination.parquet, manifest summary, determinism)."""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import random
import tarfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tailmine.errors import ConfigError, InputError
from tailmine.filters.decontam import DecontamConfig, EvalIndex, EvalItem, document_words, excise, normalize_words, read_eval_items
from tailmine.pipelines import decontaminate
from tailmine.stages import COMMANDS

from conftest import TEST_BEAM_ARGS

EDIT_WORDS = ["blue", "system", "river", "quite", "very", "also"]


def edit(text: str, rng: random.Random, rate: float = 0.05) -> str:
    """The issue's light edit: 5% word substitutions/deletions/insertions, case, punctuation, line breaks."""
    out = []
    for word in text.split():
        if rng.random() < rate:
            kind = rng.choice(["sub", "del", "ins"])
            if kind == "sub":
                out.append(rng.choice(EDIT_WORDS))
            elif kind == "ins":
                out += [word, rng.choice(EDIT_WORDS)]
            continue
        out.append(word)
    text = " ".join(out)
    text = text.upper() if rng.random() < 0.3 else text.lower()
    return text.replace(",", "").replace("?", " ?").replace(". ", " .\n").replace("  ", " \n ")


def plant(doc: str, item: str, rng: random.Random) -> str:
    cut = rng.randrange(len(doc) + 1)
    while 0 < cut < len(doc) and not doc[cut - 1].isspace():  # between words, as a copy would sit
        cut -= 1
    return doc[:cut] + "\n" + item + "\n" + doc[cut:]


@pytest.fixture(scope="module")
def eval_files(corpora, tmp_path_factory):
    """Real eval sets: gsm8k, NQ-open, HumanEval as shipped (.jsonl.gz); 20 MMLU subjects (CSV) and
    10 BBH tasks (JSON with "examples") unpacked from their tarballs."""
    root = tmp_path_factory.mktemp("eval")
    ev = corpora / "eval"
    files = [str(ev / "gsm8k-test.jsonl.gz"), str(ev / "nq-open-dev.jsonl.gz"), str(ev / "humaneval.jsonl.gz")]
    with tarfile.open(ev / "mmlu-test-57-subjects.tar.gz") as tar:
        members = sorted((m for m in tar.getmembers() if m.name.endswith(".csv")), key=lambda m: m.name)[:20]
        tar.extractall(root, members=members, filter="data")
        files += [str(root / m.name) for m in members]
    with tarfile.open(ev / "bbh-27-tasks.tar.gz") as tar:
        members = sorted((m for m in tar.getmembers() if m.name.endswith(".json")), key=lambda m: m.name)[:10]
        tar.extractall(root, members=members, filter="data")
        files += [str(root / m.name) for m in members]
    return files


@pytest.fixture(scope="module")
def clean_docs(corpora):
    """Real documents: web pages (two HTML test sets, extracted), CCNet records, Gutenberg chunks."""
    from tailmine.ingest.decode import decode_text
    from tailmine.ingest.extract import get_extractor

    extract = get_extractor("tailmine")
    docs = []
    for name in ("scrapinghub-aeb-pages", "readability-test-pages"):
        with tarfile.open(corpora / "web" / "html" / f"{name}.tar.gz") as tar:
            for member in sorted(tar.getmembers(), key=lambda m: m.name):
                if member.isfile() and member.name.endswith((".html", ".htm")):
                    text = extract(decode_text(tar.extractfile(member).read(), html=True)[0]).text
                    if len(text.split()) >= 50:
                        docs.append(text)
    for path in sorted((corpora / "web" / "ccnet").glob("*.jsonl.gz")):
        docs += [json.loads(line)["text"] for line in gzip.open(path, "rt", encoding="utf-8")]
    for path in sorted((corpora / "books" / "gutenberg").glob("*.txt.gz"))[:10]:
        text = gzip.open(path, "rt", encoding="utf-8-sig").read()
        docs += [text[i : i + 6000] for i in range(20000, min(len(text), 140000), 12000)]
    assert len(docs) >= 400
    return docs


@pytest.fixture(scope="module")
def index(eval_files):
    cfg = DecontamConfig()
    return EvalIndex([item for path in eval_files for item in read_eval_items(path, cfg)], cfg)


def test_recall_verbatim_and_edited_and_false_positives_on_real_data(index, clean_docs):
    """Targets from the issue: recall >= 0.98 verbatim, >= 0.90 lightly edited; false positives <= 0.5%
    of clean documents. Items are sampled across every eval set (equal numbers per family)."""
    rng = random.Random(4)
    false_positives = [i for i, doc in enumerate(clean_docs) if index.match(doc)]
    assert len(false_positives) <= 0.005 * len(clean_docs), false_positives

    families: dict[str, list[int]] = {}
    for i, item in enumerate(index.items):
        if index.item_ids[i] is not None:
            name = Path(item.eval_file).name
            family = "mmlu" if name.endswith(".csv") else "bbh" if name.endswith(".json") else name
            families.setdefault(family, []).append(i)
    assert set(families) == {"gsm8k-test.jsonl.gz", "nq-open-dev.jsonl.gz", "humaneval.jsonl.gz", "mmlu", "bbh"}
    sample = [i for fam in sorted(families) for i in rng.sample(families[fam], 60)]
    verbatim = edited = 0
    missed_edited = {}
    for i in sample:
        text = index.items[i].text
        verbatim += any(m.item == i for m in index.match(plant(rng.choice(clean_docs), text, rng)))
        hit = any(m.item == i for m in index.match(plant(rng.choice(clean_docs), edit(text, rng), rng)))
        edited += hit
        if not hit:
            missed_edited[Path(index.items[i].eval_file).name] = missed_edited.get(Path(index.items[i].eval_file).name, 0) + 1
    assert verbatim / len(sample) >= 0.98, verbatim
    assert edited / len(sample) >= 0.90, (edited, missed_edited)


def test_edits_are_what_break_plain_13_grams(index, clean_docs):
    """The measurement can fail: a plain 13-gram matcher (GPT-3) misses many of the same edited items."""
    rng = random.Random(5)
    long_items = [i for i, ids in enumerate(index.item_ids) if ids is not None and len(ids) >= 30]
    exact13 = ours = 0
    for i in rng.sample(long_items, 80):
        edited_text = edit(index.items[i].text, random.Random(i))
        words = normalize_words(edited_text)[0]
        item_words = normalize_words(index.items[i].text)[0]
        grams = {tuple(item_words[j : j + 13]) for j in range(len(item_words) - 12)}
        covered = set()
        for j in range(len(words) - 12):
            if tuple(words[j : j + 13]) in grams:
                covered.update(range(j, j + 13))
        exact13 += len(covered) >= 0.8 * len(item_words)
        ours += any(m.item == i and m.overlap >= 0.8 for m in index.match(edited_text))
    assert ours >= 72 and exact13 <= 0.75 * ours, (ours, exact13)


def _items(*texts, eval_file="mmlu.csv"):
    return [EvalItem(eval_file, i, str(i), t) for i, t in enumerate(texts)]


def test_short_mmlu_style_items():
    q = "Which of these organs produces insulin in the human body"  # 10 words
    cfg = DecontamConfig()
    index = EvalIndex(_items(q, "What is the capital of France", "Find the degree of the field extension Q(sqrt(2))"), cfg)
    assert index.skipped == {"mmlu.csv": 1}  # the 6-word item is too generic to attribute
    prose = "Endocrinology is a broad field. The pancreas sits behind the stomach and has two roles. "
    assert [m.item for m in index.match(prose + q + " " + prose)] == [0]
    assert [m.item for m in index.match(prose + "which of these organs produces INSULIN in the human body?" + prose)] == [0]
    assert [m.item for m in index.match(prose + "Which of these organs makes insulin in the human body" + prose)] == [0]  # one word edited
    # the same words out of order, or only half of them, are not a copy
    assert index.match(prose + "The human body: which organs produce insulin? These ones in the pancreas." + prose) == []
    assert index.match(prose + "Which of these organs do you know?" + prose) == []
    assert [m.item for m in index.match("find the degree of the field extension q sqrt 2 over q")] == [2]


def test_eval_item_longer_than_the_document():
    long_item = " ".join(f"word{i} common" for i in range(60))  # 120 words
    index = EvalIndex(_items(long_item), DecontamConfig())
    words = long_item.split()
    part = index.match(" ".join(words[:48]))  # 40% of the item: above min_overlap 0.3
    assert [m.item for m in part] == [0] and part[0].overlap == pytest.approx(0.4)
    assert index.match(" ".join(words[:20])) == []  # 17%: below min_overlap
    assert index.match("word1 common") == [] and index.match("") == []
    whole = index.match("Intro. " + long_item + " Outro.")
    assert whole[0].overlap == 1.0


def test_excise_cuts_the_matched_span_only():
    q = "Janet's ducks lay 16 eggs per day and she eats three for breakfast every morning"
    index = EvalIndex(_items(q), DecontamConfig(action="excise"))
    doc = "Before the copy we talk about farming.\n" + q + "\nAfter the copy we talk about markets."
    (m,) = index.match(doc)
    assert excise(doc, m.spans) == "Before the copy we talk about farming.\n\nAfter the copy we talk about markets."


def test_reads_every_format_and_names_unknown_fields(tmp_path):
    cfg = DecontamConfig()
    (tmp_path / "a.jsonl").write_text('{"question": "q one", "id": "x1"}\n\n{"question": "q two"}\n')
    (tmp_path / "b.json").write_text(json.dumps({"examples": [{"input": "bbh item", "target": "A"}]}))
    (tmp_path / "c.csv").write_text('question,choice0\n"a, quoted question",yes\n')
    (tmp_path / "d.txt.gz").write_bytes(gzip.compress(b"line one\n\nline two\n"))
    pq.write_table(pa.table({"prompt": ["p0", "p1"], "task_id": ["T/0", "T/1"]}), tmp_path / "e.parquet")
    (tmp_path / "empty.jsonl").write_text("")
    got = {p: [(it.index, it.item_id, it.text) for it in read_eval_items(str(tmp_path / p), cfg)]
           for p in ("a.jsonl", "b.json", "c.csv", "d.txt.gz", "e.parquet", "empty.jsonl")}
    assert got == {
        "a.jsonl": [(0, "x1", "q one"), (1, "1", "q two")],
        "b.json": [(0, "0", "bbh item")],
        "c.csv": [(0, "0", "a, quoted question")],
        "d.txt.gz": [(0, "0", "line one"), (1, "1", "line two")],
        "e.parquet": [(0, "T/0", "p0"), (1, "T/1", "p1")],
        "empty.jsonl": [],
    }
    with pytest.raises(InputError, match="none of the eval fields body"):
        read_eval_items(str(tmp_path / "a.jsonl"), DecontamConfig(eval_fields=("body",)))
    assert [it.text for it in read_eval_items(str(tmp_path / "c.csv"), DecontamConfig(eval_fields=("choice0",)))] == ["yes"]
    with pytest.raises(ConfigError, match="min_identity"):
        DecontamConfig(min_identity=0)
    with pytest.raises(ConfigError, match="eval: at least one"):
        decontaminate.load_index(DecontamConfig())


# --- the stage end to end -------------------------------------------------------------------------

GSM = "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total does it take?"
NQ = "who sang the theme song for the tv show cheers"
FILLER = "The harbour was quiet that morning, and the fishing boats had not yet gone out to sea. "


STAGE_DOCS = [
    ("clean-1", FILLER * 3),
    ("gsm-verbatim", FILLER + GSM + " " + FILLER),
    ("nq-edited", FILLER + "Who sang the theme song for the TV show Cheers?" + FILLER),
    ("both", GSM.lower() + "\n" + NQ),
    ("only-item", GSM),
    ("clean-2", "Which bolts does the robe take? Fiber, blue and white, for the show. " * 3),
]


@pytest.fixture
def stage_input(tmp_path, ingest):
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in STAGE_DOCS))
    ingest([tmp_path / "docs.jsonl"], out=tmp_path / "ingest")
    (tmp_path / "gsm.jsonl").write_text(json.dumps({"question": GSM, "answer": "3"}) + "\n")
    (tmp_path / "nq.jsonl.gz").write_bytes(gzip.compress((json.dumps({"question": "short one"}) + "\n" + json.dumps({"question": NQ, "id": "nq-7"}) + "\n").encode()))
    (tmp_path / "empty.jsonl").write_text("")
    return tmp_path, [str(tmp_path / "gsm.jsonl"), str(tmp_path / "nq.jsonl.gz"), str(tmp_path / "empty.jsonl")]


def _run(tmp_path, evals, out="decontam", **cfg):
    return decontaminate.run(str(tmp_path / "ingest"), evals, str(tmp_path / out), DecontamConfig(**cfg), TEST_BEAM_ARGS, force=True, progress=False)


def _table(out_dir, shards):
    return pa.concat_tables([pq.read_table(Path(out_dir) / s.path) for s in shards]) if shards else None


def test_stage_drops_and_writes_contamination_file_and_summary(stage_input):
    tmp_path, evals = stage_input
    manifest = _run(tmp_path, evals)
    out = tmp_path / "decontam"
    c = manifest.counts
    assert (c.input, c.output, c.dropped) == (6, 2, {"contaminated": 4})
    assert sorted(_table(out, manifest.outputs).column("id").to_pylist()) == ["clean-1", "clean-2"]
    removed = _table(out, manifest.removed)
    assert set(removed.column("drop_reason").to_pylist()) == {"contaminated"}
    audit = pq.read_table(out / "contamination.parquet").to_pylist()
    assert [(r["id"], Path(r["eval_file"]).name, r["item_index"], r["item_id"], r["kept"]) for r in audit] == [
        ("both", "gsm.jsonl", 0, "0", False),
        ("both", "nq.jsonl.gz", 1, "nq-7", False),
        ("gsm-verbatim", "gsm.jsonl", 0, "0", False),
        ("nq-edited", "nq.jsonl.gz", 1, "nq-7", False),
        ("only-item", "gsm.jsonl", 0, "0", False),
    ]
    assert all(r["overlap"] == 1.0 for r in audit)
    summary = {Path(k).name: v for k, v in manifest.extra["decontamination"].items()}
    # every document is under excise_min_words, so the default (auto) drops it: all its tokens are removed
    docs = {i: t for i, t in STAGE_DOCS}
    gsm_tokens = sum(len(document_words(docs[i])) for i in ("gsm-verbatim", "both", "only-item"))
    nq_tokens = sum(len(document_words(docs[i])) for i in ("nq-edited", "both"))
    assert summary == {
        "gsm.jsonl": {"items": 1, "items_too_short": 0, "items_found": 1, "documents_affected": 3,
                      "documents_excised": 0, "documents_dropped": 3, "tokens_removed": gsm_tokens},
        "nq.jsonl.gz": {"items": 2, "items_too_short": 1, "items_found": 1, "documents_affected": 2,
                        "documents_excised": 0, "documents_dropped": 2, "tokens_removed": nq_tokens},
        "empty.jsonl": {"items": 0, "items_too_short": 0, "items_found": 0, "documents_affected": 0,
                        "documents_excised": 0, "documents_dropped": 0, "tokens_removed": 0},
    }
    assert {r["action"] for r in audit} == {"drop"}
    # balances: every dropped document is in the audit file, and nothing else is
    assert manifest.extra["documents_affected"] == c.dropped["contaminated"] == len({r["id"] for r in audit})
    assert c.input == c.output + sum(c.dropped.values())
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["extra"]["decontamination"] == manifest.extra["decontamination"]


def test_stage_excise_keeps_documents_and_removes_spans(stage_input):
    tmp_path, evals = stage_input
    manifest = _run(tmp_path, evals, action="excise")
    out = tmp_path / "decontam"
    # only-item and both are nothing but items: no words are left, so they are dropped
    assert (manifest.counts.output, manifest.counts.dropped) == (4, {"contaminated": 2})
    kept = {r["id"]: r["text"] for r in _table(out, manifest.outputs).to_pylist()}
    assert kept["clean-1"].split() == (FILLER * 3).split()
    assert normalize_words(kept["gsm-verbatim"])[0] == normalize_words(FILLER + FILLER)[0]  # words of the item are gone
    assert "Cheers" not in kept["nq-edited"] and kept["nq-edited"].count("harbour") == 2
    audit = pq.read_table(out / "contamination.parquet").to_pylist()
    assert {(r["id"], r["kept"]) for r in audit} == {("both", False), ("gsm-verbatim", True), ("nq-edited", True), ("only-item", False)}


def test_stage_is_deterministic_and_config_driven(stage_input):
    from tailmine.stages import build_stage_config

    tmp_path, evals = stage_input
    a = _run(tmp_path, evals, out="a")
    cfg = build_stage_config("decontaminate", DecontamConfig, {"eval": evals, "min_overlap": 0.3})
    b = decontaminate.run_from_config(str(tmp_path / "ingest"), str(tmp_path / "b"), cfg, TEST_BEAM_ARGS, force=True, resume=False)
    assert a.counts == b.counts and a.parameters == b.parameters and a.extra == b.extra
    for x, y in zip(a.outputs + a.removed, b.outputs + b.removed):
        assert pq.read_table(tmp_path / "a" / x.path).equals(pq.read_table(tmp_path / "b" / y.path))
    assert pq.read_table(tmp_path / "a" / "contamination.parquet").equals(pq.read_table(tmp_path / "b" / "contamination.parquet"))
    with pytest.raises(ConfigError, match="decontaminate.evals: unknown setting"):
        build_stage_config("decontaminate", DecontamConfig, {"evals": evals})


def test_cli_entry_points(stage_input, capsys):
    tmp_path, evals = stage_input
    parser = argparse.ArgumentParser()
    COMMANDS["decontaminate"].add_arguments(parser)
    args = parser.parse_args(["--in", str(tmp_path / "ingest"), "--eval", *evals[:2], "--eval-field", "question",
                              "--out", str(tmp_path / "cli"), "--min-overlap", "0.5", "--no-progress"])
    assert decontaminate.main(args, TEST_BEAM_ARGS) == 0
    printed = capsys.readouterr().out
    assert "dropped" in printed and "contaminated" in printed and "1/2 items found in 2 documents" in printed
    manifest = json.loads((tmp_path / "cli" / "manifest.json").read_text())
    assert manifest["parameters"]["min_overlap"] == 0.5 and manifest["parameters"]["eval_fields"] == ["question"]
    args = parser.parse_args(["--in", str(tmp_path / "ingest"), "--eval", evals[0], "--eval-field", "body", "--out", str(tmp_path / "x")])
    with pytest.raises(InputError, match="body"):
        decontaminate.main(args, TEST_BEAM_ARGS)


# --- default action on real books; eval archives and folders ----------------------------------------

def test_default_excises_one_gsm8k_item_from_a_real_book_and_leaves_a_clean_book_untouched(corpora, tmp_path, ingest):
    """Issue 15: a book holding one eval item keeps >= 99% of its text with the item removed (the default
    action excises in documents of >= 2,000 words); a clean book comes out byte for byte."""
    books = corpora / "books" / "gutenberg"
    book = gzip.open(books / "11-0.txt.gz", "rt", encoding="utf-8-sig").read()
    clean = gzip.open(books / "1155-0.txt.gz", "rt", encoding="utf-8-sig").read()
    gsm = str(corpora / "eval" / "gsm8k-test.jsonl.gz")
    question = json.loads(gzip.open(gsm, "rt").readline())["question"]
    middle = book.index("\n\n", len(book) // 2)
    contaminated = book[:middle] + "\n\n" + question + book[middle:]
    (tmp_path / "books.jsonl").write_text(json.dumps({"id": "book", "text": contaminated}) + "\n" + json.dumps({"id": "clean", "text": clean}) + "\n")
    _, ingested, _ = ingest([tmp_path / "books.jsonl"], out=tmp_path / "ingest")
    before = dict(zip(ingested.column("id").to_pylist(), ingested.column("text").to_pylist()))
    manifest = decontaminate.run(str(tmp_path / "ingest"), [gsm], str(tmp_path / "d"), None, TEST_BEAM_ARGS, force=True, progress=False)
    assert (manifest.counts.output, manifest.counts.dropped) == (2, {})
    kept = {r["id"]: r["text"] for r in _table(tmp_path / "d", manifest.outputs).to_pylist()}
    assert kept["clean"] == before["clean"] and len(before["clean"]) > 100_000
    assert question in before["book"] and question not in kept["book"]
    assert len(kept["book"]) >= 0.99 * len(before["book"])
    assert normalize_words(kept["book"])[0] == normalize_words(book)[0]  # exactly the question's words are gone
    (summary,) = manifest.extra["decontamination"].values()
    assert (summary["items_found"], summary["documents_excised"], summary["documents_dropped"]) == (1, 1, 0)
    assert summary["tokens_removed"] == len(document_words(question))


def test_eval_archives_load_as_archives_of_eval_files(corpora):
    """MMLU's CSVs and BBH's JSON files are read straight from their .tar.gz (never as text); BBH's README
    is skipped with a note."""
    cfg = DecontamConfig()
    mmlu, bbh = str(corpora / "eval" / "mmlu-test-57-subjects.tar.gz"), str(corpora / "eval" / "bbh-27-tasks.tar.gz")
    notes = []
    mmlu_items = read_eval_items(mmlu, cfg, notes)
    bbh_items = read_eval_items(bbh, cfg, notes)
    assert len(mmlu_items) == 14042 and len({it.eval_file for it in mmlu_items}) == 57
    assert len(bbh_items) == 6511 and len({it.eval_file for it in bbh_items}) == 27
    assert {it.eval_set for it in mmlu_items} == {mmlu} and mmlu_items[0].eval_file.startswith(mmlu + "::test/")
    assert notes == [f"{bbh}::bbh/README.md: skipped: documentation, not eval items"]
    first = mmlu_items[0]
    with tarfile.open(mmlu) as tar:
        rows = list(csv.DictReader(io.StringIO(tar.extractfile(first.eval_file.split("::")[1]).read().decode())))
    assert first.text == rows[0]["question"]


def test_unreadable_archive_names_the_file_and_member(corpora, tmp_path):
    data = (corpora / "eval" / "bbh-27-tasks.tar.gz").read_bytes()
    cut = tmp_path / "bbh-cut.tar.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"bbh-cut\.tar\.gz.*member.*bbh/"):
        read_eval_items(str(cut), DecontamConfig())
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match=r"broken\.zip: not a readable archive"):
        read_eval_items(str(broken), DecontamConfig())
    bad_member = tmp_path / "bad-member.zip"
    with zipfile.ZipFile(bad_member, "w") as z:
        z.writestr("sets/ok.jsonl", json.dumps({"question": GSM}) + "\n")
        z.writestr("sets/bad.jsonl.gz", b"\x1f\x8b\x08\x00 truncated gzip")
    with pytest.raises(InputError, match=r"bad-member\.zip: member sets/bad\.jsonl\.gz"):
        read_eval_items(str(bad_member), DecontamConfig())


def test_eval_folders_skip_readme_and_license_with_a_note_and_unknown_files_are_errors(tmp_path):
    folder = tmp_path / "evals"
    folder.mkdir()
    (folder / "README.md").write_text("# My eval sets\nWhich of these organs produces insulin in the human body?\n")
    (folder / "LICENSE").write_text("MIT License\n")
    (folder / "gsm.jsonl").write_text(json.dumps({"question": GSM}) + "\n")
    with zipfile.ZipFile(folder / "more.zip", "w") as z:
        z.writestr("nq.jsonl", json.dumps({"question": NQ}) + "\n")
        z.writestr("LICENSE.txt", "Apache License 2.0, every line of it\n")
    notes = []
    index, paths, _ = decontaminate.load_index(DecontamConfig(eval=(str(folder),)), notes)
    assert [Path(p).name for p in paths] == ["gsm.jsonl", "more.zip"]
    assert sorted(it.text for it in index.items) == sorted([GSM, NQ])
    assert sorted(Path(n.split(":")[0]).name for n in notes) == ["LICENSE", "README.md", "more.zip"]
    assert any("more.zip::LICENSE.txt: skipped" in n for n in notes)
    with pytest.raises(InputError, match=r"README\.md: not an eval file format"):
        decontaminate.load_index(DecontamConfig(eval=(str(folder / "README.md"),)))
    with pytest.raises(ConfigError, match="action"):
        DecontamConfig(action="cut")
    with pytest.raises(ConfigError, match="excise_min_words"):
        DecontamConfig(excise_min_words=0)
