"""The mix stage: a token budget, rare-concept reweighting, tokenized shards and ``recipe.json``.

Run it::

    tailmine mix --in out/concepts --out out/mix --tokens 2000000000
    tailmine mix --in out/concepts --out out/mix --compute-flops 1e21 --holdout 0.01
    tailmine mix --in gs://b/concepts --out gs://b/mix --tokens 5e10 -- --runner=DataflowRunner ...

Shape (longtail-methods.md §3.6):

1. Budget: D given, D = C/(6N), or the Chinchilla split of C (:mod:`tailmine.mixtures.budget`).
2. Tokenizer: the given ``tokenizer.json``, or a byte-level BPE trained on the non-held-out text.
3. Per input shard, in parallel (Beam): cut documents into training units (paragraph, then sentence
   boundaries, at most ``unit_tokens``), tokenize them (EOS after a document's last unit), give each
   unit its concept bucket (rarest concept) and held-out group key (:mod:`tailmine.mixtures.prepare`).
4. The held-out groups: per-group tokens summed across shards, the groups small enough to take
   offered in hash order (a bounded prefix, merged by a combiner), taken to reach ``--holdout`` ±20%
   (:func:`tailmine.mixtures.holdout.choose_holdout_groups`); their text's 13-grams and MinHash bands
   are merged into one index and every other unit is checked against it, shard by shard.
5. Planning passes over the prepared shards (:mod:`tailmine.mixtures.passes`), each a per-shard step
   whose summary a ``CombineFn`` adds up: quality gate, source budgets, (1-λ)·passive + λ·UniMax(β,
   E_max) over buckets, the budget scale factor, the document-share cap, metrics beside a passive
   mixture; each shard writes its sequence references by output shard.
6. One writer per output shard: the token shards (``tokens/mix-KKKKK.{bin,idx,lineage.parquet}``) and
   held-out shards (``holdout/``); then ``buckets.parquet``, ``recipe.json``, ``holdout.json`` and the
   manifest (documents; the unit counts are in ``extra.unit_counts`` and the recipe).

The final layout depends only on the documents, the config and the seed: the same inputs give
byte-identical shards and recipe.
"""
from __future__ import annotations

import argparse
import io
import json
import logging
from typing import Optional, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.metrics import Metrics

import tailmine
from tailmine.errors import ConfigError
from tailmine.fileio import exists, is_local, join, open_raw, read_bytes, write_bytes_atomic
from tailmine.mixtures.budget import TokenBudget
from tailmine.mixtures.config import MixConfig
from tailmine.mixtures.holdout import prefix_reaching
from tailmine.mixtures import passes as P
from tailmine.mixtures.prepare import (assign_buckets, check_shard, holdout_index_of_shard, merge_indexes, prepare_shard, shard_concepts,
                                       work_paths)
from tailmine.mixtures.recipe import recipe_bytes
from tailmine.mixtures.shards import LINEAGE_SCHEMA, token_dtype, write_token_arrays
from tailmine.pipelines.options import pipeline_options
from tailmine.pipelines.stage import Spread
from tailmine.runtime import ShardTask, WORK_DIR, fingerprint, finished_summary, prepare_output, save_summary, shard_tasks, stage_shards
from tailmine.schemas.manifest import Counts, Manifest, ShardInfo

STAGE = "mix"
TOKENS_DIR, HOLDOUT_DIR = "tokens", "holdout"
RECIPE, HOLDOUT_RECIPE, BUCKETS, TOKENIZER = "recipe.json", "holdout.json", "buckets.parquet", "tokenizer.json"
OUTPUTS = (TOKENS_DIR, HOLDOUT_DIR, WORK_DIR, RECIPE, HOLDOUT_RECIPE, BUCKETS, TOKENIZER, "manifest.json")
log = logging.getLogger("tailmine.mix")


def _vocab_size(tokenizer_path: str) -> int:
    from tokenizers import Tokenizer

    return Tokenizer.from_str(read_bytes(tokenizer_path).decode("utf-8")).get_vocab_size(with_added_tokens=True)


def _config_error_inside(exc: Exception) -> Exception:
    """The ConfigError a pipeline step raised (budget past the epoch cap, unreachable held-out share),
    unwrapped from the runner's exception; other errors as they are."""
    import re

    if isinstance(exc, ConfigError):
        return exc
    found = re.findall(r"tailmine\.errors\.ConfigError: (.+)", str(exc))
    return ConfigError(found[-1].strip().strip("'\"").replace("\\n", "")) if found else exc


def check_unit_tokens(cfg: MixConfig, tokenizer_path: str) -> None:
    """unit_tokens must fit what the tokenizer declares it can index (its truncation max_length)."""
    spec = json.loads(read_bytes(tokenizer_path))
    limit = (spec.get("truncation") or {}).get("max_length")
    if limit and cfg.unit_tokens > int(limit):
        raise ConfigError(f"mix unit_tokens {cfg.unit_tokens:,} is larger than the {int(limit):,} positions the tokenizer "
                          f"{tokenizer_path} can index (its truncation max_length); lower --unit-tokens")


def make_budget(cfg: MixConfig) -> TokenBudget:
    if cfg.tokens:
        return TokenBudget.from_tokens(cfg.tokens, cfg.params or None)
    return TokenBudget.from_compute(cfg.compute_flops, cfg.params or None, cfg.tokens_per_param)


def _quality_column(shards: list[str], wanted: str) -> Optional[str]:
    with open_raw(shards[0]) as handle:
        names = pq.ParquetFile(handle).schema_arrow.names
    if wanted:
        if wanted not in names:
            raise ConfigError(f"mix quality_column {wanted!r} is not a column of {shards[0]}; its columns: {', '.join(names)}")
        return wanted
    scores = sorted(n for n in names if n.startswith("quality_"))
    return scores[0] if scores else None


def _concept_extractor(in_dirs: list[str]):
    """The extractor the concepts stage used (its manifest parameters), or None if an input has none."""
    from tailmine.concepts.extract import build_extractors
    from tailmine.schemas.manifest import read_manifest

    params = [read_manifest(d).parameters for d in in_dirs]
    if any("extractors" not in p for p in params):
        return None
    p = params[0]
    return build_extractors(tuple(p["extractors"]), int(p.get("max_n", 3)))


def train_tokenizer_on(in_dirs: list[str], cfg: MixConfig, out_path: str, max_bytes: int = 200 << 20) -> str:
    """Byte-level BPE on the text the mixture may use (held-out domains excluded); deterministic order."""
    from tailmine.mixtures.tokenize import DEFAULT_EOS, save_tokenizer, train_bpe
    from tailmine.pipelines.tokenizer import curated_texts

    texts = curated_texts(in_dirs, max_bytes, cfg.holdout, cfg.seed)
    return save_tokenizer(train_bpe(texts, cfg.vocab_size, special_tokens=(cfg.eos_token or DEFAULT_EOS,)), out_path)


class PrepareShardFn(beam.DoFn):
    DOCUMENTS = Metrics.counter(STAGE, "documents_prepared")

    def __init__(self, cfg: MixConfig, in_dirs: list[str], out_dir: str, tokenizer_path: str, quality_column, run_fingerprint: str):
        self.cfg, self.in_dirs, self.out_dir, self.tokenizer_path = cfg, in_dirs, out_dir, tokenizer_path
        self.quality_column, self.fingerprint = quality_column, run_fingerprint

    def setup(self):
        from tailmine.mixtures.tokenize import Encoder

        self.encoder = Encoder(self.tokenizer_path, self.cfg.fast_encoder, self.cfg.eos_token or None)
        self.extractor = _concept_extractor(self.in_dirs) if has_concept_tables(self.in_dirs) else None
        if self.extractor is not None:
            self.extractor.setup()

    def process(self, task: ShardTask):
        previous = finished_summary(self.out_dir, task.unit, self.fingerprint)
        if previous is not None and all(exists(p) for p in work_paths(self.out_dir, task.unit)[:2]):
            yield previous
            return
        summary = prepare_shard(task.unit, task.path, self.out_dir, self.encoder, self.extractor, self.quality_column,
                                self.cfg.holdout, self.cfg.salient(), unit_tokens=self.cfg.unit_tokens, eos_between_units=self.cfg.eos_between_units)
        summary["fingerprint"] = self.fingerprint
        summary["counts"] = {"input": summary["documents"], "output": summary["documents"]}
        summary["input_bytes"] = task.bytes
        summary["outputs"] = []
        save_summary(self.out_dir, summary)
        self.DOCUMENTS.inc(summary["documents"])
        yield summary


def has_concept_tables(in_dirs: list[str]) -> bool:
    from tailmine.concepts.tables import concept_table_paths

    return all(concept_table_paths(d) for d in in_dirs)


def concept_dfs(path: str):
    """(concept, df) rows of one concept-table file."""
    from tailmine.concepts.tables import read_concept_file

    table = read_concept_file(path, ["concept", "df"])
    return zip(table.column(0).to_pylist(), table.column(1).to_pylist())


class AssignBuckets(beam.PTransform):
    """Concept rarity joined by key: each prepared shard's distinct concepts meet the concept table's
    (concept, df) rows in a ``CoGroupByKey``, and each shard gets the dfs of its own concepts only, so
    no worker holds the concept table (it grows with the corpus). Input and output: shard summaries."""

    def __init__(self, in_dirs: list[str], out_dir: str, min_concept_df: int):
        super().__init__()
        self.in_dirs, self.out_dir, self.min_df = in_dirs, out_dir, min_concept_df

    def expand(self, prepared):
        from tailmine.concepts.tables import concept_table_paths

        out, min_df = self.out_dir, self.min_df
        paths = [p for d in self.in_dirs for p in concept_table_paths(d)]
        dfs = (prepared.pipeline
               | "ConceptFiles" >> beam.Create(paths, reshuffle=False)
               | "SpreadConceptFiles" >> Spread()
               | "ConceptRows" >> beam.FlatMap(concept_dfs)
               | "SumInputs" >> beam.CombinePerKey(sum)
               | "Salient" >> beam.Filter(lambda kv: kv[1] >= min_df))
        mentions = prepared | "ShardConcepts" >> beam.FlatMap(lambda s: [(c, s["unit"]) for c in shard_concepts(out, s["unit"])])

        def route(item):
            _, joined = item
            for df in joined["df"][:1]:
                for unit in joined["shards"]:
                    yield unit, (item[0], df)

        per_shard = ({"df": dfs, "shards": mentions} | "JoinDfs" >> beam.CoGroupByKey() | "Route" >> beam.FlatMap(route))
        summaries = prepared | "ByShard" >> beam.Map(lambda s: (s["unit"], s))

        def assign(item):
            unit, joined = item
            summary = joined["summary"][0]
            assign_buckets(out, unit, dict(joined["dfs"]), min_df)
            return summary

        return ({"summary": summaries, "dfs": per_shard} | "Gather" >> beam.CoGroupByKey() | "Assign" >> beam.Map(assign))


class HoldoutIndexFn(beam.DoFn):
    def __init__(self, cfg, out_dir):
        self.cfg, self.out_dir = cfg, out_dir

    def process(self, summary, tasks, held):
        task = tasks[summary["unit"]]
        yield holdout_index_of_shard(task.unit, task.path, self.out_dir, self.cfg, held[0])


class CheckShardFn(beam.DoFn):
    def __init__(self, out_dir):
        self.out_dir = out_dir

    def process(self, summary, index, tasks, held):
        task = tasks[summary["unit"]]
        check_shard(task.unit, task.path, self.out_dir, index, held[0])
        yield summary


class OfferedGroups(beam.CombineFn):
    """The prefix of held-out-eligible groups that :func:`~tailmine.mixtures.holdout.offered_groups`
    keeps: elements are (u, key, tokens, target); the accumulator (items, target, size at which to trim
    next) never holds more than twice the prefix plus 4,096 arrivals, so one worker holds the offered
    groups, not every group, and trimming costs O(n log n) overall."""

    BATCH = 4096

    def create_accumulator(self):
        return [], 0.0, self.BATCH

    def add_input(self, acc, item):
        items, _, trim_at = acc
        items.append(item[:3])
        if len(items) >= trim_at:
            items = prefix_reaching(items, item[3])
            trim_at = 2 * len(items) + self.BATCH
        return items, item[3], trim_at

    def merge_accumulators(self, accs):
        accs = list(accs)
        target = max(a[1] for a in accs)
        items = prefix_reaching([i for a in accs for i in a[0]], target)
        return items, target, 2 * len(items) + self.BATCH

    def extract_output(self, acc):
        return prefix_reaching(acc[0], acc[1])


def offer_holdout_groups(summaries, total, cfg: MixConfig):
    """(u, key, tokens) of the groups offered to the held-out set: per-group tokens summed across
    shards (a domain's pages lie in many), the too-large ones dropped, the hash-order prefix kept."""
    from tailmine.mixtures.holdout import group_uniform, offer_limit

    def keyed(group_tokens, total):
        largest, target = offer_limit(total, cfg.holdout)
        g, t = group_tokens
        if t <= largest:
            yield group_uniform(g, cfg.seed), g, t, target

    return (summaries
            | "GroupTokens" >> beam.FlatMap(lambda s: sorted(s.get("group_tokens", {}).items()))
            | "SumPerGroup" >> beam.CombinePerKey(sum)
            | "Takeable" >> beam.FlatMap(keyed, total)
            | "OfferedPrefix" >> beam.CombineGlobally(OfferedGroups()))


def choose_holdout(offered: list, total: int, cfg: MixConfig) -> tuple[frozenset, dict]:
    from tailmine.mixtures.holdout import choose_holdout_groups

    held, info = choose_holdout_groups(offered, total, cfg.holdout, cfg.seed)
    return frozenset(held), info


# --- the planning passes (tailmine.mixtures.passes), one prepared shard per element ----------------

class MergeSummaries(beam.CombineFn):
    """Adds shard summaries (:func:`tailmine.mixtures.passes.add_dicts`): the global statistics."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, item):
        return P.add_dicts(acc, item)

    def merge_accumulators(self, accs):
        out: dict = {}
        for a in accs:
            out = P.add_dicts(out, a)
        return out

    def extract_output(self, acc):
        return acc


def load_view(out_dir: str, unit: int, holdout: bool) -> "P.ShardView":
    docs_path, _, contam_path = work_paths(out_dir, unit)
    work = pq.read_table(io.BytesIO(read_bytes(docs_path)))
    if holdout:
        contamination = pq.read_table(io.BytesIO(read_bytes(contam_path))).column(0).to_pylist()
    else:
        contamination = [None] * work.num_rows
    return P.ShardView(unit, work, contamination)


def _arrays_path(out_dir: str, unit: int) -> str:
    return join(out_dir, WORK_DIR, f"plan-{unit:05d}.npz")


def _refs_path(out_dir: str, kind: str, unit: int) -> str:
    return join(out_dir, WORK_DIR, f"refs-{kind}-{unit:05d}.parquet")


def _save_arrays(out_dir: str, unit: int, arrays: dict) -> int:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes_atomic(_arrays_path(out_dir, unit), buf.getvalue())
    return unit


def _load_arrays(out_dir: str, unit: int) -> dict:
    with np.load(io.BytesIO(read_bytes(_arrays_path(out_dir, unit)))) as z:
        return {k: z[k] for k in z.files}


class TokenReader:
    """Slices of one prepared shard's token array. Local files are read slice by slice with pread,
    not memory-mapped: a writer takes scattered units from every input shard, and mapped pages (with
    the kernel's read-around) would make its resident memory grow with the corpus."""

    def __init__(self, path: str):
        self.path = path
        if is_local(path):
            import os

            with open(path, "rb") as handle:
                version = np.lib.format.read_magic(handle)
                header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                _, _, dtype = header(handle)
                self.offset = handle.tell()
            self.dtype = np.dtype(dtype)
            self.fd = os.open(path, os.O_RDONLY)
            self.array = None
        else:
            self.array, self.fd = np.load(io.BytesIO(read_bytes(path))), None

    def read(self, start: int, n: int) -> np.ndarray:
        if self.array is not None:
            return np.asarray(self.array[start : start + n])
        import os

        size = self.dtype.itemsize
        return np.frombuffer(os.pread(self.fd, n * size, self.offset + start * size), self.dtype)

    def close(self) -> None:
        if self.fd is not None:
            import os

            os.close(self.fd)
            self.fd = None


LINEAGE_COLUMNS = ("id", "unit", "char_start", "char_end", "token_start", "source", "bucket", "input_shard", "source_file",
                   "source_record", "source_offset", "utf8_bytes", "tokens")


def _write_references(out_dir: str, view, kind: str, refs: dict) -> None:
    """The shard's references for ``kind`` with everything the writer needs (lineage, token offsets),
    so an output shard's writer reads only its own rows."""
    rows = np.asarray(refs["row"], np.int64)
    tok = view.work.column("tokens").to_numpy()
    starts = np.concatenate([[0], np.cumsum(tok)[:-1]]).astype(np.int64) if len(tok) else np.zeros(0, np.int64)
    idx = pa.array(rows)
    cols = {"out_shard": pa.array(refs["shard"]), "order": pa.array(refs["order"]), "name": pa.array(refs["name"], pa.string()),
            "copy": pa.array(refs["copy"], pa.int32()), "input_unit": pa.array(np.full(len(rows), view.unit, np.int64)),
            "token_offset": pa.array(starts[rows] if len(rows) else np.zeros(0, np.int64))}
    for c in LINEAGE_COLUMNS:
        cols[c] = view.work.column(c).take(idx)
    sink = io.BytesIO()
    pq.write_table(pa.table(cols).sort_by("out_shard"), sink, compression="zstd", row_group_size=64 * 1024)
    write_bytes_atomic(_refs_path(out_dir, kind, view.unit), sink.getvalue())


def write_output_shard(out_dir: str, kind: str, shard: int, units: list[int], dtype) -> Optional[dict]:
    """Output shard ``shard`` of ``kind``: its references from every input shard, in the global hash
    order (document copy, then unit in reading order), tokens copied from the prepared shards."""
    parts = []
    for unit in units:
        with open_raw(_refs_path(out_dir, kind, unit)) as handle:
            t = pq.read_table(handle, filters=[("out_shard", "=", shard)])
        if t.num_rows:
            parts.append(t)
    if not parts:
        return None
    table = pa.concat_tables(parts).sort_by([(c, "ascending") for c in P.ORDER_COLUMNS]).combine_chunks()
    sizes = table.column("tokens").to_numpy().astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    flat = np.empty(int(starts[-1]), dtype)  # filled in place: memory is the shard's tokens once, not a list of arrays
    units_col, offsets = table.column("input_unit").to_numpy(), table.column("token_offset").to_numpy()
    cache: dict = {}
    for j in range(table.num_rows):
        u = int(units_col[j])
        if u not in cache:
            cache[u] = TokenReader(work_paths(out_dir, u)[1])
        flat[starts[j] : starts[j + 1]] = cache[u].read(int(offsets[j]), int(sizes[j]))
    for reader in cache.values():
        reader.close()
    names = table.column("name")
    new_doc = np.ones(table.num_rows, bool)
    if table.num_rows > 1:
        new_doc[1:] = pc.not_equal(names.slice(1), names.slice(0, table.num_rows - 1)).to_numpy(zero_copy_only=False)
    lineage = pa.table({"sequence": pa.array(np.arange(table.num_rows), pa.int64()),
                        **{c: table.column(c) for c in LINEAGE_COLUMNS + ("copy",)}})
    lineage = lineage.select(LINEAGE_SCHEMA.names).cast(LINEAGE_SCHEMA)
    prefix = "mix" if kind == "mixture" else "holdout"
    subdir = TOKENS_DIR if kind == "mixture" else HOLDOUT_DIR
    return write_token_arrays(out_dir, f"{subdir}/{prefix}-{shard:05d}", flat, sizes, lineage, np.flatnonzero(new_doc).tolist())


class PlanPasses(beam.PTransform):
    """Passes 1-5 of :mod:`tailmine.mixtures.passes` over the prepared shards (elements: shard
    numbers); returns the PCollections of the merged measure summary and the singletons it used."""

    def __init__(self, cfg, out_dir, budget_tokens, quality_column, held):
        super().__init__()
        self.cfg, self.out_dir, self.budget, self.quality_column, self.held = cfg, out_dir, budget_tokens, quality_column, held

    def expand(self, shards):
        cfg, out, hold, held = self.cfg, self.out_dir, self.cfg.holdout > 0, self.held
        budget, quality_column = self.budget, self.quality_column
        p = shards.pipeline
        one = p | "One" >> beam.Create([None])

        def merge(pc, label):
            return beam.pvalue.AsSingleton(pc | label >> beam.CombineGlobally(MergeSummaries()))

        cand = merge(shards | "Candidates" >> beam.Map(lambda u, h: P.candidate_summary(load_view(out, u, hold), h[0]), held),
                     "MergeCandidates")
        at = beam.pvalue.AsSingleton(one | "QualityRank" >> beam.Map(
            lambda _, c: P.quality_rank(c, cfg.quality_quantile) if quality_column else None, cand))
        vals = merge(shards | "InBin" >> beam.Map(
            lambda u, h, a: P.values_in_bin(load_view(out, u, hold), h[0], a[0]) if a else {"values": []}, held, at), "MergeInBin")

        def gate_fn(_, c, a, v):
            threshold, gate = P.quality_gate(lambda: c, lambda b: v["values"], cfg, quality_column)
            return threshold, gate

        gate = beam.pvalue.AsSingleton(one | "Gate" >> beam.Map(gate_fn, cand, at, vals))
        pool = merge(shards | "Pool" >> beam.Map(lambda u, h, g: P.pool_summary(load_view(out, u, hold), h[0], g[0]), held, gate),
                     "MergePool")
        weights = beam.pvalue.AsSingleton(one | "Weights" >> beam.Map(lambda _, s: P.plan_weights(s, cfg, budget), pool))
        ready = shards | "Arrays" >> beam.Map(
            lambda u, h, g, w: _save_arrays(out, u, P.shard_arrays(load_view(out, u, hold), h[0], g[0], w, cfg, budget)),
            held, gate, weights)
        grid = beam.pvalue.AsSingleton(one | "Grid0" >> beam.Map(lambda _: P.first_grid()))
        for r in range(P.ROUNDS):
            totals = merge(ready | f"Evaluate{r}" >> beam.Map(lambda u, g: P.evaluate(_load_arrays(out, u), g), grid), f"MergeTotals{r}")

            def step(_, t, r=r):
                if r == 0:
                    P.check_ceiling(t, budget, cfg)
                return P.next_grid(t, budget, last=r == P.ROUNDS - 1)

            grid = beam.pvalue.AsSingleton(one | f"Narrow{r}" >> beam.Map(step, totals))
        fs = grid
        for r in range(P.REFINE_ROUNDS):
            best = merge(ready | f"Propose{r}" >> beam.Map(lambda u, f: P.propose(_load_arrays(out, u), f, budget), fs), f"MergeBest{r}")
            fs = beam.pvalue.AsSingleton(one | f"Refine{r}" >> beam.Map(lambda _, f, b: P.apply_proposals(f, b, budget), fs, best))
        n_out = beam.pvalue.AsSingleton(one | "OutShards" >> beam.Map(
            lambda _, f, h: P.out_shard_counts(f, h[1].get("tokens", 0), cfg), fs, held))

        def measure(u, h, g, f, n):
            view = load_view(out, u, hold)
            summary, refs = P.measure(view, _load_arrays(out, u), h[0], g[0], f, cfg.seed, n)
            for kind, r in refs.items():
                _write_references(out, view, kind, r)
            return summary

        summary = shards | "Measure" >> beam.Map(measure, held, gate, fs, n_out) | "MergeMeasure" >> beam.CombineGlobally(MergeSummaries())
        return summary, gate, weights, fs, n_out


def build_mixture(summary: dict, infos: list, cfg: MixConfig, out_dir: str, tasks: list[ShardTask], tokenizer_path: str,
                  parameters: dict, notes: list[str], held, gate_pair, weights: dict, fs: dict) -> str:
    """The recipe and the manifest from the merged statistics and the written shards (small inputs only)."""
    from tailmine.mixtures.tokenize import Encoder

    encoder = Encoder(tokenizer_path, cfg.fast_encoder, cfg.eos_token or None)
    budget = make_budget(cfg)
    held_groups, held_info = held
    threshold, gate = gate_pair
    gate = dict(gate)
    if threshold is not None:
        gate["dropped"] = summary["unit_reasons"].get("below_quality_gate", 0)
    bucket_columns = (pq.read_table(io.BytesIO(read_bytes(work_paths(out_dir, t.unit)[0])), columns=["bucket"]).column(0) for t in tasks)
    plan_sections, bucket_table = P.sections(summary, weights, gate, cfg, fs, budget.tokens, P.bucket_name_index(bucket_columns))
    dtype = token_dtype(encoder.vocab_size)
    shards = sorted((i for k, i in infos if k == "mixture"), key=lambda s: s["name"])
    holdout_shards = sorted((i for k, i in infos if k == "holdout"), key=lambda s: s["name"])
    sink = io.BytesIO()
    pq.write_table(bucket_table, sink, compression="zstd")
    write_bytes_atomic(join(out_dir, BUCKETS), sink.getvalue())
    tokens_total = int(sum(s["tokens"] for s in shards))
    counts = _counts(summary["doc_reasons"])
    unit_counts = _counts(summary["unit_reasons"])
    recipe = {
        "recipe_format": 2,
        "tailmine_version": tailmine.__version__,
        "token_budget": budget.tokens,
        "tokens_total": tokens_total,
        "budget_error": (tokens_total - budget.tokens) / budget.tokens,
        "budget": budget.to_dict(),
        "tokenizer": {**encoder.describe(), "path": TOKENIZER, "dtype": str(dtype)},
        "shards": shards,
        "sequences": int(sum(s["sequences"] for s in shards)),
        "documents": {"input": counts.input, "in_mixture": counts.output, "dropped": dict(sorted(counts.dropped.items()))},
        "units": {"input": unit_counts.input, "in_mixture": unit_counts.output, "dropped": dict(sorted(unit_counts.dropped.items())),
                  "unit_tokens": cfg.unit_tokens, "eos": "between units" if cfg.eos_between_units else "between documents"},
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "inputs": [{"path": t.path, "rows": t.rows, "bytes": t.bytes} for t in tasks],
        "holdout": {**held_info, "documents": counts.dropped.get("held_out", 0), "units": summary.get("held_units", 0),
                    "tokens": int(sum(s["tokens"] for s in holdout_shards)),
                    "shards": len(holdout_shards), "recipe": HOLDOUT_RECIPE if cfg.holdout else None,
                    "decontaminated_units": {r: unit_counts.dropped.get(r, 0) for r in ("contaminated_ngram", "near_duplicate_of_holdout")}},
        "notes": list(notes) + budget.warnings(),
        **plan_sections,
    }
    if cfg.holdout:
        write_bytes_atomic(join(out_dir, HOLDOUT_RECIPE), recipe_bytes({
            "tailmine_version": tailmine.__version__, "tokenizer": recipe["tokenizer"], "shards": holdout_shards,
            "documents": recipe["holdout"]["documents"], "units": recipe["holdout"]["units"], "groups": sorted(held_groups),
            "split": "whole registered domains (web) and book works (books), offered in hash order until the share is reached",
            "fraction": cfg.holdout, "share": held_info.get("share"), "seed": cfg.seed}))
    write_bytes_atomic(join(out_dir, RECIPE), recipe_bytes(recipe))
    # Token shards are not document Parquet shards: readers of ``outputs`` (the report, later stages)
    # expect documents, so the shards are listed in ``extra`` (and, with lineage, in recipe.json).
    token_shards = [ShardInfo(s["path"], s["sequences"], s["files"][s["path"]]["bytes"], s["sha256"]).__dict__ for s in shards]
    manifest = Manifest(
        stage=STAGE, tailmine_version=tailmine.__version__, schema_version="1", parameters=parameters,
        inputs=recipe["inputs"], outputs=[], quarantine=[], counts=counts,
        extra={"token_budget": budget.tokens, "tokens_total": tokens_total, "files": [RECIPE, BUCKETS, TOKENIZER] + ([HOLDOUT_RECIPE] if cfg.holdout else []),
               "token_shards": token_shards, "holdout_shards": [s["path"] for s in holdout_shards],
               "unit_counts": unit_counts.to_dict()},
    )
    return manifest.write(out_dir)


def _counts(outcomes: dict) -> Counts:
    """Counts from {outcome: n}, ``_output`` being the output."""
    counts = Counts(input=sum(outcomes.values()), output=outcomes.get("_output", 0))
    for r, n in sorted(outcomes.items()):
        if r != "_output":
            counts.drop(r, n)
    return counts


def plan_and_write(shards, held, cfg: MixConfig, out_dir: str, tasks: list[ShardTask], tokenizer_path: str, parameters: dict,
                   notes: list[str], quality_column: Optional[str], budget_tokens: int) -> None:
    """Everything after the shards are prepared (and decontaminated): the planning passes, one writer
    per output shard, then the recipe and the manifest. ``shards``: the prepared shard numbers;
    ``held``: the singleton (held-out groups, their summary)."""
    pipeline = shards.pipeline
    summary, gate, weights, fs, n_out = shards | "Plan" >> PlanPasses(cfg, out_dir, budget_tokens, quality_column, held)
    # the writers wait for every shard's references: each takes one output shard
    done = beam.pvalue.AsSingleton(summary | "Written" >> beam.Map(lambda s: len(s)))
    units = [t.unit for t in tasks]
    dtype = token_dtype(_vocab_size(tokenizer_path))
    infos = (
        pipeline
        | "OneOutput" >> beam.Create([None])
        | "OutputShards" >> beam.FlatMap(lambda _, n, d: [(k, i) for k in ("mixture", "holdout") for i in range(n[k])], n_out, done)
        | "SpreadOutputs" >> Spread()
        | "WriteShards" >> beam.FlatMap(lambda ks: [(ks[0], info) for info in [write_output_shard(out_dir, ks[0], ks[1], units, dtype)] if info])
        | "CollectShards" >> beam.combiners.ToList()
    )
    summary | "BuildMixture" >> beam.Map(
        lambda s, i, h, g, w, f: build_mixture(s, i, cfg, out_dir, tasks, tokenizer_path, parameters, notes, h, g, w, f),
        beam.pvalue.AsSingleton(infos), held, gate, weights, fs)


def run(
    in_dirs: str | Sequence[str],
    out_dir: str,
    cfg: Optional[MixConfig] = None,
    beam_args: Optional[list[str]] = None,
    force: bool = False,
    resume: bool = False,
    progress: bool = True,
) -> Manifest:
    """Run the mix stage over the finished stage(s) in ``in_dirs``; return the manifest."""
    from tailmine.pipelines.stage import finish

    if cfg is None:
        raise ConfigError("mix needs a config with a budget (tokens or compute_flops)")
    in_dirs = [in_dirs] if isinstance(in_dirs, str) else list(in_dirs)
    budget = make_budget(cfg)
    tasks: list[ShardTask] = []
    for d in in_dirs:
        tasks += shard_tasks(d, stage_shards(d)[1], first=len(tasks))
    if not tasks:
        raise ConfigError(f"no document shards in {', '.join(in_dirs)}")
    prepare_output(out_dir, force, resume, subdirs=OUTPUTS)
    notes: list[str] = []
    tokenizer_path = join(out_dir, TOKENIZER)
    if cfg.tokenizer:
        write_bytes_atomic(tokenizer_path, read_bytes(cfg.tokenizer))
    else:
        if not (resume and exists(tokenizer_path)):  # a resumed run keeps the tokenizer its first try trained
            train_tokenizer_on(in_dirs, cfg, tokenizer_path)
        notes.append(f"tokenizer: byte-level BPE (vocab {cfg.vocab_size}) trained on the non-held-out input text")
    quality_column = _quality_column([t.path for t in tasks], cfg.quality_column)
    if quality_column is None:
        notes.append("no quality_* column in the input: quality gate skipped")
    check_unit_tokens(cfg, tokenizer_path)
    with_concepts = has_concept_tables(in_dirs) and _concept_extractor(in_dirs) is not None
    if not with_concepts:
        note = "input has no concept table / concepts manifest: mixing by source weights alone (one bucket, no concept reweighting or tail metrics)"
        log.warning("mix: %s (%s); run the concepts stage first for rare-concept reweighting", note, ", ".join(in_dirs))
        notes.append(note)
    parameters = {"step": STAGE, **cfg.to_dict(), "budget": budget.to_dict(), "quality_column": quality_column}
    run_fingerprint = fingerprint({**parameters, "inputs": [(t.path, t.bytes) for t in tasks]})
    pipeline = beam.Pipeline(options=pipeline_options(beam_args))
    listed = pipeline | "ListShards" >> beam.Create(tasks, reshuffle=False)
    prepared = (
        listed
        | "Redistribute" >> Spread()
        | "PrepareShards" >> beam.ParDo(PrepareShardFn(cfg, in_dirs, out_dir, tokenizer_path, quality_column, run_fingerprint))
    )
    if with_concepts:
        prepared = prepared | "Buckets" >> AssignBuckets(in_dirs, out_dir, cfg.min_concept_df)
    # the held-out groups: one small global choice from the offered groups' token totals
    total = beam.pvalue.AsSingleton(prepared | "InputTokens" >> beam.Map(lambda s: int(s["tokens"])) | "SumTokens" >> beam.CombineGlobally(sum))
    offered = offer_holdout_groups(prepared, total, cfg)
    held = beam.pvalue.AsSingleton(offered | "ChooseHoldout" >> beam.Map(choose_holdout, total, cfg))
    ready = prepared
    if cfg.holdout > 0:
        task_map = beam.pvalue.AsSingleton(pipeline | "TaskMap" >> beam.Create([{t.unit: t for t in tasks}]))
        index = (
            prepared
            | "HoldoutIndex" >> beam.ParDo(HoldoutIndexFn(cfg, out_dir), tasks=task_map, held=held)
            | "MergeIndex" >> beam.combiners.ToList()
            | "Merge" >> beam.Map(merge_indexes, cfg)
        )
        ready = prepared | "Decontaminate" >> beam.ParDo(CheckShardFn(out_dir), index=beam.pvalue.AsSingleton(index), tasks=task_map, held=held)
    shards = ready | "ShardNumbers" >> beam.Map(lambda summary: summary["unit"])
    plan_and_write(shards, held, cfg, out_dir, tasks, tokenizer_path, parameters, notes, quality_column, budget.tokens)
    try:
        manifest = finish(pipeline, out_dir, STAGE, len(tasks), sum(t.bytes for t in tasks), progress)
    except Exception as exc:  # a runner wraps errors of the planning steps; give the user the message
        raise _config_error_inside(exc) from exc
    return manifest


# --- command line: `tailmine mix` ----------------------------------------------------------------


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    from tailmine.stages import STAGES, run_stage_command

    run_stage_command(STAGES[STAGE], args, beam_args)
    recipe = json.loads(read_bytes(join(args.out, RECIPE)))
    print(f"  tokens: {recipe['tokens_total']:,} of a {recipe['token_budget']:,} budget ({recipe['budget_error']:+.3%}) "
          f"in {len(recipe['shards'])} shard(s); tokenizer {recipe['tokenizer']['encoder']}")
    metrics = recipe.get("tail_metrics", {})
    if "mixture" in metrics:
        m, p = metrics["mixture"], metrics["passive"]
        print(f"  Cov10 {m['cov_10']:.3f} vs passive {p['cov_10']:.3f}; Cov1 {m['cov_1']:.3f} vs {p['cov_1']:.3f}; "
              f"D1 {m['hill_d1']:.0f} vs {p['hill_d1']:.0f}; max epochs {recipe['repetition_profile']['max_epochs']}")
    print(f"  recipe: {join(args.out, RECIPE)}")
    return 0
