"""A torch ``IterableDataset`` that streams the mix stage's token shards to a trainer.

``TokenShardDataset(DIR)`` yields, in shard order and within a shard in the stored (already globally
shuffled) order, either whole sequences (``seq_len=None``: one document copy with its EOS, as a
``torch.long`` tensor) or fixed blocks of ``seq_len`` tokens cut from the concatenated stream
(the usual pre-training input; a final short block is dropped unless ``drop_last=False``). With
several DataLoader workers (or ranks) each takes every n-th shard, so nothing is read twice.
"""
from __future__ import annotations

import json
from typing import Iterator, Optional

import numpy as np

from tailmine.fileio import join, read_bytes
from tailmine.mixtures.shards import read_index, read_tokens


def shard_names(directory: str, recipe_name: str = "recipe.json") -> list[str]:
    recipe = json.loads(read_bytes(join(directory, recipe_name)))
    return [s["name"] for s in recipe["shards"]]


def iter_sequences(directory: str, names: list[str]) -> Iterator[np.ndarray]:
    for name in names:
        index = read_index(join(directory, f"{name}.idx"))
        tokens = read_tokens(join(directory, f"{name}.bin"), index)
        step = index.dtype.itemsize
        for size, pointer in zip(index.sizes, index.pointers):
            start = int(pointer) // step
            yield np.asarray(tokens[start : start + int(size)])


try:
    import torch
    from torch.utils.data import IterableDataset, get_worker_info
except ImportError:  # pragma: no cover - torch is a core dependency
    torch = None
    IterableDataset = object


class TokenShardDataset(IterableDataset):
    def __init__(self, directory: str, seq_len: Optional[int] = None, drop_last: bool = True,
                 rank: int = 0, world_size: int = 1, recipe_name: str = "recipe.json"):
        if torch is None:
            raise ImportError("TokenShardDataset needs torch: pip install torch")
        self.directory, self.seq_len, self.drop_last = directory, seq_len, drop_last
        self.rank, self.world_size = rank, world_size
        self.names = shard_names(directory, recipe_name)

    def _my_shards(self) -> list[str]:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        stride, offset = self.world_size * workers, self.rank * workers + worker
        return self.names[offset::stride]

    def __iter__(self):
        sequences = iter_sequences(self.directory, self._my_shards())
        if self.seq_len is None:
            for seq in sequences:
                yield torch.from_numpy(seq.astype(np.int64))
            return
        buffer = np.zeros(0, np.int64)
        for seq in sequences:
            buffer = np.concatenate([buffer, seq.astype(np.int64)])
            while len(buffer) >= self.seq_len:
                yield torch.from_numpy(buffer[: self.seq_len].copy())
                buffer = buffer[self.seq_len :]
        if len(buffer) and not self.drop_last:
            yield torch.from_numpy(buffer)
