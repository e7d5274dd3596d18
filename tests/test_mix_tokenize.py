"""Tokenizer training, the fast byte-level BPE encoder (identical to tokenizers), and the shard format."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pyarrow as pa
import pytest

from tailmine.demo.sample import synthetic_documents
from tailmine.errors import ConfigError
from tailmine.mixtures.tokenize import Encoder, save_tokenizer, train_bpe

TRICKY = [
    "", " ", "  leading and trailing  ", "\n\n\t\r\n", "It's they'll we've I'M", "numbers 3.14159 and 1,000,000",
    "naïve café — “quotes” ‘single’ …", "日本語とEnglishの混在", "emoji 🙂🚀👩‍👩‍👧", "<|endoftext|> inside text",
    "a" * 500, "tab\tseparated\tvalues", "mixed   spaces\u00a0nbsp\u2009thin", "code: def f(x): return x**2  # ok",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    save_tokenizer(train_bpe(synthetic_documents(800, seed=2) + TRICKY * 3, vocab_size=1500), str(path))
    return str(path)


def _corpus_texts(corpora, limit=300_000):
    texts = []
    for path in sorted((corpora / "web" / "ccnet").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f]
    for path in sorted((corpora / "books" / "gutenberg").glob("*.txt.gz"))[:3]:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            texts.append(f.read(limit))
    return texts


def test_fast_encoder_is_token_for_token_identical(trained):
    enc = Encoder(trained)
    assert enc.backend == "tiktoken", enc.fallback_reason
    texts = synthetic_documents(200, seed=9) + TRICKY
    assert enc.check_identical(texts)
    assert enc.encode_batch(["<|endoftext|>"]) == [[enc.eos_id]]
    slow = Encoder(trained, fast=False)
    assert slow.backend == "tokenizers" and slow.encode_batch(texts) == enc.encode_batch(texts)


def test_fast_encoder_on_the_shared_corpora(trained, corpora):
    enc = Encoder(trained)
    assert enc.check_identical(_corpus_texts(corpora))


def test_vocabularies_the_fast_path_cannot_express_fall_back(tmp_path, trained):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    tok = Tokenizer.from_file(trained)
    tok.normalizer = normalizers.Lowercase()
    tok.save(str(tmp_path / "lower.json"))
    lower = Encoder(str(tmp_path / "lower.json"))
    assert lower.backend == "tokenizers" and "byte-level" in lower.fallback_reason
    assert lower.encode_batch(["Hello World"]) == [tok.encode("Hello World", add_special_tokens=False).ids]
    wp = Tokenizer(models.WordLevel({"[SEP]": 0, "[UNK]": 1, "hello": 2}, unk_token="[UNK]"))
    wp.pre_tokenizer = pre_tokenizers.Whitespace()
    wp.save(str(tmp_path / "wl.json"))
    word = Encoder(str(tmp_path / "wl.json"))
    assert word.backend == "tokenizers" and word.eos_id == 0 and word.encode_batch(["hello there"]) == [[2, 1]]
    nwp = Tokenizer(models.WordLevel({"[UNK]": 0, "hello": 1}, unk_token="[UNK]"))
    nwp.save(str(tmp_path / "noeos.json"))
    with pytest.raises(ConfigError, match="end-of-document"):
        Encoder(str(tmp_path / "noeos.json"))


def test_megatron_index_round_trip(tmp_path):
    from tailmine.mixtures.shards import LINEAGE_SCHEMA, read_index, read_tokens, token_dtype, write_token_shard

    seqs = [np.array([5, 6, 0]), np.array([7, 0]), np.array([65535, 1, 2, 0])]
    lineage = pa.Table.from_pylist([{"sequence": i, "id": f"d{i}", "copy": 0, "tokens": len(s)} for i, s in enumerate(seqs)], schema=LINEAGE_SCHEMA)
    for vocab in (1000, 100_000):
        dtype = token_dtype(vocab)
        info = write_token_shard(str(tmp_path), f"s{vocab}", seqs, dtype, lineage)
        index = read_index(str(tmp_path / f"s{vocab}.idx"))
        assert index.sizes.tolist() == [3, 2, 4] and index.doc_idx.tolist() == [0, 1, 2, 3]
        assert index.pointers.tolist() == [0, 3 * dtype.itemsize, 5 * dtype.itemsize]
        assert read_tokens(str(tmp_path / f"s{vocab}.bin"), index).tolist() == [5, 6, 0, 7, 0, 65535, 1, 2, 0]
        assert info["tokens"] == 9 and open(tmp_path / f"s{vocab}.idx", "rb").read(9) == b"MMIDIDX\x00\x00"
    assert token_dtype(1000) == np.uint16 and token_dtype(100_000) == np.int32


def test_units_cut_a_real_book_at_paragraphs_within_the_limit(trained, corpora):
    """A Gutenberg book cut into units: exact cover, each unit's tokens are its text's, all within the
    limit, and cuts fall on paragraph ends; adversarial text without any boundary is cut too."""
    from tailmine.mixtures.units import cut_units

    enc = Encoder(trained)
    path = sorted((corpora / "books" / "gutenberg").glob("*.txt.gz"))[0]
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        book = f.read(400_000)
    for text, limit in ((book, 2047), (book[:60_000], 63), ("x" * 20_000, 100), ("日本語の文。" * 3000, 255), ("a. " * 5000, 64)):
        units = cut_units(text, enc.encode_batch, limit)
        assert "".join(text[u.char_start : u.char_end] for u in units) == text
        assert all(0 < len(u.ids) <= limit for u in units)
        assert [u.ids for u in units] == enc.encode_batch([text[u.char_start : u.char_end] for u in units])
    units = cut_units(book, enc.encode_batch, 2047)
    at_paragraph = sum(book[u.char_start : u.char_end].endswith("\n\n") or "\n\n" in book[u.char_end - 4 : u.char_end] for u in units[:-1])
    assert len(units) > 20 and at_paragraph >= 0.9 * (len(units) - 1)
    assert sum(len(u.ids) for u in units) >= 0.9 * 2047 * (len(units) - 1) * 0.8  # packed, not one paragraph per unit
    assert cut_units("short text", enc.encode_batch, 64)[0].ids == enc.encode_batch(["short text"])[0]
