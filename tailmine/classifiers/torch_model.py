"""The torch quality model: hashed word uni+bigram EmbeddingBag + a small MLP (fastText's input, one hidden layer more).

Why this design: it matches fastText's features (words from a training vocabulary, bigrams hashed into
buckets) so the two are comparable, but the hidden layer lets it combine signals non-linearly; host-side
featurisation is one dict lookup per token plus vectorised numpy for bigrams, so the host keeps a GPU
fed without a tokenizer library. Inference runs on ``cuda`` when available (fp16 autocast for the
MLP, pinned host tensors copied asynchronously), on CPU otherwise; the scores agree within ~1e-3.

Determinism: training seeds torch and the batch order, runs single-threaded under
``torch.use_deterministic_algorithms(True)`` (both restored afterwards), so the same data and seed give
byte-identical weights. Weights are a plain ``state_dict`` read back with ``torch.load(weights_only=True)``:
nothing is unpickled beyond tensors.
"""
from __future__ import annotations

import contextlib
import io
import json
import random
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from tailmine.classifiers.card import ModelError, read_verified
from tailmine.classifiers.text import normalize_text

WEIGHTS = "model.pt"
VOCAB = "vocab.json"
_BIGRAM_MULTIPLIER = 1_000_003


@dataclass(frozen=True)
class TorchParams:
    vocab_size: int = 50_000
    """Most frequent training words kept (ties broken alphabetically); other words share one id."""
    min_count: int = 2
    buckets: int = 1 << 17
    """Hash buckets for word bigrams."""
    dim: int = 32
    hidden: int = 32
    epochs: int = 4
    batch_size: int = 64
    lr: float = 3e-3
    max_tokens: int = 4096
    """Only the first this many words of a document are featurised (bounded cost per document)."""

    def to_dict(self) -> dict:
        return asdict(self)


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a dependency in setup.py
        raise ModelError("the torch quality model needs PyTorch: pip install torch") from exc
    return torch


class Featurizer:
    """Normalised texts -> (unigram ids, unigram offsets, bigram ids, bigram offsets, counts) as numpy arrays."""

    def __init__(self, vocab: Sequence[str], buckets: int, max_tokens: int):
        self.vocab = list(vocab)
        self.index = {w: i + 1 for i, w in enumerate(self.vocab)}  # 0: a word outside the vocabulary
        self.buckets, self.max_tokens = buckets, max_tokens
        self.num_embeddings = len(self.vocab) + 1 + buckets

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, ...]:
        get = self.index.get
        lengths = np.zeros(len(texts), dtype=np.int64)
        ids: list[int] = []
        for i, text in enumerate(texts):
            words = text.split(maxsplit=self.max_tokens)[: self.max_tokens]
            lengths[i] = len(words)
            ids.extend([get(w, 0) for w in words])
        uni = np.asarray(ids, dtype=np.int64)
        uni_offsets = np.zeros(len(texts), dtype=np.int64)
        if len(texts) > 1:
            np.cumsum(lengths[:-1], out=uni_offsets[1:])
        # bigram j pairs uni[j], uni[j+1] unless j is a document's last word
        valid = np.ones(max(len(uni) - 1, 0), dtype=bool)
        ends = uni_offsets + lengths - 1  # index of each document's last word
        valid[ends[(lengths > 0) & (ends < len(valid))]] = False
        first = uni[:-1][valid] if len(uni) else uni
        second = uni[1:][valid] if len(uni) else uni
        bi = (len(self.vocab) + 1) + (first * _BIGRAM_MULTIPLIER + second) % self.buckets
        bi_lengths = np.maximum(lengths - 1, 0)
        bi_offsets = np.zeros(len(texts), dtype=np.int64)
        if len(texts) > 1:
            np.cumsum(bi_lengths[:-1], out=bi_offsets[1:])
        counts = np.maximum(lengths + bi_lengths, 1).astype(np.float32)
        return uni, uni_offsets, bi, bi_offsets, counts


def build_vocab(texts: Sequence[str], params: TorchParams) -> list[str]:
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(text.split(maxsplit=params.max_tokens)[: params.max_tokens])
    kept = [(-n, w) for w, n in counts.items() if n >= params.min_count]
    kept.sort()
    return [w for _, w in kept[: params.vocab_size]]


def _module(num_embeddings: int, dim: int, hidden: int):
    torch = _torch()
    nn = torch.nn

    class BagOfNgrams(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.EmbeddingBag(num_embeddings, dim, mode="sum", sparse=True)
            self.hidden = nn.Linear(dim, hidden)
            self.out = nn.Linear(hidden, 1)

        def forward(self, uni, uni_offsets, bi, bi_offsets, counts):
            x = self.embedding(uni, uni_offsets) + self.embedding(bi, bi_offsets)
            x = x / counts.unsqueeze(1)
            return self.out(torch.relu(self.hidden(x))).squeeze(1)

    return BagOfNgrams()


@contextlib.contextmanager
def _reproducible(seed: int):
    """Seeded, single-threaded, deterministic torch for the duration of training (then restored)."""
    torch = _torch()
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)


def train_torch(texts: Sequence[str], labels: Sequence[int], params: TorchParams, seed: int) -> tuple[bytes, bytes]:
    """Train on normalised ``texts``; returns (weights file bytes, vocabulary file bytes)."""
    torch = _torch()
    vocab = build_vocab(texts, params)
    featurizer = Featurizer(vocab, params.buckets, params.max_tokens)
    with _reproducible(seed):
        model = _module(featurizer.num_embeddings, params.dim, params.hidden)
        with torch.no_grad():
            model.embedding.weight.uniform_(-0.05, 0.05)
        sparse = torch.optim.SparseAdam(list(model.embedding.parameters()), lr=params.lr)
        dense = torch.optim.Adam(list(model.hidden.parameters()) + list(model.out.parameters()), lr=params.lr)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        y_all = torch.tensor(list(labels), dtype=torch.float32)
        rng = random.Random(seed)
        order = list(range(len(texts)))
        encoded = [featurizer.encode([t]) for t in texts]  # featurise once
        model.train()
        for _ in range(params.epochs):
            rng.shuffle(order)
            for start in range(0, len(order), params.batch_size):
                batch = order[start : start + params.batch_size]
                tensors = _collate([encoded[i] for i in batch])
                sparse.zero_grad()
                dense.zero_grad()
                loss = loss_fn(model(*tensors), y_all[batch])
                loss.backward()
                sparse.step()
                dense.step()
        state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    config = {"vocab": vocab, "buckets": params.buckets, "max_tokens": params.max_tokens, "dim": params.dim, "hidden": params.hidden}
    return buffer.getvalue(), json.dumps(config, ensure_ascii=False, sort_keys=True).encode("utf-8")


def _collate(parts: list[tuple[np.ndarray, ...]]):
    """Join single-document encodings into one batch (offsets shifted)."""
    torch = _torch()
    uni = np.concatenate([p[0] for p in parts])
    bi = np.concatenate([p[2] for p in parts])
    uni_offsets = np.cumsum([0] + [len(p[0]) for p in parts[:-1]]).astype(np.int64)
    bi_offsets = np.cumsum([0] + [len(p[2]) for p in parts[:-1]]).astype(np.int64)
    counts = np.concatenate([p[4] for p in parts])
    return tuple(torch.from_numpy(a) for a in (uni, uni_offsets, bi, bi_offsets, counts))


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; an explicit ``cuda`` without a GPU is an error."""
    torch = _torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} requested but torch sees no CUDA GPU (torch {torch.__version__})")
    if device != "cpu" and not device.startswith("cuda"):
        raise ModelError(f"device {device!r}: use auto, cpu or cuda[:N]")
    return device


class TorchScorer:
    """Scores texts with the torch model on ``device``: P(reference quality) per text, float32 on the host."""

    kind = "torch"

    def __init__(self, model, featurizer: Featurizer, name: str, device: str = "cpu", mixed_precision: bool = True):
        self.model, self.featurizer, self.name, self.device = model, featurizer, name, device
        self.mixed_precision = mixed_precision and device.startswith("cuda")

    def _to_device(self, arrays: tuple[np.ndarray, ...]):
        torch = _torch()
        tensors = [torch.from_numpy(a) for a in arrays]
        if self.device == "cpu":
            return tensors
        # pinned host memory lets the copy run asynchronously while the host featurises the next batch
        return [t.pin_memory().to(self.device, non_blocking=True) for t in tensors]

    def score_normalized(self, texts: list[str]) -> np.ndarray:
        torch = _torch()
        if not texts:
            return np.zeros(0, dtype=np.float32)
        tensors = self._to_device(self.featurizer.encode(texts))
        with torch.inference_mode():
            if self.mixed_precision:
                with torch.autocast("cuda", dtype=torch.float16):
                    logits = self.model(*tensors)
            else:
                logits = self.model(*tensors)
            return torch.sigmoid(logits.float()).cpu().numpy().astype(np.float32)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return self.score_normalized([normalize_text(t) for t in texts])

    def top_features(self, n: int = 20) -> dict[str, list[str]]:
        """Vocabulary words that, alone, score highest and lowest (what the model actually learnt)."""
        torch = _torch()
        vocab = self.featurizer.vocab
        with torch.inference_mode():
            emb = self.model.embedding.weight[1 : len(vocab) + 1].float().cpu()
            logits = self.model.out(torch.relu(self.model.hidden.to("cpu").float()(emb))).squeeze(1)
        self.model.to(self.device)
        order = np.argsort(logits.numpy(), kind="mergesort")
        return {"positive": [vocab[i] for i in order[::-1][:n]], "negative": [vocab[i] for i in order[:n]]}


def load_torch(model_dir: str, card: dict, device: str = "auto") -> TorchScorer:
    torch = _torch()
    device = resolve_device(device)
    config_bytes = read_verified(model_dir, card, VOCAB)
    weights = read_verified(model_dir, card, WEIGHTS)
    try:
        config = json.loads(config_bytes)
        featurizer = Featurizer(config["vocab"], int(config["buckets"]), int(config["max_tokens"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{model_dir}/{VOCAB}: not a tailmine torch model vocabulary ({exc})") from exc
    try:
        state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
        model = _module(featurizer.num_embeddings, int(config["dim"]), int(config["hidden"]))
        model.load_state_dict(state)
    except Exception as exc:
        raise ModelError(f"{model_dir}/{WEIGHTS}: cannot load the torch weights ({exc})") from exc
    model.eval()
    model.to(device)
    return TorchScorer(model, featurizer, card["name"], device)
