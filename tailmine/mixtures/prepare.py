"""Per input shard (data-parallel): tokenize, assign concept buckets, mark held-out documents.

:func:`prepare_shard` reads one document shard and writes, under ``OUT/_work/``:

* ``docs-UUUUU.parquet``: one row per document, in input order — id, source, bucket (the rarest
  concept with df ≥ ``min_concept_df``, ties by name), hashed concept ids (for the tail metrics),
  token count (EOS included), UTF-8 bytes, quality score, held-out flag and lineage columns;
* ``tokens-UUUUU.npy``: the documents' tokens, concatenated (uint32), each followed by EOS.

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

from tailmine.fileio import exists, join, open_raw, read_bytes, write_bytes_atomic
from tailmine.mixtures.holdout import ContaminationIndex, domain_key, in_holdout

WORK_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("bucket", pa.string()),
        pa.field("bucket_df", pa.int64()),
        pa.field("concept_ids", pa.list_(pa.int64())),
        pa.field("tokens", pa.int64()),
        pa.field("utf8_bytes", pa.int64()),
        pa.field("quality", pa.float64()),
        pa.field("holdout", pa.bool_()),
        pa.field("input_shard", pa.string()),
        pa.field("source_file", pa.string()),
        pa.field("source_record", pa.int64()),
        pa.field("source_offset", pa.int64()),
    ]
)
READ_COLUMNS = ["id", "source", "url", "text", "metadata", "source_file", "source_record", "source_offset"]


def concept_hash(concept: str) -> int:
    return int.from_bytes(hashlib.blake2b(concept.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little", signed=True)


def load_concept_dfs(in_dirs: list[str]) -> Optional[dict[str, int]]:
    """concept -> df summed over the inputs' ``concepts.parquet``; None when an input has none."""
    from tailmine.concepts.tables import CONCEPTS_FILE

    dfs: dict[str, int] = {}
    for d in in_dirs:
        path = join(d, CONCEPTS_FILE)
        if not exists(path):
            return None
        table = pq.read_table(io.BytesIO(read_bytes(path)), columns=["concept", "df"])
        for c, n in zip(table.column(0).to_pylist(), table.column(1).to_pylist()):
            dfs[c] = dfs.get(c, 0) + int(n)
    return dfs


def work_paths(out_dir: str, unit: int) -> tuple[str, str, str]:
    return (join(out_dir, "_work", f"docs-{unit:05d}.parquet"), join(out_dir, "_work", f"tokens-{unit:05d}.npy"),
            join(out_dir, "_work", f"contam-{unit:05d}.parquet"))


def prepare_shard(unit: int, path: str, out_dir: str, encoder, extractor, dfs: Optional[dict[str, int]],
                  quality_column: Optional[str], holdout: float, seed: int, min_concept_df: int,
                  salient: tuple = ("e",), batch_rows: int = 1024) -> dict:
    """``salient``: concept kinds (``e`` entity spans, ``w`` word n-grams, ``c`` clusters) that define
    buckets and the concept set of the tail metrics; empty means every kind."""
    prefixes = tuple(f"{k}:" for k in salient)
    docs_path, tokens_path, _ = work_paths(out_dir, unit)
    columns = {name: [] for name in WORK_SCHEMA.names}
    token_parts: list[np.ndarray] = []
    with open_raw(path) as handle:
        parquet = pq.ParquetFile(handle)
        names = set(parquet.schema_arrow.names)
        read = [c for c in READ_COLUMNS if c in names] + ([quality_column] if quality_column and quality_column in names else [])
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=read):
            rows = batch.to_pydict()
            texts = [t or "" for t in rows["text"]]
            n = len(texts)
            ids = encoder.encode_batch(texts)
            for i in range(n):
                seq = np.empty(len(ids[i]) + 1, np.uint32)
                seq[:-1] = ids[i]
                seq[-1] = encoder.eos_id
                token_parts.append(seq)
                columns["tokens"].append(len(seq))
                columns["utf8_bytes"].append(len(texts[i].encode("utf-8", "surrogatepass")))
                key = domain_key(rows["source"][i], (rows.get("url") or [None] * n)[i], (rows.get("metadata") or [None] * n)[i], rows["source_file"][i])
                columns["holdout"].append(in_holdout(key, holdout, seed))
                bucket, bucket_df, cids = None, None, []
                if dfs is not None and extractor is not None:
                    best = None
                    for c in extractor.extract(texts[i]):
                        df = dfs.get(c, 0)
                        if df >= min_concept_df and (not prefixes or c.startswith(prefixes)):
                            cids.append(concept_hash(c))
                            if best is None or (df, c) < best:
                                best = (df, c)
                    if best is not None:
                        bucket_df, bucket = best
                    cids.sort()
                columns["bucket"].append(bucket)
                columns["bucket_df"].append(bucket_df)
                columns["concept_ids"].append(cids)
            columns["id"].extend(rows["id"])
            columns["source"].extend(rows["source"])
            q = rows.get(quality_column) if quality_column else None
            columns["quality"].extend([None if v is None else float(v) for v in q] if q is not None else [None] * n)
            columns["input_shard"].extend([path] * n)
            for c in ("source_file", "source_record", "source_offset"):
                columns[c].extend(rows.get(c) or [None] * n)
    table = pa.Table.from_pydict(columns, schema=WORK_SCHEMA)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    write_bytes_atomic(docs_path, sink.getvalue())
    flat = np.concatenate(token_parts) if token_parts else np.zeros(0, np.uint32)
    buf = io.BytesIO()
    np.save(buf, flat)
    write_bytes_atomic(tokens_path, buf.getvalue())
    return {"unit": unit, "input": path, "documents": table.num_rows, "tokens": int(flat.size),
            "holdout_documents": int(sum(columns["holdout"]))}


def holdout_index_of_shard(unit: int, path: str, out_dir: str, cfg) -> ContaminationIndex:
    """The held-out documents of one shard as a partial :class:`ContaminationIndex` (merged globally)."""
    index = ContaminationIndex(cfg.decontam_min_ngrams, cfg.decontam_jaccard)
    docs_path, _, _ = work_paths(out_dir, unit)
    flags = pq.read_table(io.BytesIO(read_bytes(docs_path)), columns=["holdout"]).column(0).to_numpy(zero_copy_only=False)
    if flags.any():
        with open_raw(path) as handle:
            texts = pq.ParquetFile(handle).read(columns=["text"]).column(0).to_pylist()
        index.add([t or "" for t, f in zip(texts, flags) if f])
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


def check_shard(unit: int, path: str, out_dir: str, index: ContaminationIndex, batch_rows: int = 512) -> dict:
    docs_path, _, contam_path = work_paths(out_dir, unit)
    flags = pq.read_table(io.BytesIO(read_bytes(docs_path)), columns=["holdout"]).column(0).to_numpy(zero_copy_only=False)
    reasons: list[Optional[str]] = []
    with open_raw(path) as handle:
        offset = 0
        for batch in pq.ParquetFile(handle).iter_batches(batch_size=batch_rows, columns=["text"]):
            texts = [t or "" for t in batch.column(0).to_pylist()]
            mine = flags[offset : offset + len(texts)]
            checked = iter(index.check([t for t, f in zip(texts, mine) if not f]))
            reasons.extend(None if f else next(checked) for f in mine)
            offset += len(texts)
    sink = io.BytesIO()
    pq.write_table(pa.table({"contamination": pa.array(reasons, pa.string())}), sink)
    write_bytes_atomic(contam_path, sink.getvalue())
    return {"unit": unit, "contaminated": sum(r is not None for r in reasons)}
