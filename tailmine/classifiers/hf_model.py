"""Local Hugging Face checkpoints as quality models: a folder with ``config.json``, ``model.safetensors``
and ``tokenizer.json`` holding a sequence-classification or regression head (the FineWeb-Edu classifier,
NeMo Curator's quality classifiers, or one written by ``tailmine classify train --kind encoder``).

Why a separate loader: the classifiers data teams run on GPUs are transformer encoders they download
once; tailmine scores with them through the same RunInference stage as its own models, and never
downloads anything (``local_files_only``). ``transformers`` is the optional extra ``hf``.

* **Safe loading.** Weights come from safetensors only. A folder with only a pickle checkpoint
  (``pytorch_model.bin``, ``*.pt``, ``*.bin``) is refused with the command that converts it, unless
  ``trust_pickle`` is given; even then the file is read with ``torch.load(weights_only=True)``, which
  unpickles tensors and nothing else.
* **Checked at load.** A tokenizer whose ids reach past the model's embedding table is an error at
  load (it would index the wrong rows, or crash mid-run), not wrong scores; so is a safetensors file
  lacking weights the model expects (transformers would initialise them at random with a warning).
* **Scores.** A regression head (``num_labels == 1``) scores its raw output, and ``<column>_int`` is
  that score clipped to 0..5 and rounded, as FineWeb-Edu's ``int_score``; a two-label head scores the
  softmax probability of label 1. A head with N > 2 labels (NeMo Curator's quality classifier: High,
  Medium, Low; its domain classifier: 26 domains) writes ``<column>_label``, the ``id2label`` name of
  the most probable class (what NeMo writes as its prediction), and ``<column>``, that class's softmax
  probability (the confidence of the label). Why not an expected score sum_i p_i * i: label ids carry
  no quality order (NeMo's quality head numbers High=0, Medium=1, Low=2, so a larger expected id
  means *worse*; domains have no order at all), so it would rank documents by an accident of the
  config; the argmax probability means the same thing for every multi-class head.
* **Batching by token length.** Texts are tokenised (truncated at the model's maximum), sorted by
  length and cut into batches of at most ``max_batch_tokens`` padded tokens, so a batch pads to its
  own longest text; scores go back in input order. Attention masks make the padding invisible, so a
  text scores the same (within float error) whatever else is in its batch: fp32 on CPU, bf16 autocast
  on CUDA (fp16 where the GPU has no bf16).
"""
from __future__ import annotations

import glob
import json
import os
import re
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from tailmine.classifiers.card import CARD_NAME
from tailmine.errors import ModelError

HF_CONFIG = "config.json"
SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
TOKENIZER = "tokenizer.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
INT_SCORE_RANGE = (0, 5)
"""``<column>_int`` = round(clip(score, 0, 5)): FineWeb-Edu's ``int_score`` for its 0-5 educational scale."""
_POSITION_OFFSET = {"roberta": 2, "xlm-roberta": 2, "camembert": 2, "longformer": 2}  # position ids start after padding_idx
CONVERT_HINT = (
    "convert it once on a machine you trust: python -c \"from transformers import AutoModelForSequenceClassification as M; "
    "M.from_pretrained('{dir}', use_safetensors=False).save_pretrained('{dir}')\" (writes model.safetensors), "
    "or pass --trust-pickle to read it with torch.load(weights_only=True)"
)


def _require_transformers():
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelError("Hugging Face models need the optional extra: pip install 'tailmine[hf]' (transformers, safetensors)") from exc
    transformers.utils.logging.disable_progress_bar()  # one bar per load on every worker says nothing about the run


def is_hf_dir(model_dir: str) -> bool:
    return os.path.isfile(os.path.join(model_dir, HF_CONFIG))


def model_format(model_dir: str) -> str:
    """``tailmine`` (a folder with card.json) or ``hf`` (config.json); anything else is an error listing what the folder holds."""
    if os.path.isfile(os.path.join(model_dir, CARD_NAME)):
        return "tailmine"
    if is_hf_dir(model_dir):
        return "hf"
    if not os.path.isdir(model_dir):
        raise ModelError(f"{model_dir}: no such model directory (a tailmine model holds {CARD_NAME}; a Hugging Face one {HF_CONFIG}, {SAFETENSORS}, {TOKENIZER})")
    found = sorted(os.listdir(model_dir))
    listing = ", ".join(found[:20]) + (f", ... ({len(found)} entries)" if len(found) > 20 else "") if found else "nothing (empty folder)"
    raise ModelError(
        f"{model_dir}: neither a tailmine model ({CARD_NAME}) nor a Hugging Face one ({HF_CONFIG}, {SAFETENSORS}, {TOKENIZER}); found: {listing}"
    )


def column_for(name: str) -> str:
    """Score column of a model called ``name``: ``quality_`` + lower-case letters, digits and underscores."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "model"
    return slug if slug.startswith("quality_") else f"quality_{slug}"


def _read_config(model_dir: str) -> dict:
    path = os.path.join(model_dir, HF_CONFIG)
    try:
        with open(path, "rb") as handle:
            config = json.loads(handle.read())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: not a readable JSON config ({exc})") from exc
    if not isinstance(config, dict):
        raise ModelError(f"{path}: config is not a JSON object")
    return config


def weight_files(model_dir: str, trust_pickle: bool = False) -> tuple[str, list[str]]:
    """(``safetensors`` or ``pickle``, weight file names). Pickle only with ``trust_pickle``; else refused with how to convert."""
    if os.path.isfile(os.path.join(model_dir, SAFETENSORS)):
        return "safetensors", [SAFETENSORS]
    index = os.path.join(model_dir, SAFETENSORS_INDEX)
    if os.path.isfile(index):
        try:
            with open(index, "rb") as handle:
                shards = sorted(set(json.loads(handle.read())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelError(f"{index}: unreadable safetensors index ({exc})") from exc
        missing = [s for s in shards if not os.path.isfile(os.path.join(model_dir, s))]
        if missing:
            raise ModelError(f"{index}: weight shard(s) missing: {', '.join(missing)}")
        return "safetensors", [SAFETENSORS_INDEX] + shards
    pickles = sorted(os.path.basename(p) for p in glob.glob(os.path.join(model_dir, "*")) if p.endswith(PICKLE_SUFFIXES))
    if not pickles:
        raise ModelError(f"{model_dir}: no weights: expected {SAFETENSORS}; found {', '.join(sorted(os.listdir(model_dir))) or 'nothing'}")
    if not trust_pickle:
        raise ModelError(
            f"{os.path.join(model_dir, pickles[0])}: pickle checkpoint refused (a pickle can run code when loaded); "
            + CONVERT_HINT.format(dir=model_dir)
        )
    return "pickle", pickles[:1]


@dataclass(frozen=True)
class HFModelInfo:
    """What the driver knows of a Hugging Face folder before any worker loads it (read from config.json and the weight files)."""

    model_dir: str
    column: str
    model_id: str
    head: str  # "regression", "binary" or "multiclass"
    weights: str  # "safetensors" or "pickle"
    files: dict = field(default_factory=dict)  # weight file -> sha256
    sha256: str = ""  # of the weights (the single file, or the shard index)
    labels: tuple = ()  # multiclass heads: id2label names in id order

    @property
    def int_column(self) -> Optional[str]:
        return f"{self.column}_int" if self.head == "regression" else None

    @property
    def label_column(self) -> Optional[str]:
        """Multi-class heads: the string column holding the argmax class's name."""
        return f"{self.column}_label" if self.head == "multiclass" else None

    def manifest_entry(self) -> dict:
        entry = {"dir": self.model_dir, "format": "hf", "id": self.model_id, "sha256": self.sha256, "head": self.head,
                 "weights": self.weights, "files": self.files}
        if self.labels:
            entry["labels"] = list(self.labels)
        return entry


def _num_labels(config: dict) -> int:
    return int(config.get("num_labels") or len(config.get("id2label") or {}) or 2)


def head_kind(config: dict, path: str = HF_CONFIG) -> str:
    """``regression`` (1 output), ``binary`` (2 labels) or ``multiclass`` (more); a multi-label
    (sigmoid per label) head is refused: its labels are not one choice, so there is no argmax to name."""
    num_labels = _num_labels(config)
    if config.get("problem_type") == "regression" or num_labels == 1:
        return "regression"
    if num_labels == 2:
        return "binary"
    if config.get("problem_type") == "multi_label_classification":
        raise ModelError(f"{path}: a multi_label_classification head (independent sigmoid per label) has no single predicted class; "
                         "tailmine scores regression, binary and single-label multi-class heads")
    return "multiclass"


def label_names(config: dict, path: str = HF_CONFIG) -> tuple:
    """Class names in id order from ``id2label`` (keys are strings in config.json); a missing id is
    ``LABEL_<i>`` as transformers names it; an id outside 0..N-1 is an error naming the file and key."""
    num_labels = _num_labels(config)
    raw = config.get("id2label") or {}
    if not isinstance(raw, dict):
        raise ModelError(f"{path}: id2label is not an object")
    names = [f"LABEL_{i}" for i in range(num_labels)]
    for key, name in raw.items():
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise ModelError(f"{path}: id2label key {key!r} is not a class id") from None
        if not 0 <= index < num_labels:
            raise ModelError(f"{path}: id2label key {key!r} is outside 0..{num_labels - 1} ({num_labels} labels)")
        names[index] = str(name)
    return tuple(names)


def sha256_file(path: str, chunk: int = 1 << 24) -> str:
    """sha256 of a file read in 16 MB pieces (weights run to gigabytes)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_hf(model_dir: str, trust_pickle: bool = False, hash_weights: bool = True) -> HFModelInfo:
    """Check a Hugging Face folder on the driver (config, head, tokenizer present, safe weights) and hash its
    weights (workers pass ``hash_weights=False``: the driver has hashed them for the manifest)."""
    config = _read_config(model_dir)
    config_path = os.path.join(model_dir, HF_CONFIG)
    head = head_kind(config, config_path)
    labels = label_names(config, config_path) if head == "multiclass" else ()
    if not os.path.isfile(os.path.join(model_dir, TOKENIZER)):
        raise ModelError(f"{model_dir}: {TOKENIZER} not found; found {', '.join(sorted(os.listdir(model_dir)))}")
    weights, names = weight_files(model_dir, trust_pickle)
    files = {name: sha256_file(os.path.join(model_dir, name)) if hash_weights else "" for name in names}
    name = config.get("tailmine_name") or os.path.basename(os.path.normpath(model_dir))
    model_id = config.get("tailmine_model_id") or config.get("_name_or_path") or os.path.basename(os.path.normpath(model_dir))
    return HFModelInfo(model_dir, column_for(name), str(model_id), head, weights, files, files[names[0]], labels)


def int_scores(scores: np.ndarray) -> np.ndarray:
    """FineWeb-Edu's ``int_score``: round(clip(score, 0, 5)) as int8 (halves to even, as numpy rounds)."""
    lo, hi = INT_SCORE_RANGE
    return np.rint(np.clip(np.asarray(scores, dtype=np.float64), lo, hi)).astype(np.int8)


def resolve_device(device: str) -> str:
    from tailmine.classifiers.torch_model import resolve_device as _resolve

    return _resolve(device)


def _load_tokenizer(model_dir: str):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    try:
        return AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        try:
            return PreTrainedTokenizerFast(tokenizer_file=os.path.join(model_dir, TOKENIZER))
        except Exception as inner:  # noqa: BLE001 - report both failures with the file
            raise ModelError(f"{os.path.join(model_dir, TOKENIZER)}: cannot load the tokenizer ({exc}; {inner})") from inner


def _load_module(model_dir: str, weights: str, names: list[str]):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    if weights == "safetensors":
        try:
            model, loading = AutoModelForSequenceClassification.from_pretrained(
                model_dir, local_files_only=True, use_safetensors=True, output_loading_info=True
            )
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelError(f"{model_dir}: cannot load the model ({exc})") from exc
        missing = sorted(loading.get("missing_keys") or ())
        if missing:  # transformers only warns and initialises them at random: scores would be noise
            raise ModelError(
                f"{os.path.join(model_dir, SAFETENSORS)}: lacks {len(missing)} weight(s) of {type(model).__name__}, e.g. {', '.join(missing[:3])}; "
                "not a transformers sequence-classification checkpoint (a custom head, as in checkpoints saved with "
                "PyTorchModelHubMixin, needs its weights renamed to the transformers layout first)"
            )
        return model
    import torch

    path = os.path.join(model_dir, names[0])
    model = AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(model_dir, local_files_only=True))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - weights_only refuses anything but tensors: say so with the file
        raise ModelError(f"{path}: not a plain tensor checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict):
        raise ModelError(f"{path}: expected a state_dict, got {type(state).__name__}")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing:
        raise ModelError(f"{path}: checkpoint lacks {len(missing)} weight(s), e.g. {', '.join(missing[:3])}")
    return model


def max_length(tokenizer, config) -> int:
    """Longest input the model takes: its position table (less RoBERTa's offset), capped by the tokenizer's own limit."""
    limit = getattr(config, "max_position_embeddings", None) or 512
    limit -= _POSITION_OFFSET.get(getattr(config, "model_type", ""), 0)
    declared = getattr(tokenizer, "model_max_length", None)
    if declared and declared < 1_000_000:
        limit = min(limit, int(declared))
    return int(limit)


class HFScorer:
    """A loaded Hugging Face classifier: ``.name`` (the score column), ``.score(texts)`` -> float32 scores in
    input order; multi-class heads also ``.labels`` (names in id order) and ``.predict(texts)`` -> (scores, class ids)."""

    def __init__(self, model_dir: str, device: str = "auto", trust_pickle: bool = False, max_batch_tokens: int = 32768, max_batch_rows: int = 1024):
        _require_transformers()
        import torch

        self.info = describe_hf(model_dir, trust_pickle, hash_weights=False)
        self.name = self.info.column
        self.labels = self.info.labels
        self.device = resolve_device(device)
        self.max_batch_tokens, self.max_batch_rows = max_batch_tokens, max_batch_rows
        self.tokenizer = _load_tokenizer(model_dir)
        model = _load_module(model_dir, self.info.weights, list(self.info.files))
        embeddings = model.get_input_embeddings().num_embeddings
        top_id = max(self.tokenizer.get_vocab().values(), default=-1)
        if top_id >= embeddings or len(self.tokenizer) > embeddings:
            raise ModelError(
                f"{os.path.join(model_dir, TOKENIZER)}: tokenizer has {len(self.tokenizer)} tokens (ids up to {top_id}) but the model "
                f"in {model_dir} embeds only {embeddings}; tokenizer and weights are from different models"
            )
        self.max_length = max_length(self.tokenizer, model.config)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else (model.config.pad_token_id or 0)
        self.fill_id = self.tokenizer.unk_token_id if self.tokenizer.unk_token_id is not None else self.pad_id
        self.model = model.to(self.device).eval()
        self.autocast_dtype = None
        if self.device.startswith("cuda"):
            self.autocast_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, truncated at the model's maximum; an empty encoding becomes one unknown token
        (a tokenizer without [CLS]/[SEP] gives none for ``""``, and a model cannot attend over nothing)."""
        if not texts:
            return []
        ids = self.tokenizer([t or "" for t in texts], truncation=True, max_length=self.max_length)["input_ids"]
        return [row if row else [self.fill_id] for row in ids]

    def batches(self, lengths: np.ndarray) -> list[np.ndarray]:
        """Row indices per batch: sorted by token length, each batch at most ``max_batch_tokens`` padded tokens."""
        order = np.argsort(lengths, kind="stable")
        out, start = [], 0
        while start < len(order):
            end = start + 1
            while end < len(order) and end - start < self.max_batch_rows and (end - start + 1) * lengths[order[end]] <= self.max_batch_tokens:
                end += 1
            out.append(order[start:end])
            start = end
        return out

    def forward_ids(self, ids: list[list[int]]) -> np.ndarray:
        """Scores of already tokenised rows (one model call)."""
        return self.forward_predict(ids)[0]

    def forward_predict(self, ids: list[list[int]]) -> tuple:
        """(float32 scores, int32 argmax class ids or None) of already tokenised rows (one model call):
        regression: the output; binary: P(label 1); multiclass: P(argmax class) and that class's id."""
        import torch

        width = max(len(r) for r in ids)
        input_ids = torch.full((len(ids), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = torch.as_tensor(row)
            mask[i, : len(row)] = 1
        input_ids, mask = input_ids.to(self.device, non_blocking=True), mask.to(self.device, non_blocking=True)
        with torch.inference_mode():
            if self.autocast_dtype is not None:
                with torch.autocast("cuda", dtype=self.autocast_dtype):
                    logits = self.model(input_ids=input_ids, attention_mask=mask).logits
            else:
                logits = self.model(input_ids=input_ids, attention_mask=mask).logits
            logits = logits.float()
            classes = None
            if self.info.head == "regression":
                scores = logits[:, 0]
            elif self.info.head == "binary":
                scores = torch.softmax(logits, dim=-1)[:, 1]
            else:
                scores, classes = torch.softmax(logits, dim=-1).max(dim=-1)  # ties: the lowest id, as argmax
        return scores.cpu().numpy().astype(np.float32), None if classes is None else classes.cpu().numpy().astype(np.int32)

    def predict(self, texts: Sequence[str]) -> tuple:
        """(float32 scores, int32 class ids or None) in input order, batched by token length."""
        ids = self.encode(texts)
        out = np.empty(len(ids), dtype=np.float32)
        classes = np.empty(len(ids), dtype=np.int32) if self.info.head == "multiclass" else None
        if not ids:
            return out, classes
        lengths = np.fromiter((len(r) for r in ids), dtype=np.int64, count=len(ids))
        for rows in self.batches(lengths):
            scores, predicted = self.forward_predict([ids[i] for i in rows])
            out[rows] = scores
            if classes is not None:
                classes[rows] = predicted
        return out, classes

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return self.predict(texts)[0]


def load_hf(model_dir: str, device: str = "auto", trust_pickle: bool = False, max_batch_tokens: int = 32768) -> HFScorer:
    return HFScorer(model_dir, device, trust_pickle, max_batch_tokens)


def wordpiece_vocab(texts: Sequence[str], vocab_size: int) -> dict[str, int]:
    """A deterministic WordPiece vocabulary: BERT's special tokens, every character seen (alone and as a
    ``##`` continuation, so no word is unknown), then the most frequent words (ties alphabetically).
    Why not ``tokenizers``' WordPiece trainer: its ties fall out of hash-map order, so the same texts
    gave a different tokenizer on every run, and tests built on it were not reproducible."""
    from collections import Counter

    from tokenizers import normalizers, pre_tokenizers

    normalize, split = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    counts: Counter = Counter()
    for text in texts:
        counts.update(word for word, _ in split.pre_tokenize_str(normalize.normalize_str(text)))
    chars = sorted({c for word in counts for c in word})
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + [f"##{c}" for c in chars]
    seen = set(tokens)
    for word, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(tokens) >= vocab_size:
            break
        if word not in seen:
            tokens.append(word)
            seen.add(word)
    return {token: i for i, token in enumerate(tokens)}


def write_random_bert(
    out_dir: str,
    texts: Sequence[str],
    num_labels: int = 1,
    vocab_size: int = 1000,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    intermediate: int = 64,
    max_positions: int = 128,
    seed: int = 0,
    initializer_range: float = 0.02,
    labels: Optional[Sequence[str]] = None,
) -> str:
    """A randomly initialised BERT classifier in Hugging Face format, built locally (nothing downloaded):
    a WordPiece tokenizer over ``texts`` (:func:`wordpiece_vocab`), and ``BertForSequenceClassification``
    with the given sizes. For tests (tiny sizes) and the GPU benchmark (BERT-base: hidden 768, 12 layers,
    12 heads, 3072, 512 positions, vocab 30522). ``initializer_range``: std of the random weights; BERT's 0.02
    gives nearly constant outputs, tests use a larger one so that scores differ between texts and a
    parity check means something. ``labels``: class names (id2label) of a classification head. Returns ``out_dir``."""
    _require_transformers()
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(vocab=wordpiece_vocab(texts, vocab_size), unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
                                   mask_token="[MASK]", model_max_length=max_positions)
    config = BertConfig(vocab_size=max(vocab_size, tok.get_vocab_size()), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=intermediate, max_position_embeddings=max_positions, num_labels=num_labels,
                        problem_type="regression" if num_labels == 1 else "single_label_classification", initializer_range=initializer_range)
    if labels is not None:
        if len(labels) != num_labels:
            raise ValueError(f"{len(labels)} label names for {num_labels} labels")
        config.id2label = {i: str(name) for i, name in enumerate(labels)}
        config.label2id = {str(name): i for i, name in enumerate(labels)}
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config).eval()
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)
    fast.save_pretrained(out_dir)
    return out_dir
