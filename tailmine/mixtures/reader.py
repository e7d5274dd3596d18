"""A torch ``IterableDataset`` that streams the mix stage's token shards to a trainer.

``TokenShardDataset(DIR)`` yields, in the stored (already globally shuffled) order, either whole
sequences (``seq_len=None``: one unit copy, EOS after a document's last unit, as a ``torch.long``
tensor) or fixed blocks of ``seq_len`` tokens cut from the concatenated stream (the usual
pre-training input; a final short block is dropped unless ``drop_last=False``).

Distributed: item i (sequence or block) belongs to rank ``i mod world_size``; inside a rank, the
DataLoader workers take turns by batches of ``batch_size`` items, which is the order an in-order
``DataLoader(num_workers=W, batch_size=B)`` hands them out, so a rank sees its items in order and
nothing is read twice. Resumable: ``state_dict()`` gives the rank's items consumed so far (counted
by this process, or set by :meth:`TokenShardDataset.load_state_dict` as batches x batch size), and a
new dataset given that state continues exactly where the old one stopped.
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


class TokenStream:
    """Random access to the concatenated shards: sequence i, or tokens [a, b) of the whole stream."""

    def __init__(self, directory: str, names: list[str]):
        self.indexes = [read_index(join(directory, f"{n}.idx")) for n in names]
        self.bins = [join(directory, f"{n}.bin") for n in names]
        self._tokens: dict[int, np.ndarray] = {}
        counts = [len(ix.sizes) for ix in self.indexes]
        lengths = [int(ix.sizes.astype(np.int64).sum()) for ix in self.indexes]
        self.seq_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.token_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.sequences, self.tokens = int(self.seq_offsets[-1]), int(self.token_offsets[-1])

    def _shard_tokens(self, s: int) -> np.ndarray:
        if s not in self._tokens:
            self._tokens[s] = read_tokens(self.bins[s], self.indexes[s])
        return self._tokens[s]

    def sequence(self, i: int) -> np.ndarray:
        s = int(np.searchsorted(self.seq_offsets, i, side="right")) - 1
        j = i - int(self.seq_offsets[s])
        ix = self.indexes[s]
        start = int(ix.pointers[j]) // ix.dtype.itemsize
        return np.asarray(self._shard_tokens(s)[start : start + int(ix.sizes[j])])

    def span(self, a: int, b: int) -> np.ndarray:
        parts = []
        s = int(np.searchsorted(self.token_offsets, a, side="right")) - 1
        while a < b and s < len(self.bins):
            base = int(self.token_offsets[s])
            end = min(b, int(self.token_offsets[s + 1]))
            parts.append(np.asarray(self._shard_tokens(s)[a - base : end - base]))
            a, s = end, s + 1
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)


try:
    import torch
    from torch.utils.data import IterableDataset, get_worker_info
except ImportError:  # pragma: no cover - torch is a core dependency
    torch = None
    IterableDataset = object


class TokenShardDataset(IterableDataset):
    def __init__(self, directory: str, seq_len: Optional[int] = None, drop_last: bool = True,
                 rank: int = 0, world_size: int = 1, recipe_name: str = "recipe.json", batch_size: int = 1):
        if torch is None:
            raise ImportError("TokenShardDataset needs torch: pip install torch")
        if not 0 <= rank < world_size:
            raise ValueError(f"TokenShardDataset: rank {rank} is not in [0, world_size={world_size})")
        if seq_len is not None and seq_len < 1 or batch_size < 1:
            raise ValueError(f"TokenShardDataset: seq_len ({seq_len}) and batch_size ({batch_size}) must be positive")
        self.directory, self.seq_len, self.drop_last = directory, seq_len, drop_last
        self.rank, self.world_size, self.batch_size = rank, world_size, batch_size
        self.names = shard_names(directory, recipe_name)
        self._start = 0      # rank items already consumed when iteration starts
        self._yielded = 0    # items this process yielded since

    def _items(self, stream: TokenStream) -> int:
        if self.seq_len is None:
            return stream.sequences
        full, rest = divmod(stream.tokens, self.seq_len)
        return full + (1 if rest and not self.drop_last else 0)

    def __len__(self) -> int:
        """Items of this rank (all workers together)."""
        total = self._items(TokenStream(self.directory, self.names))
        return max(0, (total - self.rank + self.world_size - 1) // self.world_size)

    def __iter__(self):
        stream = TokenStream(self.directory, self.names)
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        total = self._items(stream)
        start = self._start
        self._yielded = 0
        j = start  # index among this rank's items
        while True:
            i = j * self.world_size + self.rank
            if i >= total:
                return
            if ((j - start) // self.batch_size) % workers == worker:
                if self.seq_len is None:
                    item = stream.sequence(i)
                else:
                    item = stream.span(i * self.seq_len, min((i + 1) * self.seq_len, stream.tokens))
                self._yielded += 1
                yield torch.from_numpy(item.astype(np.int64))
            j += 1

    def state_dict(self) -> dict:
        """The rank's position: items consumed (in a single process: items this dataset yielded)."""
        return {"items": self._start + self._yielded, "rank": self.rank, "world_size": self.world_size,
                "seq_len": self.seq_len, "drop_last": self.drop_last, "shards": list(self.names)}

    def load_state_dict(self, state: dict) -> None:
        """Continue after ``state["items"]`` items of this rank (with DataLoader workers: batches x batch size)."""
        for key in ("rank", "world_size", "seq_len", "drop_last", "shards"):
            mine = list(self.names) if key == "shards" else getattr(self, key)
            if key in state and state[key] != mine:
                raise ValueError(f"TokenShardDataset.load_state_dict: state key {key!r} is {state[key]!r}, this dataset has {mine!r}")
        self._start, self._yielded = int(state["items"]), 0
