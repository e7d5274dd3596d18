"""Every kind of quality model behind one door: what the driver needs to know of a model directory
(its score columns, what goes in the manifest) and the scorer a worker loads.

Two formats: a tailmine model (``card.json`` beside fastText or torch weights, written by
``tailmine classify train``) and a local Hugging Face folder (``config.json``, ``model.safetensors``,
``tokenizer.json``; see :mod:`tailmine.classifiers.hf_model`). Anything else is an error that lists
what the folder holds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass(frozen=True)
class ModelInfo:
    model_dir: str
    format: str  # "tailmine" or "hf"
    kind: str  # fasttext, torch, or the head of an hf model (regression, binary, multiclass)
    column: str
    int_column: Optional[str] = None
    """Regression heads also write the score rounded to an integer (FineWeb-Edu's int_score)."""
    manifest: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    label_column: Optional[str] = None
    """Multi-class heads also write the name of the most probable class (``column`` is its probability)."""
    labels: tuple = ()
    """Multi-class heads: class names in id order (config.json's id2label)."""

    @property
    def columns(self) -> list:
        """Every column this model writes: the score, then its ``_int`` or ``_label`` column if any."""
        return [name for name in (self.column, self.int_column, self.label_column) if name]


def describe_model(model_dir: str, trust_pickle: bool = False) -> ModelInfo:
    """Check ``model_dir`` on the driver (weights present and hashed) and say what it will write."""
    from tailmine.classifiers.hf_model import describe_hf, model_format

    fmt = model_format(model_dir) if "://" not in model_dir else "tailmine"
    if fmt == "hf":
        info = describe_hf(model_dir, trust_pickle)
        return ModelInfo(model_dir, "hf", info.head, info.column, info.int_column, info.manifest_entry(),
                         label_column=info.label_column, labels=info.labels)
    from tailmine.classifiers.card import verify_model_files

    card = verify_model_files(model_dir)
    return ModelInfo(model_dir, "tailmine", card["kind"], card["name"], None, {"dir": model_dir, "format": "tailmine", "files": card["files"]}, card["metrics"])


def load_scorer(model_dir: str, device: str = "auto", trust_pickle: bool = False, max_batch_tokens: int = 32768):
    """The scorer (``.name``, ``.score(texts)``) of either format (``max_batch_tokens``: Hugging Face models only)."""
    from tailmine.classifiers.hf_model import load_hf, model_format

    if "://" not in model_dir and model_format(model_dir) == "hf":
        return load_hf(model_dir, device, trust_pickle, max_batch_tokens)
    from tailmine.classifiers.train import load_model

    return load_model(model_dir, device)


def runs_on_torch(model_dir: str) -> bool:
    """True for models that run on torch (and so can use a GPU): tailmine torch models and every Hugging Face model."""
    from tailmine.classifiers.hf_model import is_hf_dir

    if "://" not in model_dir and is_hf_dir(model_dir):
        return True
    from tailmine.classifiers.card import read_card

    return read_card(model_dir)["kind"] == "torch"
