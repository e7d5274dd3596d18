"""The trainer side of the mix stage's shards: distributed sharding, exact resume, Megatron-core's reader."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from tailmine.mixtures.shards import LINEAGE_SCHEMA, write_token_shard

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Three shards of 1..40-token sequences (every token distinct), documents of 1-3 sequences each."""
    out = tmp_path_factory.mktemp("shards")
    rng = np.random.default_rng(3)
    recipe, next_token = {"shards": []}, 1
    for s in range(3):
        seqs = []
        for _ in range(int(rng.integers(20, 40))):
            n = int(rng.integers(1, 41))
            seqs.append(np.arange(next_token, next_token + n) % 60000)
            next_token += n
        doc_starts = [0] + sorted(set(int(x) for x in rng.choice(np.arange(1, len(seqs)), size=len(seqs) // 2, replace=False)))
        lineage = pa.Table.from_pylist([{"sequence": i, "id": f"s{s}-{i}", "copy": 0, "tokens": len(q)} for i, q in enumerate(seqs)],
                                       schema=LINEAGE_SCHEMA)
        recipe["shards"].append(write_token_shard(str(out), f"tokens/mix-{s:05d}", seqs, np.dtype(np.uint16), lineage, doc_starts))
    (out / "recipe.json").write_text(json.dumps(recipe))
    return out, recipe


def _as_lists(items):
    return [t.tolist() for t in items]


def _loader(ds, batch_size, workers):
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, num_workers=workers, collate_fn=list,
                                       multiprocessing_context="fork" if workers else None)


@pytest.mark.parametrize("seq_len", [None, 16])
def test_ranks_and_workers_split_every_item_exactly_once(shards, seq_len):
    from tailmine.mixtures.reader import TokenShardDataset

    out, _ = shards
    everything = _as_lists(TokenShardDataset(str(out), seq_len=seq_len))
    assert everything and all(len(x) == 16 for x in everything) if seq_len else everything
    seen = []
    for rank in range(2):
        ds = TokenShardDataset(str(out), seq_len=seq_len, rank=rank, world_size=2, batch_size=4)
        mine = [x for batch in _loader(ds, 4, 2) for x in _as_lists(batch)]
        assert mine == everything[rank::2]  # in order, although two workers produced it
        assert len(ds) == len(mine)
        seen += mine
    assert sorted(seen) == sorted(everything)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_reader_restored_after_k_batches_continues_with_exactly_the_same_sequences(shards, workers):
    from tailmine.mixtures.reader import TokenShardDataset

    out, _ = shards
    batch, k = 3, 5
    for seq_len in (None, 16):
        full = [x for b in _loader(TokenShardDataset(str(out), seq_len, rank=1, world_size=2, batch_size=batch), batch, workers)
                for x in _as_lists(b)]
        first = TokenShardDataset(str(out), seq_len, rank=1, world_size=2, batch_size=batch)
        got = []
        for i, b in enumerate(_loader(first, batch, workers)):
            got += _as_lists(b)
            if i + 1 == k:
                break
        state = first.state_dict() if workers == 0 else {**first.state_dict(), "items": k * batch}
        assert state["items"] == k * batch  # single process: the dataset counted what it yielded
        again = TokenShardDataset(str(out), seq_len, rank=1, world_size=2, batch_size=batch)
        again.load_state_dict(json.loads(json.dumps(state)))  # survives a checkpoint file
        got += [x for b in _loader(again, batch, workers) for x in _as_lists(b)]
        assert got == full and len(full) > k * batch
    with pytest.raises(ValueError, match="world_size"):
        TokenShardDataset(str(out), rank=1, world_size=4).load_state_dict(state)


def test_megatron_core_indexed_dataset_reads_the_shards(shards):
    """Megatron-core's own reader (dev extra): sequence lengths, document boundaries and tokens."""
    indexed = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    from tailmine.mixtures.reader import iter_sequences
    from tailmine.mixtures.shards import read_index

    out, recipe = shards
    for s in recipe["shards"]:
        prefix = str(out / s["name"])
        ds = indexed.IndexedDataset(prefix)
        ours = read_index(prefix + ".idx")
        assert len(ds) == s["sequences"] and ds.sequence_lengths.tolist() == ours.sizes.tolist()
        assert ds.document_indices.tolist() == ours.doc_idx.tolist() and ours.doc_idx[0] == 0 and len(ours.doc_idx) < len(ours.sizes) + 1
        for i, seq in enumerate(iter_sequences(str(out), [s["name"]])):
            assert ds[i].tolist() == seq.tolist()
