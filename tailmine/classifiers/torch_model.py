"""The torch quality model: EmbeddingBag over words, word bigrams and unknown words' byte n-grams + a small MLP.

Why this design: it starts from fastText's features (words from a training vocabulary, bigrams hashed
into buckets, the mean of their vectors) so the two are comparable, adds fastText-style subwords for
the words the vocabulary does not know (see :class:`Featurizer` for why that matters on held-out
books), and a hidden layer that combines signals non-linearly. Host-side featurisation is one dict
lookup per token plus vectorised numpy for bigrams and n-gram hashes, so the host keeps a GPU fed
without a tokenizer library. Inference runs on ``cuda`` when available (fp16 autocast for the MLP,
pinned host tensors copied asynchronously), on CPU otherwise; the scores agree within ~1e-3.

Held-out ROC AUC on ``../shared/corpora`` (English books and articles vs English crawl, split by group,
seeds 0-7; ``tests/test_classify_corpora.py`` runs seed 0): fastText 0.956 0.937 0.941 0.900 0.885 0.912
0.976 0.907, this model 0.968 0.983 0.977 0.906 0.922 0.938 0.979 0.973. Version 1 (unknown words as
one shared id, no subwords) had 0.939 0.988 0.985 0.847 0.882 0.924 0.984 0.970: it trailed fastText on
seeds 0, 3 and 4.

Determinism: training seeds torch and the batch order, runs single-threaded under
``torch.use_deterministic_algorithms(True)`` (both restored afterwards), so the same data and seed give
byte-identical weights. Weights are a plain ``state_dict`` read back with ``torch.load(weights_only=True)``:
nothing is unpickled beyond tensors; ``vocab.json`` records the featurizer version, and a model of
another version is refused rather than scored with ids it was not trained on.
"""
from __future__ import annotations

import contextlib
import io
import json
import random
from collections import Counter
from itertools import compress, repeat
from operator import lt
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from tailmine.classifiers.card import ModelError, read_verified
from tailmine.classifiers.text import normalize_text

WEIGHTS = "model.pt"
VOCAB = "vocab.json"
FEATURIZER_VERSION = 2
"""Bumped whenever :class:`Featurizer` maps a text to different ids; ``vocab.json`` records it and
:func:`load_torch` refuses a model written for another version (it would score garbage, silently).
Version 1: unknown words shared one learnt id. Version 2: unknown words are dropped (bigrams join the
known words around them) and represented by hashed byte n-grams instead."""
_BIGRAM_MULTIPLIER = 1_000_003
_NGRAM_BASE = np.uint32(16_777_619)
_NGRAM_MIX = np.uint32(0x9E3779B1)  # Fibonacci hashing: the top bits of the product mix every byte
_SPACE = 32


@dataclass(frozen=True)
class TorchParams:
    vocab_size: int = 50_000
    """Most frequent training words kept (ties broken alphabetically)."""
    min_count: int = 2
    buckets: int = 1 << 17
    """Hash buckets for bigrams of vocabulary words."""
    subword_buckets: int = 1 << 17
    """Hash buckets for the byte n-grams of words outside the vocabulary."""
    min_n: int = 3
    max_n: int = 5
    """Byte n-gram lengths (of `` word `` with its boundaries) that represent an unknown word; 0/0: none.
    3..4 scored the same held-out AUC (mean of 8 seeds 0.9555 vs 0.9557) at about the same speed."""
    dim: int = 32
    hidden: int = 32
    epochs: int = 4
    batch_size: int = 64
    lr: float = 3e-3
    max_tokens: int = 4096
    """Only the first this many words of a document are featurised (bounded cost per document)."""

    def __post_init__(self):
        if not (2 <= self.min_n <= self.max_n or self.min_n == self.max_n == 0):
            raise ModelError(f"torch model: need 2 <= min_n <= max_n (or both 0: no subwords), got {self.min_n}/{self.max_n}")
        if not 2 <= self.subword_buckets <= 1 << 32:
            raise ModelError(f"torch model: subword_buckets must lie in [2, 2**32], got {self.subword_buckets}")

    def to_dict(self) -> dict:
        return {**asdict(self), "featurizer_version": FEATURIZER_VERSION}


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a dependency in setup.py
        raise ModelError("the torch quality model needs PyTorch: pip install torch") from exc
    return torch


def _offsets(lengths: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(lengths), dtype=np.int64)
    if len(lengths) > 1:
        np.cumsum(lengths[:-1], out=offsets[1:])
    return offsets


class Featurizer:
    """Normalised texts -> three bags of embedding ids (with offsets) and the number of ids per text.

    * **words**: the vocabulary id of every known word (the training vocabulary, ``vocab_size`` most
      frequent words seen ``min_count`` times);
    * **bigrams**: consecutive known words, hashed into ``buckets`` (an unknown word between them is
      skipped, as fastText does);
    * **subwords**: every unknown word as the byte n-grams (``min_n``..``max_n``) of `` word `` (spaces
      mark its ends), hashed into ``subword_buckets``.

    Why unknown words are not one shared id (version 1 did that): the training vocabulary holds every
    word seen twice, so in training "unknown" means "seen once", about 5% of a text and more in crawl
    pages, and its shared vector learnt "crawl". Held-out texts have two to three times as many unknown
    words (a play's character names, a new book's proper nouns): that one vector then dragged whole
    books to the crawl side (Cyrano de Bergerac, 28% unknown words, at the 38th percentile of crawl
    scores). Byte n-grams say what kind of unknown word it is (a name, a number, a URL, a German word).

    Everything after ``str.split`` and one dict lookup per word is vectorised numpy (the n-gram hash is
    a polynomial over the UTF-8 bytes, wrapping in uint32), so featurisation is deterministic across
    processes and platforms (no Python ``hash``).
    """

    def __init__(self, vocab: Sequence[str], buckets: int, max_tokens: int, subword_buckets: int = 1 << 17, min_n: int = 3, max_n: int = 5):
        self.vocab = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.buckets, self.max_tokens = buckets, max_tokens
        self.subword_buckets, self.min_n, self.max_n = subword_buckets, min_n, max_n
        self.bigram_base = len(self.vocab)
        self.subword_base = len(self.vocab) + buckets
        self.subword_sizes = max_n - min_n + 1 if max_n else 0
        self.num_embeddings = len(self.vocab) + buckets + (subword_buckets if max_n else 0)

    def config(self) -> dict:
        return {
            "featurizer": FEATURIZER_VERSION, "vocab": self.vocab, "buckets": self.buckets, "max_tokens": self.max_tokens,
            "subword_buckets": self.subword_buckets, "min_n": self.min_n, "max_n": self.max_n,
        }

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, ...]:
        """(word ids, offsets, bigram ids, offsets, subword ids, offsets, ids per text as float32)."""
        n_docs, cap, get, subwords = len(texts), self.max_tokens, self.index.get, self.max_n > 0
        lengths: list[int] = []
        found: list[int] = []
        unknown_words: list[str] = []
        for text in texts:
            # per text, while its fresh strings are in cache; only unknown words outlive the text
            parts = text.split(maxsplit=cap)
            if len(parts) > cap:
                del parts[cap:]
            lengths.append(len(parts))
            ids = [get(w, -1) for w in parts]
            found += ids
            if subwords:
                unknown_words += compress(parts, map(lt, ids, repeat(0, len(ids))))
        ids = np.array(found, dtype=np.int64)
        doc = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        known = ids >= 0
        uni, uni_doc = ids[known], doc[known]
        uni_lengths = np.bincount(uni_doc, minlength=n_docs)
        same = uni_doc[:-1] == uni_doc[1:]  # bigram j pairs known words j, j+1 of one text
        bi = self.bigram_base + _bucket(uni[:-1][same] * _BIGRAM_MULTIPLIER + uni[1:][same], self.buckets)
        bi_lengths = np.bincount(uni_doc[:-1][same], minlength=n_docs)
        sub, sub_lengths = self._subwords(unknown_words, doc[~known], n_docs)
        counts = np.maximum(uni_lengths + bi_lengths + sub_lengths.reshape(-1, n_docs).sum(0), 1).astype(np.float32)
        return uni, _offsets(uni_lengths), bi, _offsets(bi_lengths), sub, _offsets(sub_lengths), counts

    def _subwords(self, words: list[str], word_doc: np.ndarray, n_docs: int) -> tuple[np.ndarray, np.ndarray]:
        """Hashed byte n-grams of `` word `` for ``words`` (``word_doc``: the text of each), and the bag sizes.

        One bag per (n, text), n-major: all texts' 3-grams, then all 4-grams, ... (the model sums the
        bags of one text), so each n is one vectorised pass over the bytes of all unknown words.
        """
        sizes = range(self.min_n, self.max_n + 1) if self.max_n else range(0)
        if not words:
            return np.zeros(0, dtype=np.int64), np.zeros(len(sizes) * n_docs, dtype=np.int64)
        buf = np.frombuffer((" " + " ".join(words) + " ").encode("utf-8", "surrogatepass"), dtype=np.uint8)
        span = np.diff(np.flatnonzero(buf == _SPACE)) + 1  # bytes of " word ", both spaces included
        inner = buf != _SPACE
        b = buf.astype(np.uint32)
        # rolling polynomial (uint32, wrapping): g[i] = hash of buf[i : i + n]; valid[i]: no space strictly inside
        g = np.zeros(len(buf), dtype=np.uint32)
        valid = np.ones(len(buf), dtype=bool)
        ids, lengths = [], []
        for n in range(1, self.max_n + 1):
            m = max(len(buf) - n + 1, 0)
            g = g[:m] * _NGRAM_BASE + b[n - 1 : n - 1 + m]
            valid = valid[:m] & inner[n - 2 : n - 2 + m] if n >= 3 else valid[:m]
            if n >= self.min_n:
                mixed = (g[valid] + np.uint32(n)) * _NGRAM_MIX  # + n: one hash family per length
                ids.append(self.subword_base + _top_bits_bucket(mixed, self.subword_buckets))
                lengths.append(np.bincount(word_doc, weights=np.maximum(span - n + 1, 0), minlength=n_docs))
        return np.concatenate(ids), np.concatenate(lengths).astype(np.int64)


def _bucket(h: np.ndarray, buckets: int) -> np.ndarray:
    """``h % buckets`` for non-negative int64 ``h`` (a mask when ``buckets`` is a power of two: the same value, faster)."""
    return h & (buckets - 1) if buckets & (buckets - 1) == 0 else h % buckets


def _top_bits_bucket(mixed: np.ndarray, buckets: int) -> np.ndarray:
    """A bucket (2 <= ``buckets`` <= 2**32) of a multiplicatively mixed uint32 hash: its top bits when ``buckets`` is a power of two."""
    if buckets & (buckets - 1) == 0:
        return (mixed >> np.uint32(33 - buckets.bit_length())).astype(np.int64)
    return (mixed.astype(np.int64) % buckets)


def build_vocab(texts: Sequence[str], params: TorchParams) -> list[str]:
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(text.split(maxsplit=params.max_tokens)[: params.max_tokens])
    kept = [(-n, w) for w, n in counts.items() if n >= params.min_count]
    kept.sort()
    return [w for _, w in kept[: params.vocab_size]]


def _module(num_embeddings: int, dim: int, hidden: int, subword_sizes: int):
    torch = _torch()
    nn = torch.nn

    class BagOfNgrams(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.EmbeddingBag(num_embeddings, dim, mode="sum", sparse=True)
            self.hidden = nn.Linear(dim, hidden)
            self.out = nn.Linear(hidden, 1)

        def forward(self, uni, uni_offsets, bi, bi_offsets, sub, sub_offsets, counts):
            x = self.embedding(uni, uni_offsets) + self.embedding(bi, bi_offsets)
            if subword_sizes:  # one bag per (n, text), n-major
                x = x + self.embedding(sub, sub_offsets).view(subword_sizes, -1, dim).sum(0)
            x = x / counts.unsqueeze(1)  # the mean of all ids of the text, as fastText averages
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
    featurizer = Featurizer(vocab, params.buckets, params.max_tokens, params.subword_buckets, params.min_n, params.max_n)
    with _reproducible(seed):
        model = _module(featurizer.num_embeddings, params.dim, params.hidden, featurizer.subword_sizes)
        with torch.no_grad():
            model.embedding.weight.uniform_(-0.05, 0.05)
        sparse = torch.optim.SparseAdam(list(model.embedding.parameters()), lr=params.lr)
        dense = torch.optim.Adam(list(model.hidden.parameters()) + list(model.out.parameters()), lr=params.lr)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        y_all = torch.tensor(list(labels), dtype=torch.float32)
        rng = random.Random(seed)
        order = list(range(len(texts)))
        model.train()
        for _ in range(params.epochs):
            rng.shuffle(order)
            for start in range(0, len(order), params.batch_size):
                batch = order[start : start + params.batch_size]
                tensors = [torch.from_numpy(a) for a in featurizer.encode([texts[i] for i in batch])]
                sparse.zero_grad()
                dense.zero_grad()
                loss = loss_fn(model(*tensors), y_all[batch])
                loss.backward()
                sparse.step()
                dense.step()
        state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    config = {**featurizer.config(), "dim": params.dim, "hidden": params.hidden}
    return buffer.getvalue(), json.dumps(config, ensure_ascii=False, sort_keys=True).encode("utf-8")


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
            emb = self.model.embedding.weight[: len(vocab)].float().cpu()
            logits = self.model.out(torch.relu(self.model.hidden.to("cpu").float()(emb))).squeeze(1)
        self.model.to(self.device)
        order = np.argsort(logits.numpy(), kind="mergesort")
        return {"positive": [vocab[i] for i in order[::-1][:n]], "negative": [vocab[i] for i in order[:n]]}


ZIP_MAGIC = b"PK\x03\x04"


def load_state(data: bytes, where: str) -> dict:
    """The state_dict in ``data``, read with ``weights_only=True`` (a pickle that would run code is
    refused, never executed); anything else is one :class:`ModelError` line naming the file.

    ``torch.save`` writes a zip archive: a file that is not one (a bare pickle, a truncated file) is
    refused on its magic bytes before torch parses anything.
    """
    torch = _torch()
    if not data.startswith(ZIP_MAGIC):
        raise ModelError(f"{where}: not a torch checkpoint (torch.save writes a zip archive; this starts {data[:8]!r}); refusing to unpickle it")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ModelError(f"{where}: cannot load the torch weights safely ({type(exc).__name__}: {first})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{where}: holds a {type(state).__name__}, not a state_dict of tensors")
    return state


def load_torch(model_dir: str, card: dict, device: str = "auto") -> TorchScorer:
    torch = _torch()
    device = resolve_device(device)
    config_bytes = read_verified(model_dir, card, VOCAB)
    weights = read_verified(model_dir, card, WEIGHTS)
    try:
        config = json.loads(config_bytes)
        version = config.get("featurizer", 1)
    except (ValueError, AttributeError) as exc:
        raise ModelError(f"{model_dir}/{VOCAB}: not a tailmine torch model vocabulary ({exc})") from exc
    if version != FEATURIZER_VERSION:
        raise ModelError(
            f"{model_dir}/{VOCAB}: written for torch featurizer version {version}, this tailmine reads version "
            f"{FEATURIZER_VERSION} (texts map to other ids, so its weights would score garbage); retrain it with `tailmine classify train`"
        )
    try:
        featurizer = Featurizer(
            config["vocab"], int(config["buckets"]), int(config["max_tokens"]),
            int(config["subword_buckets"]), int(config["min_n"]), int(config["max_n"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{model_dir}/{VOCAB}: not a tailmine torch model vocabulary ({exc})") from exc
    state = load_state(weights, f"{model_dir}/{WEIGHTS}")
    try:
        model = _module(featurizer.num_embeddings, int(config["dim"]), int(config["hidden"]), featurizer.subword_sizes)
        model.load_state_dict(state)
    except Exception as exc:
        raise ModelError(f"{model_dir}/{WEIGHTS}: cannot load the torch weights ({exc})") from exc
    model.eval()
    model.to(device)
    return TorchScorer(model, featurizer, card["name"], device)
