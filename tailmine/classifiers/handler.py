"""A Beam RunInference ``ModelHandler`` for quality models (fastText, torch, or a local Hugging Face checkpoint).

The element is a whole document shard: an Arrow table (or record batch) with a ``text`` column.
``RunInference(QualityModelHandler(model_dir))`` yields, per shard, ``PredictionResult(shard, scores)``
with ``scores`` a float32 array, one score per row in row order (for a multi-class Hugging Face head,
a pair: scores = probability of the predicted class, and int32 class ids); wrap it in ``KeyedModelHandler`` to
carry the shard's key through. ``batch_elements_kwargs`` makes each RunInference batch one shard, and
``run_inference`` scores that shard's texts in sub-batches of ``batch_size`` (one model call each, so
only one sub-batch of Python strings exists at a time beside the Arrow column).

The model loads lazily in ``load_model`` on the worker (the handler itself holds only the path, so it
pickles), once per process; with ``share_across_processes`` (default: when the model runs on a GPU)
one copy serves every process of the machine, so a GPU holds one model however many SDK workers run.
Torch models run on ``cuda`` when there is one (mixed precision there, see ``torch_model``), on the
CPU otherwise.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np
import pyarrow as pa
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

Shard = Union[pa.Table, pa.RecordBatch]


def score_texts(model, column: Union[pa.Array, pa.ChunkedArray], batch_size: int) -> np.ndarray:
    """Scores of every text of ``column`` (float32, row order), ``batch_size`` texts per model call."""
    return predict_texts(model, column, batch_size)[0]


def predict_texts(model, column: Union[pa.Array, pa.ChunkedArray], batch_size: int) -> tuple:
    """(float32 scores, int32 class ids or None) of every text of ``column``, row order, ``batch_size``
    texts per model call; class ids only from a multi-class model (one with ``.labels`` and ``.predict``)."""
    multiclass = bool(getattr(model, "labels", ()))
    out = np.empty(len(column), dtype=np.float32)
    classes = np.empty(len(column), dtype=np.int32) if multiclass else None
    for start in range(0, len(column), batch_size):
        texts = column.slice(start, batch_size).to_pylist()
        if multiclass:
            scores, predicted = model.predict(texts)
            classes[start : start + len(texts)] = predicted
        else:
            scores = model.score(texts)
        scores = np.asarray(scores, dtype=np.float32)
        if scores.shape != (len(texts),):
            raise RuntimeError(f"{model.name}: {scores.shape} scores for {len(texts)} texts")
        out[start : start + len(texts)] = scores
    return out, classes


class QualityModelHandler(ModelHandler[Shard, PredictionResult, Any]):
    def __init__(
        self,
        model_dir: str,
        device: str = "auto",
        batch_size: int = 512,
        share_across_processes: Optional[bool] = None,
        cpu_threads: int = 1,
        trust_pickle: bool = False,
        max_batch_tokens: int = 32768,
    ):
        """``device``: auto (cuda when available), cpu or cuda[:N] (torch models; fastText is CPU only).
        ``batch_size``: texts per model call. ``cpu_threads``: torch intra-op threads on CPU (Beam already
        runs one worker per core, so more threads would oversubscribe). ``trust_pickle``: let a Hugging Face
        folder without safetensors load its pickle checkpoint (with ``torch.load(weights_only=True)``).
        ``max_batch_tokens``: Hugging Face models: padded tokens per forward pass (texts sorted by length)."""
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model_dir, self.device, self.batch_size = model_dir, device, batch_size
        self.cpu_threads, self.trust_pickle, self.max_batch_tokens = cpu_threads, trust_pickle, max_batch_tokens
        self._share = share_across_processes

    def load_model(self):
        from tailmine.classifiers.models import load_scorer, runs_on_torch

        if runs_on_torch(self.model_dir) and self.cpu_threads > 0 and not self._on_gpu():
            import torch

            torch.set_num_threads(self.cpu_threads)
        return load_scorer(self.model_dir, self.device, self.trust_pickle, self.max_batch_tokens)

    def _on_gpu(self) -> bool:
        if self.device == "cpu":
            return False
        try:
            import torch

            return torch.cuda.is_available()
        except ImportError:
            return False

    def run_inference(self, batch: Sequence[Shard], model, inference_args: Optional[dict] = None) -> Iterable[PredictionResult]:
        name, results = model.name, []
        for shard in batch:
            scores, classes = predict_texts(model, shard.column("text"), self.batch_size)
            results.append(PredictionResult(shard, scores if classes is None else (scores, classes), name))
        return results

    def get_num_bytes(self, batch: Sequence[Shard]) -> int:
        return sum(shard.column("text").nbytes for shard in batch)

    def get_metrics_namespace(self) -> str:
        return "tailmine_classify"

    def batch_elements_kwargs(self):
        return {"min_batch_size": 1, "max_batch_size": 1}  # one shard per call: at most one shard waits in the batcher

    def share_model_across_processes(self) -> bool:
        if self._share is not None:
            return self._share
        from tailmine.classifiers.models import runs_on_torch

        return runs_on_torch(self.model_dir) and self._on_gpu()
