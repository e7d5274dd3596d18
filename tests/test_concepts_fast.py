"""The compiled concept paths against simple references: the per-string extractors of
``tailmine.concepts.extract`` (kept as the oracle), ``hashlib`` BLAKE2b, dict-based counts and
sketches, and per-document rarity arithmetic, on real books and CCNet text plus edge cases."""
import gzip
import json
import random
from collections import Counter

import numpy as np
import pytest

from tailmine.concepts import fast
from tailmine.concepts.config import ConceptConfig
from tailmine.concepts.extract import STOP_WORDS, ConceptSet, EntitySpanExtractor, NgramExtractor, build_extractors
from tailmine.concepts.rarity import ConceptRarityStep, rarity_columns, rarity_from_dfs
from tailmine.concepts.sketches import BottomKSample, ExactCounts, MisraGries, SketchConfig, SketchCounts, stable_hash64

EDGE_CASES = [
    "",
    "   \n\t ",
    "東京は日本の首都です。カタカナ　ひらがな",
    "x" * 5000 + " aGVsbG8gd29ybGQ=" * 3 + " " + "y" * 41 + " mid " + "z" * 40,
    "Ünïcödé ﬁne Straße 12 345 a b c_d e-f 3D iPhone McDonald's",
    "one two -- three four — five\t–\tsix\n \n seven eight\r\n\r\nnine ten\n\nEleven Twelve",
    "However, Leo Tolstoy wrote War and Peace. The Bank of England’s view. Then Paris.\nTHE LICENSE TERMS APPLY.",
    "Le Comte de Monte Cristo met José María Aznar and Ångström in Zürich; O'Brien’s cat; the U.S.A. NASA's rover.",
    "he said: Jean-Paul Sartre & Simone de Beauvoir of the Left Bank   of   The Times von Braun y Gasset",
    "İstanbul ﬀ Ǆemal DŽ ǅ K Ω ſtop Ⅻ ① ２０２４ Ｆｕｌｌｗｉｄｔｈ Ｎａｍｅ",
    "(Alpha) [Beta] {Gamma} «Delta» “Epsilon” 'Zeta' |Eta| Theta/Iota\\Kappa",
    "combining e\u0301 and A\u030a and \u0915\u094d\u0937 and emoji 😀 words 𝐁𝐨𝐥𝐝 𝔉𝔯𝔞𝔨𝔱𝔲𝔯",
    "\n\n\nStart Of Text",
    "Mr. Smith went to Washington. Dr. Who? Yes. Mrs. Hudson's flat",
]


def _real_texts(corpora, books=6, chunk=5000, per_book=40, web=150):
    out = []
    for path in sorted((corpora / "books" / "gutenberg").glob("*.txt.gz"))[:books]:
        text = gzip.open(path, "rt", encoding="utf-8", errors="replace").read()
        out += [text[i : i + chunk] for i in range(0, min(len(text), chunk * per_book), chunk)]
    for path in sorted((corpora / "web" / "ccnet").glob("*.jsonl.gz")):
        with gzip.open(path, "rt") as handle:
            for i, line in enumerate(handle):
                if i >= web:
                    break
                out.append(json.loads(line)["text"])
    return out


@pytest.fixture(scope="module")
def real_texts(corpora):
    return _real_texts(corpora) + EDGE_CASES


def _assert_same_concepts(extractor: ConceptSet, texts, seed=0):
    batch = extractor.extract_hashed(texts, seed)
    assert len(batch) == len(texts)
    for i, text in enumerate(texts):
        ref = sorted(extractor.extract(text))
        got = batch.hashes[batch.offsets[i] : batch.offsets[i + 1]]
        assert np.array_equal(got, np.sort(stable_hash64(ref, seed))), f"document {i}: {text[:80]!r}"
        names = batch.strings(np.arange(batch.offsets[i], batch.offsets[i + 1])).to_pylist()
        assert sorted(names) == ref
    return batch


def test_blake2b_kernel_equals_hashlib():
    rng = random.Random(0)
    alphabet = "abcXYZ é東😀’ \t-'"
    strings = ["w:" + "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 400))) for _ in range(500)]
    strings += ["x" * n for n in (1, 127, 128, 129, 255, 256, 257)]
    for seed in (0, 1, 2**63 + 5):
        assert np.array_equal(fast.hash_strings(strings, seed), stable_hash64(strings, seed))


def test_char_table_classes_match_the_reference_regexes():
    import regex

    from tailmine.concepts import lexicon as ref

    table = fast.entity_table()
    rng = np.random.default_rng(1)
    for cp in np.concatenate([np.arange(0, 0x3000), rng.integers(0x3000, 0x110000, 20_000)]):
        ch = chr(int(cp))
        if 0xD800 <= cp <= 0xDFFF:
            continue
        bits = int(table[cp])
        assert bool(bits & (fast.WORD | fast.CJK)) == bool(ref.TOKEN.fullmatch(ch)), hex(cp)
        assert bool(bits & fast.CJK) == bool(ref.CJK_CHAR.fullmatch(ch)), hex(cp)
        assert bool(bits & fast.UPPER) == bool(regex.fullmatch(r"\p{Lu}", ch)), hex(cp)
        assert bool(bits & fast.PYSPACE) == ch.isspace() and bool(bits & fast.DIGIT) == ch.isdigit(), hex(cp)


def test_compiled_extraction_equals_the_per_string_reference_on_real_text(real_texts):
    batch = _assert_same_concepts(build_extractors(["ngram", "entity"]), real_texts, seed=0)
    assert len(batch.hashes) > 100_000  # real work: ~550 concepts per 5 KB document
    # non-default settings: seeds, n, custom stop words, each extractor alone
    _assert_same_concepts(build_extractors(["entity", "ngram"], max_n=2), real_texts[::7], seed=7)
    _assert_same_concepts(ConceptSet([NgramExtractor(max_n=5, max_token_chars=6, stop_words=["the", "and", "de"])]), real_texts[::9])
    _assert_same_concepts(ConceptSet([EntitySpanExtractor(max_words=2, stop_words=STOP_WORDS | {"paris"})]), real_texts[::5])


def test_extractors_without_a_kernel_go_through_extract():
    class Shouty(NgramExtractor):  # redefines the rules: the kernel must not stand in for it
        def extract(self, text):
            return {"w:" + t.upper() for t in text.split()}

    extractor = ConceptSet([Shouty(), EntitySpanExtractor()])
    batch = _assert_same_concepts(extractor, EDGE_CASES)
    assert "w:LEO" in batch.strings(np.arange(len(batch.hashes))).to_pylist()


def _old_misra_gries_add(counters, total_decrement, counts, k):
    merged = Counter(counters)
    merged.update(counts)
    if len(merged) > k:
        cut = sorted(merged.values(), reverse=True)[k]
        total_decrement += cut
        merged = {c: n - cut for c, n in merged.items() if n > cut}
    return dict(merged), total_decrement


def test_array_counts_equal_dict_counts_on_real_text(real_texts):
    from tailmine.pipelines.concepts import add_to_counts

    extractor = build_extractors(["ngram", "entity"])
    cfg = SketchConfig(epsilon=1e-3, heavy_hitters=300, sample_size=2000, seed=3)
    exact, sketch, ref_sketch = ExactCounts(seed=3), SketchCounts(cfg), SketchCounts(cfg)
    ref_df, ref_mg, ref_dec = Counter(), {}, 0
    for i in range(0, len(real_texts), 128):
        texts = real_texts[i : i + 128]
        batch = extractor.extract_hashed(texts, seed=3)
        add_to_counts(exact, batch)
        add_to_counts(sketch, batch)
        sets = [extractor.extract(t) for t in texts]
        ref_sketch.add_batch(sets)
        batch_df = Counter(c for s in sets for c in s)
        ref_df.update(batch_df)
        ref_mg, ref_dec = _old_misra_gries_add(ref_mg, ref_dec, batch_df, cfg.heavy_hitters)
    assert exact.df == dict(ref_df) and exact.documents == len(real_texts)
    assert np.array_equal(exact.lookup(stable_hash64(sorted(ref_df), 3)), [ref_df[c] for c in sorted(ref_df)])
    assert sketch.heavy.counters == ref_mg == ref_sketch.heavy.counters and sketch.heavy.decrement == ref_dec > 0
    assert np.array_equal(sketch.cms.table, ref_sketch.cms.table) and sketch.cms.total == sum(ref_df.values())
    assert np.array_equal(sketch.hll.registers, ref_sketch.hll.registers)
    assert sketch.sample.items == ref_sketch.sample.items and len(sketch.sample.items) == cfg.sample_size
    smallest = sorted(ref_df, key=lambda c: int(stable_hash64([c], 3)[0]))[: cfg.sample_size]
    assert {c: n for c, (_, n) in sketch.sample.items.items()} == {c: ref_df[c] for c in smallest}
    # merging partial counts (the CombineGlobally step) equals counting everything at once
    halves = [ExactCounts(seed=3), ExactCounts(seed=3)]
    for j, i in enumerate(range(0, len(real_texts), 256)):
        add_to_counts(halves[j % 2], extractor.extract_hashed(real_texts[i : i + 256], seed=3))
    merged = halves[0].merge(halves[1])
    assert merged.df == dict(ref_df) and merged.documents == len(real_texts)


def test_misra_gries_and_bottom_k_match_their_dict_references_under_pruning():
    rng = np.random.default_rng(5)
    mg, sample = MisraGries(k=50), BottomKSample(k=40)
    ref, dec, ref_sample = {}, 0, {}
    for _ in range(30):
        batch = Counter(f"c{v}" for v in rng.zipf(1.5, 400) % 500)
        mg.add_counts(batch)
        ref, dec = _old_misra_gries_add(ref, dec, batch, 50)
        names = list(batch)
        hashes = stable_hash64(names)
        sample.add_counts(names, hashes, np.array([batch[c] for c in names]))
        for c, h in zip(names, hashes):
            ref_sample.setdefault(c, [int(h), 0])[1] += batch[c]
    assert mg.counters == ref and mg.error_bound() == dec
    assert sample.items == dict(sorted(ref_sample.items(), key=lambda kv: kv[1][0])[:40])


def test_rarity_from_dfs_equals_per_document_arithmetic():
    rng = np.random.default_rng(2)
    sizes = rng.integers(0, 40, 300)
    sizes[:5] = 0
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    df = rng.integers(0, 500, offsets[-1])
    cols = rarity_from_dfs(df, offsets, (2, 50))
    for i, (a, b) in enumerate(zip(offsets[:-1], offsets[1:])):
        d = np.maximum(df[a:b], 1)
        assert cols["concept_count_v1"][i].as_py() == len(d)
        assert cols["concept_min_df_v1"][i].as_py() == (int(d.min()) if len(d) else None)
        assert cols["concept_tail_count_v1"][i].as_py() == int(np.sum((d >= 2) & (d <= 50)))
        mean = cols["concept_mean_log_df_v1"][i].as_py()
        assert (mean is None) if not len(d) else mean == pytest.approx(float(np.log(d).mean()), rel=1e-12, abs=1e-12)
    # the string-keyed wrapper agrees
    ref = rarity_columns([{"a", "b"}, set()], lambda cs: np.array([{"a": 4, "b": 1}[c] for c in cs]), (2, 10))
    assert ref["concept_count_v1"].to_pylist() == [2, 0] and ref["concept_min_df_v1"].to_pylist() == [1, None]


def test_annotation_reads_pass_one_ids_instead_of_extracting(tmp_path, real_texts, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tailmine.pipelines.concepts import count_shard, load_ids
    from tailmine.schemas.document import DOCUMENT_SCHEMA

    texts = real_texts[:300]
    n = len(texts)
    rows = {name: [None] * n for name in DOCUMENT_SCHEMA.names}
    rows.update(id=[f"d{i}" for i in range(n)], source=["text"] * n, text=texts, raw_bytes=[len(t) for t in texts], source_file=["x"] * n)
    shard = tmp_path / "docs.parquet"
    pq.write_table(pa.table(rows, schema=DOCUMENT_SCHEMA), shard)
    cfg = ConceptConfig(mode="exact")
    counts = count_shard(str(shard), cfg, batch_rows=100, ids_out=str(tmp_path / "ids.npz"))
    table = pq.read_table(shard)
    fresh = ConceptRarityStep(cfg, counts, cfg.tail_df_range(counts.documents))
    fresh.begin_shard(None, table.num_rows)
    expected = fresh.annotate(table)  # re-extracts
    stored = ConceptRarityStep(cfg, counts, cfg.tail_df_range(counts.documents))
    stored.setup()
    monkeypatch.setattr(ConceptSet, "extract_hashed", lambda *a, **k: (_ for _ in ()).throw(AssertionError("re-extracted")))
    stored.begin_shard(load_ids(str(tmp_path / "ids.npz")), table.num_rows)
    got = pa.concat_tables([stored.annotate(table.slice(i, 128)) for i in range(0, table.num_rows, 128)])
    assert got.equals(expected)
    assert sum(got.column("concept_count_v1").to_pylist()) == len(load_ids(str(tmp_path / "ids.npz"))[0]) > 10_000
    # the per-string reference for the same columns
    sets = [build_extractors(cfg.extractors).extract(t) for t in texts]
    ref = rarity_columns(sets, lambda cs: np.array([counts.df.get(c, 1) for c in cs]), cfg.tail_df_range(counts.documents))
    for name in ("concept_count_v1", "concept_min_df_v1", "concept_tail_count_v1"):
        assert got.column(name).to_pylist() == ref[name].to_pylist()
    assert np.allclose(
        np.array(got.column("concept_mean_log_df_v1").to_pylist(), float), np.array(ref["concept_mean_log_df_v1"].to_pylist(), float), rtol=1e-12, equal_nan=True
    )


def test_large_batches_are_split_into_kernel_groups_with_the_same_result(real_texts, monkeypatch):
    from tailmine.concepts import extract

    extractor = build_extractors(["ngram", "entity"])
    whole = extractor.extract_hashed(real_texts)
    monkeypatch.setattr(extract, "GROUP_CHARS", 20_000)
    split = _assert_same_concepts(extractor, real_texts)
    assert len(split._parts) > 10
    assert np.array_equal(split.hashes, whole.hashes) and np.array_equal(split.offsets, whole.offsets)
    positions = np.random.default_rng(0).permutation(len(whole.hashes))[:5000]
    assert split.strings(positions).equals(whole.strings(positions))


def test_the_cached_class_table_equals_a_fresh_build():
    assert np.array_equal(fast.entity_table(), fast._entity_table_uncached())
    assert np.array_equal(fast.char_table(), fast._char_table_uncached())
