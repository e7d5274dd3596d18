"""Train a quality model end to end: documents -> examples -> split -> model -> held-out metrics -> card.

``train_from_documents`` starts from document rows (the demo trains on ingest output it already has);
:func:`tailmine.pipelines.classify.train_model`, what ``tailmine classify train`` runs, reads files
with the ingest stage first.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from tailmine.classifiers.card import CARD_SCHEMA_VERSION, KINDS, model_name, read_card, sha256_bytes, write_card
from tailmine.classifiers.data import DataConfig, Example, build_examples, split_examples
from tailmine.classifiers.fasttext_model import FastTextParams
from tailmine.classifiers.metrics import precision_at_k, roc_auc
from tailmine.classifiers.torch_model import TorchParams
from tailmine.errors import ConfigError, OutputExistsError
from tailmine.fileio import exists, join, write_bytes_atomic


@dataclass(frozen=True)
class TrainConfig:
    kind: str = "fasttext"
    """Model kind: fasttext or torch."""
    version: int = 1
    """Model version; the score column is quality_<kind>_v<version>."""
    seed: int = 0
    """Seed of the split, the example order and the model initialisation."""
    data: DataConfig = field(default_factory=DataConfig)
    fasttext: FastTextParams = field(default_factory=FastTextParams)
    torch: TorchParams = field(default_factory=TorchParams)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"kind: {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.version < 1:
            raise ConfigError(f"version: must be a positive integer, got {self.version}")

    @property
    def name(self) -> str:
        return model_name(self.kind, self.version)

    def hyperparameters(self) -> dict:
        return (self.fasttext if self.kind == "fasttext" else self.torch).to_dict()


def check_output(out_dir: str, force: bool) -> None:
    from tailmine.classifiers.card import CARD_NAME

    if exists(join(out_dir, CARD_NAME)) and not force:
        raise OutputExistsError(f"{out_dir} already holds a model; pass --force to replace it")


def train_from_documents(
    positives: list[dict], negatives: list[dict], out_dir: str, cfg: TrainConfig = TrainConfig(), data: Optional[dict] = None, force: bool = False
) -> dict:
    """Train from document rows (dicts with ``text``, ``source``, ``title``, ``url``, ``source_file``)."""
    check_output(out_dir, force)
    if not positives or not negatives:
        raise ConfigError(f"training needs documents of both classes; got {len(positives)} positive and {len(negatives)} negative")
    examples = build_examples(positives, negatives, cfg.data)
    train, heldout = split_examples(examples, cfg.seed, cfg.data.heldout_fraction)
    files, scorer = _fit(train, cfg)
    for name, blob in files.items():
        write_bytes_atomic(join(out_dir, name), blob)
    heldout_scores = scorer.score_normalized([e.text for e in heldout])
    card = {
        "card_version": CARD_SCHEMA_VERSION,
        "name": cfg.name,
        "kind": cfg.kind,
        "version": cfg.version,
        "column": cfg.name,
        "seed": cfg.seed,
        "task": "P(reference-quality text: books, encyclopedic or documentation pages) vs random crawl text (DCLM-style)",
        "data": {
            **(data or {}),
            "positive_documents": len(positives),
            "negative_documents": len(negatives),
            "config": asdict(cfg.data),
            "split": "by group (book title / web site / WikiText article; editions merged), hashed with the seed",
        },
        "sizes": {
            "train_examples": len(train),
            "train_positive": sum(e.label for e in train),
            "heldout_examples": len(heldout),
            "heldout_positive": sum(e.label for e in heldout),
            "train_groups": len({e.group for e in train}),
            "heldout_groups": len({e.group for e in heldout}),
            "weights_bytes": sum(len(b) for b in files.values()),
        },
        "hyperparameters": cfg.hyperparameters(),
        "determinism": _determinism(cfg.kind),
        "metrics": heldout_metrics(heldout, heldout_scores),
        "top_features": scorer.top_features(20),
        "files": {name: sha256_bytes(blob) for name, blob in sorted(files.items())},
    }
    write_card(out_dir, card)
    return card


def _determinism(kind: str) -> dict:
    if kind == "fasttext":
        from tailmine.classifiers.fasttext_model import determinism

        return determinism()
    return {"same_seed_same_weights": True, "how": "seeded init and batch order, one thread, torch.use_deterministic_algorithms(True)"}


def heldout_metrics(heldout: list[Example], scores: np.ndarray) -> dict:
    labels = [e.label for e in heldout]
    n_pos = sum(labels)
    by_source: dict[str, float] = {}
    return {
        "roc_auc": round(roc_auc(labels, scores), 6),
        "precision_at_k": {
            "k": n_pos,
            "value": round(precision_at_k(labels, scores, n_pos), 6),
            "at_100": round(precision_at_k(labels, scores, 100), 6),
        },
        "accuracy_at_0_5": round(float(np.mean((scores >= 0.5) == np.asarray(labels, dtype=bool))), 6),
        "heldout_examples": len(heldout),
        **({"by_source": by_source} if by_source else {}),
    }


def _fit(train: list[Example], cfg: TrainConfig):
    texts = [e.text for e in train]
    labels = [e.label for e in train]
    card = {"name": cfg.name, "kind": cfg.kind}
    if cfg.kind == "fasttext":
        import fasttext as _ft

        from tailmine.classifiers.fasttext_model import WEIGHTS, FastTextScorer, train_fasttext

        with tempfile.TemporaryDirectory(prefix="tailmine-ft-") as tmp:
            path = os.path.join(tmp, WEIGHTS)
            train_fasttext(texts, labels, cfg.fasttext, cfg.seed, path)
            with open(path, "rb") as handle:
                blob = handle.read()
            scorer = FastTextScorer(_ft.load_model(path), cfg.name)
        return {WEIGHTS: blob}, scorer
    from tailmine.classifiers.torch_model import VOCAB, WEIGHTS as TORCH_WEIGHTS, load_torch, train_torch

    weights, vocab = train_torch(texts, labels, cfg.torch, cfg.seed)
    files = {TORCH_WEIGHTS: weights, VOCAB: vocab}
    with tempfile.TemporaryDirectory(prefix="tailmine-torch-") as tmp:
        for name, blob in files.items():
            with open(os.path.join(tmp, name), "wb") as handle:
                handle.write(blob)
        card["files"] = {name: sha256_bytes(blob) for name, blob in files.items()}
        scorer = load_torch(tmp, card, device="cpu")
    return files, scorer


def load_model(model_dir: str, device: str = "auto"):
    """A scorer for ``model_dir`` (``.name``, ``.score(texts)``), weights verified against the card."""
    card = read_card(model_dir)
    if card["kind"] == "fasttext":
        from tailmine.classifiers.fasttext_model import load_fasttext

        return load_fasttext(model_dir, card)
    from tailmine.classifiers.torch_model import load_torch

    return load_torch(model_dir, card, device)
