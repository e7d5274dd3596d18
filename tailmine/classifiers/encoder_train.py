"""Train a quality head on a frozen encoder from graded labels: FineWeb-Edu's recipe.

Input: a local Hugging Face encoder folder (``--base``: config.json, model.safetensors, tokenizer.json)
and a JSONL file of ``{"text": ..., "label": number}`` rows (optional ``url``, ``book`` or ``title``,
``id``). Labels 0-5 (any real numbers) train a regression head; labels that are all 0 or 1 a binary
head. Output: a Hugging Face folder (the base encoder, untouched, plus the fitted head) with a model
card (``README.md``: data, split, metrics) that ``tailmine classify score --model`` reads like any
other checkpoint.

Why frozen embeddings and a closed-form head: FineWeb-Edu froze the encoder and trained only the head;
with the encoder frozen, the head's input features are computed once, and the head is a linear map
fitted exactly (ridge regression, or L2-regularised logistic regression by L-BFGS) in seconds on a CPU.
The features are whatever the architecture feeds its final linear layer (BERT: the pooled [CLS]
vector; RoBERTa: the classification head's hidden layer), captured by a hook, so any
``AutoModelForSequenceClassification`` architecture trains the same way and the saved model scores
exactly what was fitted. Held-out metrics are computed by scoring the held-out texts through the saved
folder (the score path), not from the training arrays.

Split: by registered domain when rows have URLs, by book (``book`` or ``title``), else by document;
stratified (for regression, by label >= 3); see :func:`tailmine.classifiers.data.heldout_keys`.
"""
from __future__ import annotations

import gzip
import json
import os
from dataclasses import asdict, dataclass

import numpy as np

from tailmine.errors import ConfigError, ModelError, OutputExistsError

F1_THRESHOLD = 3.0
"""Regression metrics binarise at this label (FineWeb-Edu keeps documents scoring 3 or more)."""


@dataclass(frozen=True)
class EncoderTrainConfig:
    task: str = "auto"
    """regression, binary, or auto (binary when every label is 0 or 1)."""
    label_key: str = "label"
    text_key: str = "text"
    seed: int = 0
    heldout_fraction: float = 0.2
    l2: float = 1.0
    """Ridge / logistic L2 strength on standardised features."""
    max_documents: int = 0
    """Use at most this many rows (0: all), the first ones of the file."""

    def __post_init__(self):
        if self.task not in ("auto", "regression", "binary"):
            raise ConfigError(f"task: {self.task!r} is not one of auto, regression, binary")
        if not 0.0 < self.heldout_fraction < 1.0:
            raise ConfigError(f"heldout_fraction: must lie in (0, 1), got {self.heldout_fraction}")
        if self.l2 < 0:
            raise ConfigError(f"l2: must be >= 0, got {self.l2}")


@dataclass(frozen=True)
class LabelledDoc:
    text: str
    label: float
    group: str


def read_labels(path: str, cfg: EncoderTrainConfig = EncoderTrainConfig()) -> list[LabelledDoc]:
    """Rows of a (optionally gzipped) JSONL label file; errors name the file, line and key."""
    from tailmine.classifiers.data import _site

    opener = gzip.open if path.endswith(".gz") else open
    docs: list[LabelledDoc] = []
    try:
        handle = opener(path, "rt", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the label file ({exc})") from exc
    with handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ConfigError(f"{path}:{line_no}: not a JSON object ({exc})") from exc
            if not isinstance(row, dict):
                raise ConfigError(f"{path}:{line_no}: not a JSON object")
            for key in (cfg.text_key, cfg.label_key):
                if key not in row:
                    raise ConfigError(f"{path}:{line_no}: no {key!r} key (keys: {', '.join(sorted(row))})")
            text, label = row[cfg.text_key], row[cfg.label_key]
            if not isinstance(text, str):
                raise ConfigError(f"{path}:{line_no}: {cfg.text_key!r} is {type(text).__name__}, not a string")
            if isinstance(label, bool) or not isinstance(label, (int, float)) or not np.isfinite(label):
                raise ConfigError(f"{path}:{line_no}: {cfg.label_key!r} is {label!r}, not a finite number")
            site = _site(row.get("url")) if isinstance(row.get("url"), str) else None
            book = row.get("book") or row.get("title")
            group = f"site:{site}" if site else f"book:{book}" if book else f"doc:{row.get('id', line_no)}"
            docs.append(LabelledDoc(text, float(label), group))
            if cfg.max_documents and len(docs) >= cfg.max_documents:
                break
    if not docs:
        raise ConfigError(f"{path}: no labelled rows")
    return docs


def resolve_task(docs: list[LabelledDoc], task: str, path: str) -> str:
    binary = all(d.label in (0.0, 1.0) for d in docs)
    if task == "auto":
        return "binary" if binary else "regression"
    if task == "binary" and not binary:
        bad = next(d.label for d in docs if d.label not in (0.0, 1.0))
        raise ConfigError(f"{path}: task binary needs labels 0 or 1; found {bad}")
    return task


def split_docs(docs: list[LabelledDoc], task: str, seed: int, fraction: float) -> np.ndarray:
    """Boolean held-out mask: groups stratified by class (label >= 3 for regression); each class needs
    at least 2 groups or ``MIN_CLASS_DOCUMENTS`` documents (then split by document)."""
    from tailmine.classifiers.data import class_split_keys, heldout_keys

    classes = [int(d.label >= (F1_THRESHOLD if task == "regression" else 0.5)) for d in docs]
    names = {1: "label >= 3" if task == "regression" else "label 1", 0: "label < 3" if task == "regression" else "label 0"}
    keys_by_class: dict[int, set] = {}
    for label in (0, 1):
        members = [i for i, c in enumerate(classes) if c == label]
        keys_by_class[label], _ = class_split_keys({docs[i].group for i in members}, {f"row:{i}" for i in members},
                                                   f"class {names[label]}", "", "web sites, books")
    doc_keys = [f"row:{i}" if f"row:{i}" in keys_by_class[classes[i]] else d.group for i, d in enumerate(docs)]
    held = heldout_keys(keys_by_class, seed, fraction)
    return np.array([k in held for k in doc_keys])


def _head_linear(model, num_labels: int):
    """The final linear layer of the classification head (the last ``nn.Linear`` with ``num_labels`` outputs)."""
    import torch

    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == num_labels]
    if not linears:
        raise ModelError(f"{type(model).__name__}: no linear layer with {num_labels} output(s) to fit")
    return linears[-1]


def embed(scorer, texts: list[str]) -> np.ndarray:
    """Input features of the head's final linear layer for every text (frozen encoder, fp32, length-bucketed)."""
    captured: list = []
    linear = _head_linear(scorer.model, 1 if scorer.info.head == "regression" else 2)
    hook = linear.register_forward_pre_hook(lambda _m, inputs: captured.append(inputs[0].detach().float().cpu().numpy()))
    try:
        ids = scorer.encode(texts)
        lengths = np.fromiter((len(r) for r in ids), dtype=np.int64, count=len(ids))
        features = None
        for rows in scorer.batches(lengths):
            captured.clear()
            scorer.forward_ids([ids[i] for i in rows])
            block = captured[-1]
            if features is None:
                features = np.empty((len(texts), block.shape[1]), dtype=np.float64)
            features[rows] = block
    finally:
        hook.remove()
    return features


def fit_head(features: np.ndarray, labels: np.ndarray, task: str, l2: float, seed: int) -> tuple[np.ndarray, float]:
    """(w, b) of a linear score on raw features: ridge for regression, logistic for binary; fitted on
    standardised features and folded back, so the saved layer needs no normaliser."""
    import torch

    mean, std = features.mean(0), features.std(0)
    std[std < 1e-8] = 1.0
    z = (features - mean) / std
    if task == "regression":
        zc, yc = z, labels - labels.mean()
        w = np.linalg.solve(zc.T @ zc + l2 * np.eye(z.shape[1]), zc.T @ yc)
        b = float(labels.mean())
    else:
        torch.manual_seed(seed)
        x, y = torch.as_tensor(z), torch.as_tensor(labels, dtype=torch.float64)
        wt = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
        bt = torch.zeros((), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([wt, bt], max_iter=200, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ wt + bt, y) + l2 * (wt @ wt) / (2 * len(y))
            loss.backward()
            return loss

        opt.step(closure)
        w, b = wt.detach().numpy(), float(bt.detach())
    w_raw = w / std
    return w_raw, b - float(w_raw @ mean)


def set_head(model, w: np.ndarray, b: float, task: str) -> None:
    import torch

    linear = _head_linear(model, 1 if task == "regression" else 2)
    with torch.no_grad():
        linear.weight.zero_()
        linear.bias.zero_()
        row = 0 if task == "regression" else 1  # binary: logit1 - logit0 = w.x + b, so softmax[1] = sigmoid(w.x + b)
        linear.weight[row] = torch.as_tensor(w, dtype=linear.weight.dtype)
        linear.bias[row] = b


def metrics(task: str, labels: np.ndarray, scores: np.ndarray) -> dict:
    from scipy.stats import spearmanr

    from tailmine.classifiers.metrics import roc_auc

    if task == "binary":
        return {"roc_auc": round(roc_auc(labels.astype(int), scores), 6), "heldout_documents": int(len(labels))}
    truth, pred = labels >= F1_THRESHOLD, scores >= F1_THRESHOLD
    tp, fp, fn = int(np.sum(truth & pred)), int(np.sum(~truth & pred)), int(np.sum(truth & ~pred))
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    rho = spearmanr(labels, scores).statistic if np.ptp(labels) > 0 and np.ptp(scores) > 0 else float("nan")
    return {
        "f1_at_3": round(f1, 6),
        "spearman": round(float(rho), 6),
        "mse": round(float(np.mean((scores - labels) ** 2)), 6),
        "heldout_documents": int(len(labels)),
    }


def _model_card(name: str, base_id: str, base_sha: str, data: dict, task: str, cfg: EncoderTrainConfig, result: dict) -> str:
    meta = {"name": name, "base_model": base_id, "base_sha256": base_sha, "task": task, "data": data, "config": asdict(cfg), "metrics": result}
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-classification",
        "tags: [tailmine, quality-classifier]",
        "---",
        f"# {name}",
        "",
        f"A {'regression (0-5)' if task == 'regression' else 'binary'} quality head fitted by `tailmine classify train --kind encoder` "
        f"on frozen embeddings of `{base_id}` (the encoder's weights are unchanged; only the final linear layer was fitted).",
        "",
        f"Score with: `tailmine classify score --in STAGE --model THIS_FOLDER --out OUT` (column `{name}`"
        + (f", and `{name}_int` = round(clip(score, 0, 5))" if task == "regression" else "") + ").",
        "",
        "## Data",
        "",
        f"- labels: `{data['labels_file']}` (sha256 {data['labels_sha256'][:16]}...), {data['documents']} documents",
        f"- split: {data['split']}; {data['train_documents']} training / {data['heldout_documents']} held-out documents",
        "",
        "## Held-out metrics",
        "",
        *[f"- {k}: {v}" for k, v in result.items()],
        "",
        "## Everything, as JSON",
        "",
        "```json",
        json.dumps(meta, indent=2, sort_keys=True),
        "```",
        "",
    ]
    return "\n".join(lines)


def train_encoder(base_dir: str, labels_path: str, out_dir: str, cfg: EncoderTrainConfig = EncoderTrainConfig(), force: bool = False,
                  device: str = "cpu") -> dict:
    """Fit the head, write ``out_dir`` (HF folder + README.md model card), score the held-out rows through it; returns the card's metadata."""
    from tailmine.classifiers.hf_model import _require_transformers

    _require_transformers()
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from tailmine.classifiers.hf_model import CARD_NAME, HF_CONFIG, HFScorer, column_for, describe_hf, sha256_file, weight_files

    if os.path.exists(os.path.join(out_dir, HF_CONFIG)) or os.path.exists(os.path.join(out_dir, CARD_NAME)):
        if not force:
            raise OutputExistsError(f"{out_dir} already holds a model; pass --force to replace it")
    if not os.path.isfile(os.path.join(base_dir, HF_CONFIG)):
        from tailmine.classifiers.hf_model import model_format

        model_format(base_dir)  # raises, listing what the folder holds
    docs = read_labels(labels_path, cfg)
    task = resolve_task(docs, cfg.task, labels_path)
    heldout = split_docs(docs, task, cfg.seed, cfg.heldout_fraction)
    labels = np.array([d.label for d in docs])
    num_labels = 1 if task == "regression" else 2
    _, names = weight_files(base_dir)  # safetensors only: a base is never unpickled here
    base_sha = sha256_file(os.path.join(base_dir, names[0]))
    config = AutoConfig.from_pretrained(base_dir, local_files_only=True)
    config.problem_type = None  # the base's own head (if any) is replaced: set the size first, then the type
    config.num_labels = num_labels
    config.problem_type = "regression" if task == "regression" else "single_label_classification"
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report lists the head being replaced: that is the point, not news
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            base_dir, config=config, local_files_only=True, use_safetensors=True, ignore_mismatched_sizes=True
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    name = column_for(os.path.basename(os.path.normpath(out_dir)))
    base_id = str(model.config._name_or_path or base_dir)
    model.config.tailmine_name = name
    model.config.tailmine_model_id = f"{name} (head on {os.path.basename(os.path.normpath(base_id))})"
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)  # a scratch copy with the head as initialised: embeddings come from the exact saved model
    from tailmine.classifiers.hf_model import _load_tokenizer

    _load_tokenizer(base_dir).save_pretrained(out_dir)
    scorer = HFScorer(out_dir, device)
    texts = [d.text for d in docs]
    features = embed(scorer, texts)
    w, b = fit_head(features[~heldout], labels[~heldout], task, cfg.l2, cfg.seed)
    set_head(model, w, b, task)
    model.save_pretrained(out_dir)
    info = describe_hf(out_dir)
    heldout_scores = HFScorer(out_dir, device).score([t for t, h in zip(texts, heldout) if h])
    result = metrics(task, labels[heldout], heldout_scores)
    data = {
        "labels_file": labels_path,
        "labels_sha256": sha256_file(labels_path),
        "documents": len(docs),
        "train_documents": int((~heldout).sum()),
        "heldout_documents": int(heldout.sum()),
        "groups": len({d.group for d in docs}),
        "label_mean": round(float(labels.mean()), 6),
        "split": "by registered domain (url), book (book/title), else document; stratified by class, hashed with the seed",
    }
    with open(os.path.join(out_dir, "README.md"), "w", encoding="utf-8") as handle:
        handle.write(_model_card(name, base_id, base_sha, data, task, cfg, result))
    return {"name": name, "column": info.column, "task": task, "metrics": result, "data": data, "sha256": info.sha256, "base_sha256": base_sha}
