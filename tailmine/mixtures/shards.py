"""Token shards in Megatron's indexed-dataset layout (``.bin`` + ``.idx``), plus lineage.

``NAME.bin`` is the flat token array (uint16 when the vocabulary fits, else int32 — Megatron has no
uint32 code; ids < 2³¹ read the same). ``NAME.idx`` is Megatron-LM's ``MMIDIDX`` index: header,
version 1, dtype code, sequence count, document count, then ``sizes`` (int32 tokens per sequence),
``pointers`` (int64 byte offset of each sequence) and ``doc_idx`` (int64: the first sequence of each
document copy, then n). One sequence is one copy of one training unit (a document, or a piece of one
cut at paragraph/sentence boundaries); EOS ends a document's last unit. ``NAME.lineage.parquet`` has
one row per sequence: the document id, the unit with its character and token offsets in the document,
which copy it is, and its source file/record/offset, so every token traces back.
"""
from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tailmine.fileio import read_bytes, write_bytes_atomic

INDEX_HEADER = b"MMIDIDX\x00\x00"
INDEX_VERSION = 1
DTYPE_CODES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}
CODE_DTYPES = {v: k for k, v in DTYPE_CODES.items()}

LINEAGE_SCHEMA = pa.schema(
    [
        pa.field("sequence", pa.int64()),
        pa.field("id", pa.string()),
        pa.field("unit", pa.int32(), metadata={"doc": "0-based unit of the document (reading order)"}),
        pa.field("char_start", pa.int64(), metadata={"doc": "the unit is text[char_start:char_end] of the document"}),
        pa.field("char_end", pa.int64()),
        pa.field("token_start", pa.int64(), metadata={"doc": "tokens of the document's earlier units (EOS excluded)"}),
        pa.field("copy", pa.int32(), metadata={"doc": "0-based copy number of the unit in this mixture"}),
        pa.field("tokens", pa.int32(), metadata={"doc": "tokens of the sequence, EOS included"}),
        pa.field("utf8_bytes", pa.int64()),
        pa.field("source", pa.string()),
        pa.field("bucket", pa.string(), metadata={"doc": "concept bucket (rarest salient concept)"}),
        pa.field("input_shard", pa.string()),
        pa.field("source_file", pa.string()),
        pa.field("source_record", pa.int64()),
        pa.field("source_offset", pa.int64()),
    ]
)


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 65535 else np.dtype(np.int32)


def index_bytes(sizes: np.ndarray, dtype: np.dtype, doc_starts=None) -> bytes:
    sizes = np.asarray(sizes, np.int32)
    pointers = np.zeros(len(sizes), np.int64)
    if len(sizes) > 1:
        pointers[1:] = np.cumsum(sizes[:-1].astype(np.int64)) * dtype.itemsize
    if doc_starts is None:
        doc_idx = np.arange(len(sizes) + 1, dtype=np.int64)
    else:
        doc_idx = np.append(np.asarray(doc_starts, np.int64), np.int64(len(sizes)))
    out = io.BytesIO()
    out.write(INDEX_HEADER)
    out.write(struct.pack("<Q", INDEX_VERSION))
    out.write(struct.pack("<B", DTYPE_CODES[np.dtype(dtype)]))
    out.write(struct.pack("<Q", len(sizes)))
    out.write(struct.pack("<Q", len(doc_idx)))
    out.write(sizes.tobytes())
    out.write(pointers.tobytes())
    out.write(doc_idx.tobytes())
    return out.getvalue()


@dataclass(frozen=True)
class TokenIndex:
    dtype: np.dtype
    sizes: np.ndarray
    pointers: np.ndarray
    doc_idx: np.ndarray


def read_index(path: str) -> TokenIndex:
    data = read_bytes(path)
    if data[: len(INDEX_HEADER)] != INDEX_HEADER:
        raise ValueError(f"{path}: not a Megatron MMIDIDX index")
    pos = len(INDEX_HEADER)
    (version,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    if version != INDEX_VERSION:
        raise ValueError(f"{path}: index version {version}, expected {INDEX_VERSION}")
    (code,) = struct.unpack_from("<B", data, pos)
    pos += 1
    n, n_docs = struct.unpack_from("<QQ", data, pos)
    pos += 16
    sizes = np.frombuffer(data, np.int32, n, pos)
    pos += 4 * n
    pointers = np.frombuffer(data, np.int64, n, pos)
    pos += 8 * n
    doc_idx = np.frombuffer(data, np.int64, n_docs, pos)
    return TokenIndex(CODE_DTYPES[code], sizes, pointers, doc_idx)


def write_token_shard(out_dir: str, name: str, sequences: list[np.ndarray], dtype: np.dtype, lineage: pa.Table,
                      doc_starts=None) -> dict:
    """Write ``name``.bin/.idx/.lineage.parquet atomically; returns the shard's entry for the recipe.
    ``doc_starts``: index of the first sequence of each document (default: every sequence is one)."""
    flat = np.concatenate(sequences).astype(dtype, copy=False) if sequences else np.zeros(0, dtype)
    return write_token_arrays(out_dir, name, flat, np.array([len(s) for s in sequences], np.int32), lineage, doc_starts)


def write_token_arrays(out_dir: str, name: str, flat: np.ndarray, sizes: np.ndarray, lineage: pa.Table, doc_starts=None) -> dict:
    """:func:`write_token_shard` from the concatenated tokens (``flat``, in the shard's dtype) and each
    sequence's length: a writer fills one array instead of holding a list of sequences."""
    from tailmine.fileio import join

    dtype = flat.dtype
    if dtype == np.uint16 and len(flat) and int(flat.max()) > 65535:
        raise ValueError("token id above 65535 in a uint16 shard")
    sizes = np.asarray(sizes, np.int32)
    payload = {
        f"{name}.bin": np.ascontiguousarray(flat).tobytes(),
        f"{name}.idx": index_bytes(sizes, dtype, doc_starts),
    }
    sink = io.BytesIO()
    pq.write_table(lineage, sink, compression="zstd")
    payload[f"{name}.lineage.parquet"] = sink.getvalue()
    files = {}
    for fname, data in payload.items():
        write_bytes_atomic(join(out_dir, fname), data)
        files[fname] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return {
        "name": name,
        "path": f"{name}.bin",
        "sequences": int(len(sizes)),
        "tokens": int(sizes.sum()),
        "dtype": str(np.dtype(dtype)),
        "sha256": files[f"{name}.bin"]["sha256"],
        "files": files,
    }


def read_tokens(bin_path: str, index: TokenIndex) -> np.ndarray:
    """Memory-map a local ``.bin`` (or read a remote one) as a flat token array."""
    from tailmine.fileio import is_local

    if is_local(bin_path):
        size = int(index.sizes.astype(np.int64).sum())
        if size == 0:
            return np.zeros(0, index.dtype)
        return np.memmap(bin_path, dtype=index.dtype, mode="r", shape=(size,))
    return np.frombuffer(read_bytes(bin_path), index.dtype)
