"""``tailmine tokenizer train``: a byte-level BPE trained on curated text, for the mix stage.

Run it::

    tailmine tokenizer train --in out/concepts --out tokenizer.json --vocab-size 32000

Reads the ``text`` column of every document shard of the given finished stage(s), in manifest order
(up to ``--max-bytes`` of text), and trains a byte-level BPE with ``tokenizers`` (GPT-2
pre-tokenizer, no normalizer, ``<|endoftext|>`` as the end-of-document token). Held-out documents
can be left out with ``--holdout FRACTION --seed S``: the domains and book works that ``tailmine mix``
skips when it trains its own tokenizer at that fraction and seed (hash under 3 x FRACTION, where the
groups it holds out almost always are; its recipe counts any that are not).
"""
from __future__ import annotations

import argparse
from typing import Iterator, Sequence

import pyarrow.parquet as pq

from tailmine.fileio import join, open_raw


def curated_texts(in_dirs: Sequence[str], max_bytes: int, holdout: float = 0.0, seed: int = 0) -> Iterator[str]:
    from tailmine.mixtures.holdout import domain_key, in_holdout
    from tailmine.runtime import stage_shards

    seen = 0
    for d in in_dirs:
        for shard in stage_shards(d)[1]:
            with open_raw(join(d, shard.path)) as handle:
                table = pq.ParquetFile(handle).read(columns=["text", "source", "url", "metadata", "source_file"])
            for text, src, url, meta, sf in zip(*(table.column(c).to_pylist() for c in table.column_names)):
                if holdout and in_holdout(domain_key(src, url, meta, sf), holdout, seed):
                    continue
                text = text or ""
                seen += len(text.encode("utf-8", "surrogatepass"))
                yield text
                if seen >= max_bytes:
                    return


def train(in_dirs: Sequence[str], out_path: str, vocab_size: int = 32000, min_frequency: int = 2, max_bytes: int = 1 << 30,
          holdout: float = 0.0, seed: int = 0, eos: str = "<|endoftext|>") -> dict:
    from tailmine.mixtures.tokenize import Encoder, save_tokenizer, train_bpe

    tok = train_bpe(curated_texts(in_dirs, max_bytes, holdout, seed), vocab_size, min_frequency, special_tokens=(eos,))
    save_tokenizer(tok, out_path)
    return Encoder(out_path, eos=eos).describe()


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    import os

    from tailmine.errors import OutputExistsError

    if os.path.exists(args.out):
        raise OutputExistsError(f"{args.out} exists; remove it or choose another --out")
    info = train(args.in_dirs, args.out, args.vocab_size, args.min_frequency, args.max_bytes, args.holdout, args.seed, args.eos_token)
    print(f"tokenizer: {args.out}  vocab {info['vocab_size']:,}  sha256 {info['sha256'][:16]}  fast encoder: {info['encoder']}")
    return 0
