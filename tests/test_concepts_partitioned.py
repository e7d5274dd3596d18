"""Exact concept counts sharded by concept id (``tailmine.concepts.partitioned``) against the one-process
oracle (``ExactCounts`` merged over every shard): same dfs, ranks, per-shard lookups and fit, on real
books + CCNet text and on synthetic shards through the whole stage; plus the adversarial corners
(empty shards, more buckets than concepts, missing shuffle files, the single file of earlier versions)."""
import gzip
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import TEST_BEAM_ARGS, benchmark_module
from tailmine.concepts.config import ConceptConfig
from tailmine.concepts.extract import build_extractors
from tailmine.concepts.fitting import FitConfig, Spectrum, fit_power_law
from tailmine.concepts.partitioned import (
    ConceptShuffle, merge_bucket, merge_spectra, partition_bits, rank_bucket, rank_offsets, spectrum_of, unit_lookup, write_unit_parts,
)
from tailmine.concepts.sketches import ExactCounts
from tailmine.concepts.tables import concept_table_paths, iter_concept_tables
from tailmine.errors import ManifestError
from tailmine.schemas.document import DOCUMENT_SCHEMA


def _write_docs(path, texts):
    n = len(texts)
    rows = {name: [None] * n for name in DOCUMENT_SCHEMA.names}
    rows.update(id=[f"d{i}" for i in range(n)], source=["text"] * n, text=texts, raw_bytes=[len(t) for t in texts], source_file=["x"] * n)
    pq.write_table(pa.table(rows, schema=DOCUMENT_SCHEMA), path)


def _real_texts(corpora):
    out = []
    for path in sorted((corpora / "books" / "gutenberg").glob("*.txt.gz"))[:4]:
        text = gzip.open(path, "rt", encoding="utf-8", errors="replace").read()
        out += [text[i : i + 3000] for i in range(0, min(len(text), 3000 * 30), 3000)]
    for path in sorted((corpora / "web" / "ccnet").glob("*.jsonl.gz"))[:1]:
        with gzip.open(path, "rt") as handle:
            out += [json.loads(line)["text"] for _, line in zip(range(120), handle)]
    return out


def _table(folder):
    return pa.concat_tables(list(iter_concept_tables(folder))).sort_by("rank")


def test_partition_bits_give_one_bucket_per_shard_rounded_up_and_capped():
    assert [partition_bits(u) for u in (0, 1, 2, 3, 4, 5, 64, 65)] == [0, 0, 1, 2, 2, 3, 6, 7]
    assert partition_bits(10**9) == 12


def test_shuffled_counts_equal_one_process_counts_on_real_text(tmp_path, corpora):
    from tailmine.pipelines.concepts import count_shard

    texts = _real_texts(corpora)
    cut = [0, 40, 41, 41, 90, len(texts)]  # a one-document shard and an empty one among them
    cfg = ConceptConfig()
    shuffle = ConceptShuffle(str(tmp_path / "work"), str(tmp_path / "out"), units=len(cut) - 1, bits=3)
    oracle, per_unit = ExactCounts(), []
    for u in range(len(cut) - 1):
        _write_docs(tmp_path / f"docs-{u}.parquet", texts[cut[u] : cut[u + 1]])
        counts = count_shard(str(tmp_path / f"docs-{u}.parquet"), cfg)
        per_unit.append(counts.arrays()[0].copy())
        assert write_unit_parts(shuffle, u, counts) == len(per_unit[-1])
        oracle.merge(counts)
    spectra = [merge_bucket(shuffle, b) for b in range(shuffle.buckets)]
    rows = [rank_bucket(shuffle, b, spectra) for b in range(shuffle.buckets)]
    keys, dfs, names = oracle.arrays()
    assert sum(rows) == len(keys) > 20_000 and all(rows)
    # the table: every concept once with its exact df, ordinal ranks 1..n by df descending
    table = _table(str(tmp_path / "out"))
    assert dict(zip(table.column("concept").to_pylist(), table.column("df").to_pylist())) == dict(zip(names.to_pylist(), dfs.tolist()))
    assert table.column("rank").to_pylist() == list(range(1, len(keys) + 1))
    got = table.column("df").to_numpy()
    assert np.all(np.diff(got) <= 0)
    # ties: by bucket, then by concept (byte order)
    bucket = {c: b for b, p in enumerate(concept_table_paths(str(tmp_path / "out"))) for c in pq.read_table(p).column("concept").to_pylist()}
    assert len(concept_table_paths(str(tmp_path / "out"))) == 8
    keyed = [(-d, bucket[c], c.encode()) for c, d in zip(table.column("concept").to_pylist(), got.tolist())]
    assert keyed == sorted(keyed)
    # each shard's lookup holds exactly that shard's concepts, with their global df
    for u, mine in enumerate(per_unit):
        lookup = unit_lookup(shuffle, u)
        assert np.array_equal(lookup.hashes, mine)
        assert np.array_equal(lookup.lookup(mine), oracle.lookup(mine))
    # the summed spectrum is the spectrum of every df, and the fit from it is the fit of every df
    values, counts = merge_spectra([(s["values"], s["counts"]) for s in spectra])
    assert (values.tolist(), counts.tolist()) == spectrum_of(dfs)
    assert sum(s["incidences"] for s in spectra) == int(dfs.sum())
    fit_cfg = FitConfig(bootstrap=5, seed=1)
    assert fit_power_law(Spectrum.of_frequencies(values, counts), fit_cfg) == fit_power_law(dfs, fit_cfg)


def test_rank_offsets_match_a_brute_force_sort():
    rng = np.random.default_rng(0)
    buckets = [rng.integers(1, 6, size) for size in (0, 7, 30, 1)]
    spectra = [{"bucket": b, **dict(zip(("values", "counts"), spectrum_of(d)))} for b, d in enumerate(buckets)]
    everything = sorted((-int(d), b, i) for b, ds in enumerate(buckets) for i, d in enumerate(sorted(ds.tolist(), reverse=True)))
    expected = {key[1:]: r + 1 for r, key in enumerate(everything)}
    for b, ds in enumerate(buckets):
        ds = np.sort(ds)[::-1]
        if not len(ds):
            continue
        starts = rank_offsets(spectra, b, ds)
        within = np.array([list(ds[:i]).count(ds[i]) for i in range(len(ds))])
        assert (starts + within + 1).tolist() == [expected[(b, i)] for i in range(len(ds))]


def test_missing_shuffle_files_are_named(tmp_path):
    shuffle = ConceptShuffle(str(tmp_path / "work"), str(tmp_path), units=2, bits=1)
    with pytest.raises(ManifestError, match=r"parts/b00000/u00000\.arrow"):
        merge_bucket(shuffle, 0)
    with pytest.raises(ManifestError, match=r"lookup/u00001/b00000\.npz"):
        unit_lookup(shuffle, 1)


def test_reader_reads_shards_in_order_the_old_single_file_and_nothing(tmp_path):
    assert concept_table_paths(str(tmp_path)) == [] and list(iter_concept_tables(str(tmp_path))) == []
    pq.write_table(pa.table({"concept": ["w:a", "w:b"], "df": [3, 1], "rank": [1, 2]}), tmp_path / "concepts.parquet")
    assert [t.column("df").to_pylist() for t in iter_concept_tables(str(tmp_path), ["df"])] == [[3, 1]]
    for b in (1, 0):
        pq.write_table(pa.table({"concept": [f"w:{b}"], "df": [1], "rank": [b + 1]}), tmp_path / f"concepts-{b:05d}.parquet")
    assert [os.path.basename(p) for p in concept_table_paths(str(tmp_path))] == ["concepts-00000.parquet", "concepts-00001.parquet"]


def test_stage_on_many_synthetic_shards_equals_the_one_process_oracle(tmp_path):
    """The whole stage, 5 input shards -> 8 buckets: table, fit.json and every rarity column equal what
    one process computes with every concept in memory; a second run gives the same bytes."""
    from tailmine.concepts.rarity import rarity_columns
    from tailmine.concepts.tables import exact_counting, fit_summary
    from tailmine.pipelines import concepts
    from tailmine.schemas import read_documents

    benchmark_module("dedup_scaling").write_stage(2_400, tmp_path / "in", shard_rows=500)
    cfg = ConceptConfig(bootstrap=5)
    manifest = concepts.run(str(tmp_path / "in"), str(tmp_path / "out"), cfg, TEST_BEAM_ARGS, force=True, progress=False)
    assert manifest.counts.input == manifest.counts.output == 2_400 and manifest.extra["units"] == 5
    assert len(concept_table_paths(str(tmp_path / "out"))) == 8
    assert not (tmp_path / "out" / "_work").exists()
    docs = read_documents([str(tmp_path / "out" / s.path) for s in manifest.outputs])
    extractor = build_extractors(cfg.extractors, cfg.max_n)
    sets = [extractor.extract(t) for t in docs.column("text").to_pylist()]
    oracle = ExactCounts()
    oracle.add_batch(sets)
    table = _table(str(tmp_path / "out"))
    assert dict(zip(table.column("concept").to_pylist(), table.column("df").to_pylist())) == oracle.df
    values, counts = spectrum_of(oracle.arrays()[1])
    expected_fit = fit_summary(2_400, exact_counting(values, counts), values, counts, cfg)
    fit = json.loads((tmp_path / "out" / "fit.json").read_text())
    assert fit == json.loads(json.dumps(expected_fit)) and fit["counting"]["distinct_concepts"] == len(oracle.df)
    ref = rarity_columns(sets, lambda cs: np.array([oracle.df[c] for c in cs]), cfg.tail_df_range(2_400))
    for name, column in ref.items():
        if name == "concept_mean_log_df_v1":
            assert np.allclose(np.array(docs.column(name).to_pylist(), float), np.array(column.to_pylist(), float), rtol=1e-12, equal_nan=True)
        else:
            assert docs.column(name).to_pylist() == column.to_pylist()
    again = concepts.run(str(tmp_path / "in"), str(tmp_path / "again"), cfg, TEST_BEAM_ARGS, force=True, progress=False)
    assert [s.sha256 for s in again.outputs] == [s.sha256 for s in manifest.outputs]
    for path in concept_table_paths(str(tmp_path / "out")) + [str(tmp_path / "out" / "fit.json")]:
        assert open(path, "rb").read() == open(path.replace(str(tmp_path / "out"), str(tmp_path / "again")), "rb").read()
