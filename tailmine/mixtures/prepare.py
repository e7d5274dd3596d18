"""Per input shard (data-parallel): tokenize, assign concept buckets, mark held-out documents.

:func:`prepare_shard` reads one document shard and writes, under ``OUT/_work/``:

* ``docs-UUUUU.parquet``: one row per training unit (documents cut at paragraph, then sentence
  boundaries into units of at most ``unit_tokens``), in input order — id, unit number, char and token
  offsets, held-out group key, source, bucket (the unit's rarest concept with df ≥ ``min_concept_df``,
  ties by name), hashed concept ids (for the tail metrics), token count (EOS included), UTF-8 bytes,
  quality score and lineage columns;
* ``tokens-UUUUU.npy``: the units' tokens, concatenated (uint32); EOS after each document's last unit.

The buckets need each concept's document frequency, and the concept table grows with the corpus, so
no worker loads it: :func:`prepare_shard` stores each unit's salient concepts (column ``concepts``),
:func:`shard_concepts` lists a shard's distinct ones, the stage joins them with the concept table by
key (a Beam ``CoGroupByKey``), and :func:`assign_buckets` gets only its own shard's dfs and replaces
the ``concepts`` column with ``bucket``, ``bucket_df`` and ``concept_ids``.

:func:`check_shard` is the decontamination pass: the mixture-side documents of one shard against
the :class:`~tailmine.mixtures.holdout.ContaminationIndex` of the held-out set.
"""
from __future__ import annotations

import hashlib
import io
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tailmine.fileio import join, open_raw, read_bytes, write_bytes_atomic
from tailmine.mixtures.holdout import ContaminationIndex, domain_key

WORK_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("unit", pa.int32(), metadata={"doc": "0-based index of the unit in its document (reading order)"}),
        pa.field("last_unit", pa.bool_(), metadata={"doc": "the document's last unit (EOS follows it)"}),
        pa.field("doc_row", pa.int64(), metadata={"doc": "row of the document in its input shard"}),
        pa.field("char_start", pa.int64()),
        pa.field("char_end", pa.int64()),
        pa.field("token_start", pa.int64(), metadata={"doc": "tokens of the document's earlier units (EOS excluded)"}),
        pa.field("group", pa.string(), metadata={"doc": "held-out split key: book work, registered domain or file"}),
        pa.field("source", pa.string()),
        pa.field("bucket", pa.string()),
        pa.field("bucket_df", pa.int64()),
        pa.field("concept_ids", pa.list_(pa.int64())),
        pa.field("tokens", pa.int64()),
        pa.field("utf8_bytes", pa.int64()),
        pa.field("quality", pa.float64()),
        pa.field("input_shard", pa.string()),
        pa.field("source_file", pa.string()),
        pa.field("source_record", pa.int64()),
        pa.field("source_offset", pa.int64()),
    ]
)
READ_COLUMNS = ["id", "source", "url", "text", "metadata", "source_file", "source_record", "source_offset"]


def concept_hash(concept: str) -> int:
    return int.from_bytes(hashlib.blake2b(concept.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little", signed=True)


def work_paths(out_dir: str, unit: int) -> tuple[str, str, str]:
    return (join(out_dir, "_work", f"docs-{unit:05d}.parquet"), join(out_dir, "_work", f"tokens-{unit:05d}.npy"),
            join(out_dir, "_work", f"contam-{unit:05d}.parquet"))


PENDING = "concepts"  # a prepared shard's column of salient concepts per unit, until its buckets are assigned


def _bucket(concepts: list, dfs: dict, min_concept_df: int) -> tuple:
    """(bucket, its df, sorted concept hashes): the bucket is the rarest concept with df ≥ min, ties by name."""
    best, cids = None, []
    for c in concepts:
        df = dfs.get(c, 0)
        if df >= min_concept_df:
            cids.append(concept_hash(c))
            if best is None or (df, c) < best:
                best = (df, c)
    cids.sort()
    return (best[1], best[0], cids) if best else (None, None, cids)


def shard_concepts(out_dir: str, unit: int) -> list[str]:
    """The distinct concepts of a prepared shard whose buckets are not assigned yet (else none)."""
    docs_path = work_paths(out_dir, unit)[0]
    with open_raw(docs_path) as handle:
        parquet = pq.ParquetFile(handle)
        if PENDING not in parquet.schema_arrow.names:
            return []
        values = parquet.read(columns=[PENDING]).column(0).combine_chunks().flatten()
    import pyarrow.compute as pc

    return sorted(pc.unique(values).to_pylist())


def assign_buckets(out_dir: str, unit: int, dfs: dict, min_concept_df: int) -> int:
    """Give every unit of a prepared shard its bucket from ``dfs`` (concept -> df, this shard's concepts
    only); rewrites the shard without its ``concepts`` column. Returns the units given a bucket."""
    docs_path = work_paths(out_dir, unit)[0]
    table = pq.read_table(io.BytesIO(read_bytes(docs_path)))
    if PENDING not in table.column_names:
        return 0  # assigned by an earlier try
    picked = [_bucket(c or [], dfs, min_concept_df) for c in table.column(PENDING).to_pylist()]
    columns = {name: table.column(name) for name in WORK_SCHEMA.names if name in table.column_names}
    columns["bucket"] = pa.array([p[0] for p in picked], pa.string())
    columns["bucket_df"] = pa.array([p[1] for p in picked], pa.int64())
    columns["concept_ids"] = pa.array([p[2] for p in picked], pa.list_(pa.int64()))
    out = pa.Table.from_pydict({name: columns[name] for name in WORK_SCHEMA.names}, schema=WORK_SCHEMA)
    sink = io.BytesIO()
    pq.write_table(out, sink, compression="zstd")
    write_bytes_atomic(docs_path, sink.getvalue())
    return sum(p[0] is not None for p in picked)


def prepare_shard(unit: int, path: str, out_dir: str, encoder, extractor, quality_column: Optional[str], holdout: float,
                  salient: tuple = ("e",), batch_rows: int = 1024, unit_tokens: int = 2048,
                  eos_between_units: bool = False) -> dict:
    """Cut every document into training units (:func:`~tailmine.mixtures.units.cut_units`), tokenize
    them and, with an ``extractor``, list each unit's salient concepts for :func:`assign_buckets`
    (without one, no unit has a bucket). ``salient``: concept kinds (``e`` entity spans, ``w`` word
    n-grams, ``c`` clusters) that define buckets and the tail metrics' concept set; empty: every kind.

    The summary carries the input tokens and each held-out group's tokens in this shard (bounded by the
    shard's rows); the held-out choice sums them per group and keeps only the prefix it may offer
    (:func:`~tailmine.mixtures.holdout.offered_groups`)."""
    from tailmine.mixtures.units import cut_units

    prefixes = tuple(f"{k}:" for k in salient)
    docs_path, tokens_path, _ = work_paths(out_dir, unit)
    columns = {name: [] for name in WORK_SCHEMA.names}
    pending: list[list[str]] = []
    token_parts: list[np.ndarray] = []
    group_tokens: dict[str, int] = {}
    row = 0
    with open_raw(path) as handle:
        parquet = pq.ParquetFile(handle)
        names = set(parquet.schema_arrow.names)
        read = [c for c in READ_COLUMNS if c in names] + ([quality_column] if quality_column and quality_column in names else [])
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=read):
            rows = batch.to_pydict()
            texts = [t or "" for t in rows["text"]]
            n = len(texts)
            whole = encoder.encode_batch(texts)
            q = rows.get(quality_column) if quality_column else None
            for i in range(n):
                key = domain_key(rows["source"][i], (rows.get("url") or [None] * n)[i], (rows.get("metadata") or [None] * n)[i], rows["source_file"][i])
                units = cut_units(texts[i], encoder.encode_batch, unit_tokens - 1, whole[i])
                token_start, doc_tokens = 0, 0
                for j, u in enumerate(units):
                    last = j == len(units) - 1
                    eos = last or eos_between_units
                    seq = np.empty(len(u.ids) + eos, np.uint32)
                    seq[: len(u.ids)] = u.ids
                    if eos:
                        seq[-1] = encoder.eos_id
                    token_parts.append(seq)
                    piece = texts[i][u.char_start : u.char_end]
                    if extractor is not None:
                        pending.append([c for c in extractor.extract(piece) if not prefixes or c.startswith(prefixes)])
                    for name, value in (("id", rows["id"][i]), ("unit", j), ("last_unit", last), ("doc_row", row),
                                        ("char_start", u.char_start), ("char_end", u.char_end), ("token_start", token_start),
                                        ("group", key), ("source", rows["source"][i]), ("bucket", None), ("bucket_df", None),
                                        ("concept_ids", []), ("tokens", len(seq)),
                                        ("utf8_bytes", len(piece.encode("utf-8", "surrogatepass"))),
                                        ("quality", None if q is None or q[i] is None else float(q[i])), ("input_shard", path),
                                        ("source_file", rows["source_file"][i]), ("source_record", (rows.get("source_record") or [None] * n)[i]),
                                        ("source_offset", (rows.get("source_offset") or [None] * n)[i])):
                        columns[name].append(value)
                    token_start += len(u.ids)
                    doc_tokens += len(seq)
                if holdout > 0:
                    group_tokens[key] = group_tokens.get(key, 0) + doc_tokens
                row += 1
    table = pa.Table.from_pydict(columns, schema=WORK_SCHEMA)
    if extractor is not None:
        table = table.append_column(PENDING, pa.array(pending, pa.list_(pa.string())))
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    write_bytes_atomic(docs_path, sink.getvalue())
    flat = np.concatenate(token_parts) if token_parts else np.zeros(0, np.uint32)
    buf = io.BytesIO()
    np.save(buf, flat)
    write_bytes_atomic(tokens_path, buf.getvalue())
    return {"unit": unit, "input": path, "documents": row, "units": table.num_rows, "tokens": int(flat.size),
            "group_tokens": group_tokens}


def held_flags(docs_path: str, held: frozenset) -> np.ndarray:
    """Per unit row of a prepared shard: is its group held out."""
    groups = pq.read_table(io.BytesIO(read_bytes(docs_path)), columns=["group"]).column(0).to_pylist()
    return np.array([g in held for g in groups], bool)


def _unit_texts(path: str, docs_path: str) -> list[str]:
    """The text of every unit row of a prepared shard, cut from its input shard by the char offsets."""
    meta = pq.read_table(io.BytesIO(read_bytes(docs_path)), columns=["doc_row", "char_start", "char_end"])
    with open_raw(path) as handle:
        texts = pq.ParquetFile(handle).read(columns=["text"]).column(0).to_pylist()
    return [(texts[r] or "")[a:b] for r, a, b in zip(*(meta.column(c).to_pylist() for c in meta.column_names))]


def holdout_index_of_shard(unit: int, path: str, out_dir: str, cfg, held: frozenset) -> ContaminationIndex:
    """The held-out text of one shard as a partial :class:`ContaminationIndex` (merged globally)."""
    index = ContaminationIndex(cfg.decontam_min_ngrams, cfg.decontam_jaccard)
    docs_path, _, _ = work_paths(out_dir, unit)
    flags = held_flags(docs_path, held)
    if flags.any():
        index.add([t for t, f in zip(_unit_texts(path, docs_path), flags) if f])
    return index


def merge_indexes(indexes, cfg) -> ContaminationIndex:
    merged = ContaminationIndex(cfg.decontam_min_ngrams, cfg.decontam_jaccard)
    for part in indexes:
        if len(part):
            merged.ngrams = np.unique(np.concatenate([merged.ngrams, part.ngrams]))
            start = len(merged.signatures)
            merged.signatures = np.concatenate([merged.signatures, part.signatures])
            for key, rows in part._bands.items():
                merged._bands.setdefault(key, []).extend(start + r for r in rows)
    return merged


def check_shard(unit: int, path: str, out_dir: str, index: ContaminationIndex, held: frozenset, batch_rows: int = 512) -> dict:
    """Every training unit of one shard against the held-out index: its contamination reason or None."""
    docs_path, _, contam_path = work_paths(out_dir, unit)
    flags = held_flags(docs_path, held)
    texts = _unit_texts(path, docs_path)
    reasons: list[Optional[str]] = []
    for start in range(0, len(texts), batch_rows):
        part, mine = texts[start : start + batch_rows], flags[start : start + batch_rows]
        checked = iter(index.check([t for t, f in zip(part, mine) if not f]))
        reasons.extend(None if f else next(checked) for f in mine)
    sink = io.BytesIO()
    pq.write_table(pa.table({"contamination": pa.array(reasons, pa.string())}), sink)
    write_bytes_atomic(contam_path, sink.getvalue())
    return {"unit": unit, "contaminated": sum(r is not None for r in reasons)}
