"""Dedup kernels against datasketch (the oracle), planted near-duplicates of real texts, and the stage."""
import gzip
import hashlib
import json
import os
import random

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import TEST_BEAM_ARGS
from tailmine.dedup import components as cc
from tailmine.dedup.config import DedupConfig
from tailmine.dedup.lsh import (
    all_pairs, band_keys, bucket_edges, collision_probability, near_duplicate_edges, optimal_bands_rows,
)
from tailmine.dedup.minhash import EMPTY, MinHasher, normalize, text_hash
from tailmine.dedup.planner import plan
from tailmine.stages import COMMANDS

datasketch = pytest.importorskip("datasketch")


def _book_chunks(corpora, n_books=12, words=220, per_book=15):
    """Real English prose: consecutive chunks of Gutenberg books, past the licence header."""
    chunks = []
    books = sorted(p for p in (corpora / "books" / "gutenberg").glob("*.txt.gz") if not p.name.startswith(("fr__", "es__")))
    for path in books[:n_books]:
        words_all = gzip.open(path, "rt", encoding="utf-8-sig").read().split()
        start = len(words_all) // 5
        for k in range(per_book):
            chunk = words_all[start + k * words : start + (k + 1) * words]
            if len(chunk) == words:
                chunks.append(" ".join(chunk))
    return chunks


def _edit(rng, text, rate, vocabulary):
    """Replace, delete or insert ``rate`` of the words (at random positions)."""
    words = text.split()
    for _ in range(max(1, round(rate * len(words)))):
        i = rng.randrange(len(words))
        op = rng.random()
        if op < 0.5:
            words[i] = rng.choice(vocabulary)
        elif op < 0.75 and len(words) > 1:
            del words[i]
        else:
            words.insert(i, rng.choice(vocabulary))
    return " ".join(words)


def _jaccard(a, b):
    a, b = set(a.tolist()), set(b.tolist())
    return len(a & b) / len(a | b) if a | b else 1.0


# --- normalisation and the exact key ---------------------------------------------------------------


def test_exact_key_ignores_case_width_and_whitespace_but_not_words():
    mh = MinHasher(num_perm=16)
    texts = ["Hello  World\n", "hello world", "ＨＥＬＬＯ　world", " HELLO\tWORLD ", "hello, world", "hello worlds", ""]
    _, exact = mh.sketch(texts)
    keys = [tuple(e) for e in exact.tolist()]
    assert len({keys[0], keys[1], keys[2], keys[3]}) == 1
    assert len(set(keys[3:])) == 4
    # The kernel's key is equal exactly when the Python normalisation is equal.
    assert len({text_hash(normalize(t)) for t in texts[:4]}) == 1 and normalize(texts[2]) == "hello world"


def test_empty_and_punctuation_only_documents_have_no_shingles():
    mh = MinHasher(num_perm=8)
    sig, _ = mh.sketch(["", "!!! ...", None, "word"])
    assert (sig[:3] == EMPTY).all() and not (sig[3] == EMPTY).all()


def test_unspaced_scripts_get_character_ngrams():
    mh = MinHasher(ngram=5)
    assert len(mh.shingles("我们今天去北京看长城")) == 10 - 5 + 1
    assert len(mh.shingles("ภาษาไทยไม่มีช่องว่าง")) > 1
    assert len(mh.shingles("one two three four five six")) == 2
    # Mixed text: words stay words, each Han character is a token.
    assert len(mh.shingles("tailmine 处理 data")) == 1  # 4 tokens < 5: one shingle of all


def test_lone_surrogate_is_signed_as_a_question_mark_not_an_error():
    """Text decoded with surrogateescape reaches the Python API; the batch must still be signed."""
    mh = MinHasher(num_perm=16)
    texts = ["one two three four five \udcff six", "one two three four five ? six", "clean text here"]
    sig, exact = mh.sketch(texts)
    assert (sig[0] == sig[1]).all() and tuple(exact[0]) == tuple(exact[1])
    assert tuple(exact[2]) == tuple(mh.sketch(["clean text here"])[1][0])


def test_plan_warns_when_exchange_files_dominate():
    """At Common Crawl's shape (90,000 one-file shards) the units-squared exchange files are most of
    the predicted time, and --plan says so; at 64 shards they are not, and it stays quiet."""
    cfg = DedupConfig()
    docs = 3_030_303_030
    crawl = plan(docs, docs * 3_500, [docs // 90_000] * 90_000, cfg)
    assert crawl.exchange_share() > 0.9 and "warning" in crawl.describe() and "90,000 units" in crawl.describe()
    local = plan(1_600_000, 560 * 10**6, [25_000] * 64, cfg)
    assert local.exchange_share() < 0.5 and "warning" not in local.describe()


def test_huge_document_is_signed():
    text = " ".join(f"w{i}" for i in range(400_000))
    sig = MinHasher().signatures([text, text[:1000]])
    assert sig.shape == (2, 128) and not (sig == EMPTY).any()


# --- datasketch as the oracle ---------------------------------------------------------------------


def test_signature_estimates_agree_with_datasketch_within_sampling_error(corpora):
    rng = random.Random(1)
    chunks = _book_chunks(corpora, n_books=6, per_book=6)
    vocab = " ".join(chunks).split()
    mh = MinHasher(num_perm=256, seed=3)
    ours, theirs, truth = [], [], []
    for base in chunks:
        for rate in (0.01, 0.05, 0.15):
            a, b = mh.shingles(base), mh.shingles(_edit(rng, base, rate, vocab))
            truth.append(_jaccard(a, b))
            ours.append(np.mean(mh.signature_of_shingles(np.unique(a)) == mh.signature_of_shingles(np.unique(b))))
            ds = []
            for shingles in (a, b):
                m = datasketch.MinHash(num_perm=256, seed=3)
                m.update_batch([x.tobytes() for x in np.unique(shingles)])
                ds.append(m)
            theirs.append(ds[0].jaccard(ds[1]))
    ours, theirs, truth = map(np.array, (ours, theirs, truth))
    sigma = np.sqrt(truth * (1 - truth) / 256) + 1e-3
    assert np.all(np.abs(ours - truth) < 4.5 * sigma)
    assert np.all(np.abs(ours - theirs) < 6.5 * sigma)
    assert abs(np.mean(ours - truth)) < 0.01 and abs(np.mean(theirs - truth)) < 0.01
    # The batch kernel computes the same signature as the reference formula on its own shingles.
    batch = mh.signatures(chunks[:5])
    assert all((batch[i] == mh.signature_of_shingles(mh.shingles(chunks[i]))).all() for i in range(5))


def test_band_rows_choice_matches_datasketch_for_the_same_weights():
    from datasketch.lsh import _optimal_param

    for threshold, num_perm, fp, fn in [(0.8, 128, 0.5, 0.5), (0.7, 64, 0.3, 0.7), (0.9, 256, 0.1, 0.9)]:
        assert optimal_bands_rows(threshold, num_perm, fp, fn) == tuple(_optimal_param(threshold, num_perm, fp, fn))
    bands, rows = DedupConfig().bands_rows()
    assert collision_probability(0.85, bands, rows) > 0.95 > collision_probability(0.85, *optimal_bands_rows(0.8, 128))


def test_lsh_candidates_match_datasketch_minhashlsh(corpora):
    rng = random.Random(2)
    chunks = _book_chunks(corpora, n_books=4, per_book=10)
    vocab = " ".join(chunks).split()
    texts = chunks + [_edit(rng, c, rng.choice([0.01, 0.03, 0.08]), vocab) for c in chunks for _ in range(2)]
    bands, rows = 16, 8
    sig = MinHasher(num_perm=128).signatures(texts)
    ours = all_pairs(band_keys(sig, bands, rows).ravel(), np.repeat(np.arange(len(texts)), bands))
    lsh = datasketch.MinHashLSH(num_perm=128, params=(bands, rows))
    hashes = [datasketch.MinHash(num_perm=128, hashvalues=s.astype(np.uint64), scheme="affine32") for s in sig]
    for i, m in enumerate(hashes):
        lsh.insert(i, m)
    theirs = {(min(i, j), max(i, j)) for i, m in enumerate(hashes) for j in lsh.query(m) if j != i}
    assert ours == theirs and len(ours) > len(chunks)
    # Star edges of the buckets connect the same components as all pairs.
    star = bucket_edges(band_keys(sig, bands, rows).ravel(), np.repeat(np.arange(len(texts)), bands))
    assert cc.components_local(star) == cc.components_local(np.array(sorted(ours)))


# --- planted near-duplicates of real texts --------------------------------------------------------


def test_planted_near_duplicates_recall_and_false_positives(corpora):
    rng = random.Random(7)
    chunks = _book_chunks(corpora)
    vocab = " ".join(chunks).split()
    rates = [0.01, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3]
    texts, planted = list(chunks), []
    for i, base in enumerate(chunks):
        for rate in rates:
            planted.append((i, len(texts)))
            texts.append(_edit(rng, base, rate, vocab))
    cfg = DedupConfig()
    mh = MinHasher(cfg.num_perm, cfg.ngram, cfg.seed)
    shingles = [mh.shingles(t) for t in texts]
    sig = mh.signatures(texts)
    bands, rows = cfg.bands_rows()
    edges = near_duplicate_edges(sig, bands, rows, cfg.threshold - cfg.verify_slack)
    label = cc.components_local(edges)
    high = [(a, b) for a, b in planted if _jaccard(shingles[a], shingles[b]) >= cfg.threshold + 0.05]
    found = sum(1 for a, b in high if a in label and label.get(a) == label.get(b))
    assert len(high) > 150
    assert found / len(high) >= 0.95, f"recall {found / len(high):.3f} on {len(high)} pairs"
    bad = sum(1 for a, b in edges.tolist() if _jaccard(shingles[a], shingles[b]) < cfg.threshold - 0.2)
    assert len(edges) and bad / len(edges) < 0.02


# --- components and survivors ---------------------------------------------------------------------


def test_partitioned_label_propagation_equals_union_find():
    rng = np.random.default_rng(0)
    nodes = np.concatenate([cc.node_ids(u, rng.choice(1000, 60, replace=False)) for u in range(4)])
    edges = nodes[rng.integers(0, len(nodes), (150, 2))]
    edges = edges[edges[:, 0] != edges[:, 1]]
    both = np.unique(np.concatenate([edges, edges[:, ::-1]]), axis=0)
    states = {}
    for unit in range(4):
        mine = both[cc.unit_of(both[:, 0]) == unit]
        states[unit] = [*cc.initial_labels(mine), mine]
    for _ in range(100):
        inbox = {u: [] for u in states}
        for unit, (n, lab, e) in states.items():
            t, v = cc.messages(n, lab, e)
            for dest in states:
                m = cc.unit_of(t) == dest
                inbox[dest].append((t[m], v[m]))
        changed = 0
        for unit, (n, lab, e) in states.items():
            t = np.concatenate([x[0] for x in inbox[unit]])
            v = np.concatenate([x[1] for x in inbox[unit]])
            states[unit][1], c = cc.apply_messages(n, lab, t, v)
            changed += c
        if not changed:
            break
    got = {int(a): int(b) for n, lab, _ in states.values() for a, b in zip(n, lab)}
    assert got == cc.components_local(edges)


def test_survivor_is_best_quality_then_longest_then_smallest_id_whatever_the_order():
    labels = np.array([1, 1, 1, 2, 2, 3, 3])
    quality = np.array([0.2, 0.9, np.nan, np.nan, np.nan, 0.5, 0.5])
    length = np.array([100, 10, 500, 50, 50, 7, 9])
    ids = np.array(["a", "b", "c", "z", "y", "p", "q"])
    assert cc.choose_survivors(labels, quality, length, ids).tolist() == [False, True, False, False, True, False, True]
    perm = np.array([6, 2, 4, 0, 5, 1, 3])
    assert cc.choose_survivors(labels[perm], quality[perm], length[perm], ids[perm]).tolist() == [
        True, False, True, False, False, True, False]


def test_plan_scales_partitions_with_input_and_stays_under_budget():
    cfg = DedupConfig(memory_budget_mb=256)
    small = plan(10_000, 50_000_000, [10_000], cfg)
    huge = plan(1_000_000_000, 5 * 10**12, [50_000] * 20_000, cfg)
    assert small.band_partitions == 1 and huge.band_partitions > 1000
    assert huge.peak_partition_bytes <= 1.3 * 256 * (1 << 20)
    assert huge.peak_sign_bytes == plan(2_000_000, 10**10, [50_000] * 40, cfg).peak_sign_bytes
    assert "peak memory" in huge.describe() and "band-shuffle partition" in huge.describe()


def test_band_partition_memory_stays_flat_as_the_corpus_grows():
    """The candidate step's sort state is capped per partition (PARTITION_SORT_BYTES): 100x the documents
    in same-size shards means ~100x the partitions, not 100x the memory, even under a large budget."""
    from tailmine.dedup.planner import PARTITION_SORT_BYTES

    cfg = DedupConfig(memory_budget_mb=8192)
    peaks, parts = [], []
    for scale in (1, 10, 100):
        p = plan(200_000 * scale, 10**9 * scale, [1000] * (200 * scale), cfg)
        peaks.append(p.peak_partition_bytes)
        parts.append(p.band_partitions)
    assert max(peaks) <= PARTITION_SORT_BYTES and max(peaks) / min(peaks) < 1.5
    assert parts[2] >= 50 * parts[0]


# --- the stage, end to end ------------------------------------------------------------------------


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


@pytest.fixture
def dup_input(tmp_path, ingest, corpora):
    chunks = _book_chunks(corpora, n_books=3, per_book=6)
    rng = random.Random(5)
    vocab = " ".join(chunks).split()
    records = []
    for i, c in enumerate(chunks):
        records.append({"id": f"b{i:02d}", "text": c})
    records.append({"id": "x-exact", "text": "  " + chunks[0].upper() + "\n"})
    records.append({"id": "x-near", "text": _edit(rng, chunks[1], 0.01, vocab)})
    records.append({"id": "x-near2", "text": _edit(rng, chunks[1], 0.01, vocab)})
    records.append({"id": "x-far", "text": _edit(rng, chunks[2], 0.3, vocab)})
    records.append({"id": "zh-1", "text": "我们今天去北京看长城，然后回家吃饭。" * 5})
    records.append({"id": "zh-2", "text": "我们今天去北京看长城，然后回家吃饭。" * 5 + "好"})
    records.append({"id": "odd", "text": "x", "unknown_field": {"nested": 1}})
    half = len(records) // 2
    _jsonl(tmp_path / "a.jsonl", records[:half])
    _jsonl(tmp_path / "b.jsonl", records[half:])
    from tailmine.ingest.config import IngestConfig  # noqa: F401

    ingest([tmp_path / "a.jsonl", tmp_path / "b.jsonl"], out=tmp_path / "ingest", unit_bytes=1 << 14)
    return tmp_path / "ingest", len(records)


def test_stage_drops_exact_and_near_duplicates_with_reasons_and_clusters(tmp_path, dup_input):
    from tailmine.pipelines import dedup
    from tailmine.schemas import read_documents

    in_dir, n = dup_input
    out = tmp_path / "dedup"
    m = dedup.run(str(in_dir), str(out), DedupConfig(), TEST_BEAM_ARGS, progress=False)
    assert m.counts.input == n and m.counts.input == m.counts.output + sum(m.counts.dropped.values())
    assert m.counts.dropped == {"exact_duplicate": 1, "near_duplicate": 3}
    kept = read_documents([os.path.join(out, s.path) for s in m.outputs])
    # the stage measures the text it keeps, for the plan of a stage that reads its output
    assert m.extra["text_bytes"] == sum(len(t.encode("utf-8")) for t in kept.column("text").to_pylist())
    removed = __import__("pyarrow").concat_tables([pq.read_table(os.path.join(out, s.path)) for s in m.removed])
    reasons = dict(zip(removed.column("id").to_pylist(), removed.column("drop_reason").to_pylist()))
    # x-exact is b00 upper-cased (ingest trims the whitespace): same length, so the smaller id b00 survives.
    assert reasons.pop("x-exact") == "exact_duplicate" and reasons.pop("zh-1") == "near_duplicate"
    assert len(reasons) == 2 and set(reasons) < {"b01", "x-near", "x-near2"} and set(reasons.values()) == {"near_duplicate"}
    sizes = dict(zip(kept.column("id").to_pylist(), kept.column("dup_cluster_size").to_pylist()))
    assert sizes["x-far"] == 1 and sizes["odd"] == 1 and max(sizes.values()) == 3
    clusters = pq.read_table(out / "clusters.parquet")
    assert clusters.column_names == ["id", "cluster_id"] and clusters.num_rows == 7
    by_cluster = {}
    for i, c in zip(clusters.column("id").to_pylist(), clusters.column("cluster_id").to_pylist()):
        by_cluster.setdefault(c, set()).add(i)
    assert all(c in members and c in sizes for c, members in by_cluster.items())  # the survivor names the cluster


def test_stage_output_is_byte_identical_on_rerun(tmp_path, dup_input):
    from tailmine.pipelines import dedup

    in_dir, _ = dup_input
    digests = []
    for name in ("one", "two"):
        dedup.run(str(in_dir), str(tmp_path / name), DedupConfig(), TEST_BEAM_ARGS, progress=False)
        files = sorted(p.relative_to(tmp_path / name) for p in (tmp_path / name).rglob("*") if p.is_file())
        digests.append({str(f): hashlib.sha256((tmp_path / name / f).read_bytes()).hexdigest() for f in files})
    assert digests[0] == digests[1] and "clusters.parquet" in digests[0] and "manifest.json" in digests[0]


def test_survivor_uses_quality_column_when_present(tmp_path, ingest):
    import pyarrow as pa
    from tailmine.pipelines import dedup
    from tailmine.pipelines.stage import run_map_stage
    from tailmine.runtime import ShardStep

    text = "the quick brown fox jumps over the lazy dog again and again " * 5
    _jsonl(tmp_path / "a.jsonl", [{"id": "long", "text": text + " and more"}, {"id": "best", "text": text}])
    ingest([tmp_path / "a.jsonl"], out=tmp_path / "ingest")

    class Score(ShardStep):
        name = "score"

        def annotate(self, table):
            return table.append_column("quality_v1", pa.array([1.0 if i == "best" else 0.1 for i in table.column("id").to_pylist()]))

    run_map_stage(Score(), str(tmp_path / "ingest"), str(tmp_path / "scored"), TEST_BEAM_ARGS, progress=False)
    m = dedup.run(str(tmp_path / "scored"), str(tmp_path / "dedup"), DedupConfig(), TEST_BEAM_ARGS, progress=False)
    kept = pq.read_table(os.path.join(tmp_path / "dedup", m.outputs[0].path))
    assert kept.column("id").to_pylist() == ["best"] and m.parameters["quality_column"] == "quality_v1"


def test_cli_plan_prints_before_work_and_refuses_existing_output(tmp_path, dup_input, capsys):
    import argparse

    from tailmine.errors import OutputExistsError
    from tailmine.pipelines import dedup

    in_dir, _ = dup_input
    parser = argparse.ArgumentParser()
    COMMANDS["dedup"].add_arguments(parser)
    args = parser.parse_args(["--in", str(in_dir), "--out", str(tmp_path / "o"), "--plan", "--threshold", "0.7"])
    assert dedup.main(args, TEST_BEAM_ARGS) == 0
    printed = capsys.readouterr().out
    assert "peak memory" in printed and "shuffle" in printed and "disk" in printed
    assert not (tmp_path / "o").exists()
    args = parser.parse_args(["--in", str(in_dir), "--out", str(tmp_path / "o"), "--no-progress"])
    assert dedup.main(args, TEST_BEAM_ARGS) == 0
    with pytest.raises(OutputExistsError):
        dedup.main(args, TEST_BEAM_ARGS)


# --- line-level dedup, component modes, resume ----------------------------------------------------

NAV = "Home | News | Sport | Contact us"
COOKIE = "We use cookies to improve your experience. Accept all cookies"


@pytest.fixture
def crawl_input(tmp_path, ingest, corpora):
    """Pages of one site sharing navigation and a cookie banner, a small site below line_min_docs, and
    books with a repeated line; ingested from JSONL, then marked as WET records (crawl sources)."""
    import pyarrow as pa
    from tailmine.pipelines.stage import run_map_stage
    from tailmine.runtime import ShardStep

    chunks = _book_chunks(corpora, n_books=2, per_book=8)
    records = []
    for i in range(6):
        records.append({"id": f"a{i}", "url": f"https://www{i % 2}.site-a.co.uk/p/{i}", "text": f"{NAV}\n{chunks[i]}\n\n{COOKIE.lower()}  "})
    records.append({"id": "a-empty", "url": "https://site-a.co.uk/empty", "text": f"{NAV}\n|\n{COOKIE}"})
    for i in range(2):
        records.append({"id": f"b{i}", "url": f"https://b.example.org/{i}", "text": f"{NAV}\n{chunks[6 + i]}"})
    for i in range(6):
        records.append({"id": f"book{i}", "url": f"/books/{i}.txt", "text": f"{NAV}\n{chunks[8 + i]}"})
    _jsonl(tmp_path / "c.jsonl", records)
    ingest([tmp_path / "c.jsonl"], out=tmp_path / "raw", unit_bytes=1 << 13)

    class AsCrawl(ShardStep):
        name = "as_crawl"

        def annotate(self, table):
            web = [i.startswith(("a", "b")) for i in table.column("id").to_pylist()]
            source = [("wet" if w else s) for w, s in zip(web, table.column("source").to_pylist())]
            return table.set_column(table.schema.get_field_index("source"), table.schema.field("source"), pa.array(source, pa.string()))

    run_map_stage(AsCrawl(), str(tmp_path / "raw"), str(tmp_path / "crawl"), TEST_BEAM_ARGS, progress=False)
    return tmp_path / "crawl"


def _docs(out, m, kind="outputs"):
    import pyarrow as pa

    return pa.concat_tables([pq.read_table(os.path.join(out, s.path)) for s in getattr(m, kind)])


def test_registered_domain_rule():
    from tailmine.dedup.lines import registered_domain

    assert registered_domain("https://www.bbc.co.uk:443/news?x=1") == "bbc.co.uk"
    assert registered_domain("http://user@a.b.example.com/x") == "example.com"
    assert registered_domain("http://10.1.2.3/x") == "10.1.2.3" and registered_domain("localhost") == "localhost"
    assert registered_domain(None) is None and registered_domain("") is None


def test_line_step_removes_site_boilerplate_counts_it_and_drops_emptied_pages(tmp_path, crawl_input):
    from tailmine.pipelines import dedup

    out = tmp_path / "dedup"
    m = dedup.run(str(crawl_input), str(out), DedupConfig(), TEST_BEAM_ARGS, progress=False)
    kept = _docs(out, m)
    by_id = {i: (t, n) for i, t, n in zip(kept.column("id").to_pylist(), kept.column("text").to_pylist(), kept.column("dup_lines_removed").to_pylist())}
    for i in range(6):  # site-a: 7 pages carry both lines (>= line_min_docs 5), whatever the case/spacing
        text, n = by_id[f"a{i}"]
        assert n == 2 and NAV not in text and "cookies" not in text.lower() and text.strip()
    assert by_id["b0"][1] == 0 and by_id["b0"][0].startswith(NAV)  # b.example.org: 2 pages, below 5
    assert all(by_id[f"book{i}"] == (by_id[f"book{i}"][0], 0) and by_id[f"book{i}"][0].startswith(NAV) for i in range(6))  # not crawl
    removed = _docs(out, m, "removed")
    assert dict(zip(removed.column("id").to_pylist(), removed.column("drop_reason").to_pylist())) == {"a-empty": "empty_after_line_removal"}
    assert m.counts.dropped == {"empty_after_line_removal": 1} and m.counts.input == 15 == m.counts.output + 1
    lines = m.extra["line_dedup"]
    assert lines["lines_removed"] == 14 and lines["documents_changed"] == 7 and lines["documents_emptied"] == 1
    assert lines["boilerplate_lines"] == 2 and lines["bytes_removed"] > 14 * 30
    # off: nothing removed, and the column is still there
    m_off = dedup.run(str(crawl_input), str(tmp_path / "off"), DedupConfig(line_dedup="off"), TEST_BEAM_ARGS, progress=False)
    assert m_off.counts.output == 15 and "line_dedup" not in m_off.extra
    assert set(_docs(tmp_path / "off", m_off).column("dup_lines_removed").to_pylist()) == {0}


def test_auto_line_step_is_skipped_from_footers_when_no_crawl_document_has_a_url(tmp_path, crawl_input, dup_input, monkeypatch):
    """No warc/wet document with a URL (JSONL books): the Parquet statistics say so, the line step (a
    full pass over the text) does not run, and the manifest says why; crawl input still gets it, and
    `on` forces it for any source."""
    from tailmine.pipelines import dedup

    in_dir, _ = dup_input
    _, units = dedup.make_plan(str(in_dir), DedupConfig())
    assert not dedup.line_step_needed(DedupConfig(), [u.path for u in units])
    assert dedup.line_step_needed(DedupConfig(line_dedup="on"), [u.path for u in units])
    _, crawl_units = dedup.make_plan(str(crawl_input), DedupConfig())
    assert dedup.line_step_needed(DedupConfig(), [u.path for u in crawl_units])

    # a shard written without footer statistics (an older tailmine, another tool) cannot be judged: the step runs
    bare = tmp_path / "bare.parquet"
    pq.write_table(pq.read_table(units[0].path), bare, write_statistics=False)
    assert dedup.line_step_needed(DedupConfig(), [str(bare)])

    def must_not_run(task, lay):
        raise AssertionError("the line step ran on input with no crawl document")

    monkeypatch.setattr(dedup, "line_keys_unit", must_not_run)
    m = dedup.run(str(in_dir), str(tmp_path / "out"), DedupConfig(), TEST_BEAM_ARGS, progress=False)
    assert m.extra["line_dedup"]["skipped"].startswith("no crawl") and m.counts.dropped.get("near_duplicate")


def test_each_signature_file_is_read_twice_whatever_the_band_partitions(tmp_path, dup_input, monkeypatch):
    """Candidate checking moves the pairs to the signatures: every unit's signature file is read twice
    (SendSignatures, Verify), not once per band partition (the quadratic reload of issue 20); and the
    number of partitions does not change a byte of the output."""
    from tailmine.dedup import work
    from tailmine.pipelines import dedup

    in_dir, _ = dup_input
    reads_log = tmp_path / "reads.txt"
    real_read = work.read_bytes

    def counting_read(path):
        if "/sig/" in str(path):
            with open(reads_log, "a") as handle:
                handle.write(str(path).rsplit("/", 1)[-1] + "\n")
        return real_read(path)

    monkeypatch.setattr(work, "read_bytes", counting_read)
    results = {}
    for partitions in (1, 7):
        reads_log.unlink(missing_ok=True)
        out = tmp_path / f"p{partitions}"
        m = dedup.run(str(in_dir), str(out), DedupConfig(band_partitions=partitions), TEST_BEAM_ARGS, progress=False)
        reads = reads_log.read_text().split()
        assert len(m.inputs) >= 2 and sorted(set(reads)) == [f"u{u:05d}.npz" for u in range(len(m.inputs))]
        assert max(reads.count(r) for r in set(reads)) == 2, reads
        files = sorted(p.relative_to(out) for p in out.rglob("*.parquet"))
        results[partitions] = ({str(f): hashlib.sha256((out / f).read_bytes()).hexdigest() for f in files}, m.counts.dropped)
    assert results[1] == results[7] and results[1][1] == {"exact_duplicate": 1, "near_duplicate": 3}


def test_plan_predicts_time_and_uses_the_duplicate_rate_an_earlier_run_observed(tmp_path, dup_input, capsys):
    import argparse

    from tailmine.dedup.inputs import observed_dup_fraction
    from tailmine.pipelines import dedup

    in_dir, n = dup_input
    cfg = DedupConfig()
    small, large = plan(100_000, 35 * 10**6, [25_000] * 4, cfg), plan(1_600_000, 560 * 10**6, [25_000] * 64, cfg)
    assert 10 < large.cpu_seconds / small.cpu_seconds < 16 and small.cpu_seconds > 0  # linear work + a fixed start
    assert set(large.step_cpu_seconds) >= {"sign", "candidates", "verify", "write"}
    assert large.peak_verify_bytes == small.peak_verify_bytes  # per unit: flat as units multiply
    # the same documents in 4x the shards: the exchange files (shards x shards) are the term that grows
    many = plan(1_600_000, 560 * 10**6, [6_250] * 256, cfg)
    assert many.step_cpu_seconds["exchange files"] > 5 * large.step_cpu_seconds["exchange files"]
    assert many.step_cpu_seconds["sign"] == large.step_cpu_seconds["sign"] and "exchange files" in many.describe()
    bound, _ = dedup.make_plan(str(in_dir), cfg, str(tmp_path / "nothing-here"))
    assert not bound.dup_fraction_observed and bound.dup_fraction == 0.5
    out = tmp_path / "dedup"
    m = dedup.run(str(in_dir), str(out), cfg, TEST_BEAM_ARGS, progress=False)
    learnt, _ = dedup.make_plan(str(in_dir), cfg, str(out))
    assert learnt.dup_fraction_observed and learnt.dup_fraction == m.extra["clustered_documents"] / n == 7 / n
    assert learnt.peak_verify_bytes < bound.peak_verify_bytes
    # an earlier run over other input teaches nothing: here, the dedup output planned as an input
    assert observed_dup_fraction(str(out), str(out)) is None
    parser = argparse.ArgumentParser()
    COMMANDS["dedup"].add_arguments(parser)
    assert dedup.main(parser.parse_args(["--in", str(in_dir), "--out", str(out), "--plan"]), TEST_BEAM_ARGS) == 0
    printed = capsys.readouterr().out
    assert "CPU-seconds" in printed and f"{7 / n:.1%} of documents have a duplicate (observed" in printed


def test_plan_uses_the_text_bytes_the_input_stage_measured(dup_input):
    """Ingest writes the UTF-8 bytes of the text it kept in ``manifest.extra["text_bytes"]``; the plan is
    made from that figure, and falls back to a guess from the shard sizes only when it is missing."""
    from tailmine.dedup.inputs import make_plan
    from tailmine.schemas import read_documents

    in_dir, _ = dup_input
    path = in_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    texts = read_documents([str(in_dir / s["path"]) for s in manifest["outputs"]]).column("text").to_pylist()
    measured = sum(len(t.encode("utf-8")) for t in texts)
    assert manifest["extra"]["text_bytes"] == measured and any(not t.isascii() for t in texts)
    guess = 3 * sum(s["bytes"] for s in manifest["outputs"])
    measured_plan, _ = make_plan(str(in_dir), DedupConfig())
    assert measured_plan.text_bytes == measured != guess
    manifest["extra"]["text_bytes"] = measured * 10  # the figure drives the plan: 10x the text, 10x the signing
    path.write_text(json.dumps(manifest))
    scaled, _ = make_plan(str(in_dir), DedupConfig())
    assert scaled.text_bytes == measured * 10
    assert scaled.step_cpu_seconds["sign"] == pytest.approx(10 * measured_plan.step_cpu_seconds["sign"])
    del manifest["extra"]["text_bytes"]  # a manifest written before stages measured their text
    path.write_text(json.dumps(manifest))
    assert make_plan(str(in_dir), DedupConfig())[0].text_bytes == guess


def test_distributed_components_equal_local_components(tmp_path, dup_input):
    from tailmine.pipelines import dedup

    in_dir, _ = dup_input
    results = {}
    for mode in ("local", "distributed"):
        out = tmp_path / mode
        m = dedup.run(str(in_dir), str(out), DedupConfig(components=mode), TEST_BEAM_ARGS, progress=False)
        assert m.extra["components"] == mode and (m.extra["component_rounds"] > 0) == (mode == "distributed")
        files = sorted(p.relative_to(out) for p in out.rglob("*.parquet"))
        results[mode] = {str(f): hashlib.sha256((out / f).read_bytes()).hexdigest() for f in files}
    assert results["local"] == results["distributed"] and "clusters.parquet" in results["local"]


def test_resume_skips_finished_tasks_and_gives_the_same_bytes(tmp_path, crawl_input, monkeypatch):
    from tailmine.pipelines import dedup

    fresh = tmp_path / "fresh"
    dedup.run(str(crawl_input), str(fresh), DedupConfig(), TEST_BEAM_ARGS, progress=False)
    real_write, real_sign = dedup.write_unit, dedup.sign_unit

    def write_fails_on_unit_1(task, lay):
        if task.unit == 1:
            raise RuntimeError("interrupted")
        return real_write(task, lay)

    out = tmp_path / "resumed"
    monkeypatch.setattr(dedup, "write_unit", write_fails_on_unit_1)
    with pytest.raises(Exception, match="interrupted"):
        dedup.run(str(crawl_input), str(out), DedupConfig(), TEST_BEAM_ARGS, progress=False)
    assert (out / "_work" / "done" / "Sign-00000.json").exists() and not (out / "manifest.json").exists()

    def sign_must_not_run(task, lay):
        raise AssertionError("resume re-signed a finished unit")

    monkeypatch.setattr(dedup, "write_unit", real_write)
    monkeypatch.setattr(dedup, "sign_unit", sign_must_not_run)
    with pytest.raises(Exception):  # without --resume the earlier output is refused
        dedup.run(str(crawl_input), str(out), DedupConfig(), TEST_BEAM_ARGS, progress=False)
    dedup.run(str(crawl_input), str(out), DedupConfig(), TEST_BEAM_ARGS, progress=False, resume=True)
    digest = lambda root: {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}
    assert digest(out) == digest(fresh) and not (out / "_work").exists()
    # a changed parameter under --resume starts over instead of mixing runs (sign must run again)
    monkeypatch.setattr(dedup, "sign_unit", real_sign)
    m = dedup.run(str(crawl_input), str(out), DedupConfig(line_min_docs=8), TEST_BEAM_ARGS, progress=False, resume=True)
    assert m.extra["line_dedup"]["lines_removed"] == 0


def test_progress_counts_tasks_per_step(tmp_path, dup_input):
    import io as _io

    from tailmine.pipelines import dedup

    in_dir, _ = dup_input
    cfg = DedupConfig()
    the_plan, units = dedup.make_plan(str(in_dir), cfg)
    lay = dedup.Layout(str(tmp_path), cfg, the_plan.bands, the_plan.rows, 1, len(units), None)
    stream = _io.StringIO()
    progress = dedup.DedupProgress(lay, [("Sign", 2), ("Write", 2)], 10_000_000, stream=stream)
    for label, key, result in [("Sign", 0, {}), ("Write", 1, {"counts": {"output": 7}, "input_bytes": 5_000_000})]:
        path = tmp_path / "_work" / "done" / f"{label}-{key:05d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"fingerprint": "", "result": result}))
    progress.report(final=True)
    assert "Sign 1/2  Write 1/2  docs kept 7  5.0/10.0 MB" in stream.getvalue()


def test_union_find_labels_equal_scipy_connected_components():
    """The one-task components (numba union-find, smallest node as label) against scipy's
    connected_components on random graphs with chains, stars, self-loops and repeated edges."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(7)
    for trial in range(20):
        universe = np.sort(rng.choice(10**9, size=300, replace=False)).astype(np.int64)
        m = int(rng.integers(1, 400))
        edges = universe[rng.integers(0, 300, size=(m, 2))]
        if trial % 3 == 0:  # a long chain in reverse order: the worst case for naive linking
            chain = universe[::-1][:150]
            edges = np.concatenate([edges, np.stack([chain[:-1], chain[1:]], axis=1)])
        nodes, labels = cc.component_labels(edges)
        assert nodes.tolist() == np.unique(edges).tolist()
        idx = np.searchsorted(nodes, edges)
        n = len(nodes)
        _, comp = connected_components(coo_matrix((np.ones(len(idx)), (idx[:, 0], idx[:, 1])), shape=(n, n)), directed=False)
        smallest = {c: nodes[comp == c].min() for c in np.unique(comp)}
        assert labels.tolist() == [smallest[c] for c in comp]
    assert [a.size for a in cc.component_labels(np.empty((0, 2), np.int64))] == [0, 0]


# --- the compiled kernel against a plain-Python statement of the same definitions ------------------

_M64 = (1 << 64) - 1


def _fmix(h):
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _M64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _M64
    return h ^ (h >> 33)


def _fnv(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & _M64
    return h


def _reference_shingles(text: str, ngram: int) -> list[int]:
    """Module docstring's definition, one character at a time: NFKC + lower case, words of word
    characters, every character of an unspaced script a token of its own; FNV-1a of the token's UTF-8
    then murmur's finaliser; n-gram hash = finaliser of a multiply-xorshift chain over the tokens."""
    from tailmine.dedup.minhash import _is_separator, prepare
    from tailmine.textnorm import is_unspaced as _is_unspaced

    tokens, word = [], b""
    for ch in prepare([text])[0].as_py():
        cp = ord(ch)
        if _is_separator(cp) or _is_unspaced(cp):
            if word:
                tokens.append(_fmix(_fnv(word)))
            word = b""
            if _is_unspaced(cp):
                tokens.append(_fmix(_fnv(ch.encode())))
        else:
            word += ch.encode()
    if word:
        tokens.append(_fmix(_fnv(word)))

    def gram(ts):
        g = 0x9E3779B97F4A7C15
        for t in ts:
            g = ((g ^ t) * 0xBF58476D1CE4E5B9) & _M64
            g ^= g >> 31
        return _fmix(g)

    if not tokens:
        return []
    if len(tokens) < ngram:
        return [gram(tokens)]
    return [gram(tokens[i : i + ngram]) for i in range(len(tokens) - ngram + 1)]


def test_kernel_signatures_equal_a_plain_python_statement_of_the_definition(corpora):
    """The kernel's table-driven ASCII path, its general path and its four-shingles-per-pass minimum
    give what the definitions say, on real prose and on mixed-script, punctuation-heavy and short
    texts (shingle counts 0-9, so the last pass of four is partial)."""
    texts = _book_chunks(corpora, n_books=3, words=60, per_book=3)
    texts += ["Ünïcödé Straße, ÇA VA? naïve café", "我们今天去北京看长城 and then\tHOME_again!", "a", "a b",
              "one two three four five six", "x, y; z... w: v! u? t", "Ｆｕｌｌ　ｗｉｄｔｈ ﬁne", "emoji 🙂 in\u00a0text",
              "snake_case and CamelCase 123 4.5", "ไทยภาษา mixed", "--- !!! ---", "1 2 3 4 5 6 7 8 9 10 11 12 13"]
    for ngram in (5, 2):
        mh = MinHasher(num_perm=64, ngram=ngram, seed=9)
        sig = mh.signatures(texts)
        for text, row in zip(texts, sig):
            expected = mh.signature_of_shingles(np.array(_reference_shingles(text, ngram), np.uint64))
            assert np.array_equal(row, expected), (ngram, text[:40])
