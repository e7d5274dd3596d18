"""A Beam RunInference ``ModelHandler`` for tailmine quality models (fastText or torch).

``RunInference(QualityModelHandler(model_dir))`` takes texts and yields ``PredictionResult(text, score)``;
wrap it in ``KeyedModelHandler`` to carry row keys through. The model loads lazily in ``load_model``
on the worker (the handler itself holds only the path, so it pickles), once per process; with
``share_across_processes`` (default: when the model runs on a GPU) one copy serves every process of
the machine, so a GPU holds one model however many SDK workers run.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

from apache_beam.ml.inference.base import ModelHandler, PredictionResult


class QualityModelHandler(ModelHandler[str, PredictionResult, Any]):
    def __init__(
        self,
        model_dir: str,
        device: str = "auto",
        batch_size: int = 512,
        share_across_processes: Optional[bool] = None,
        cpu_threads: int = 1,
    ):
        """``device``: auto (cuda when available), cpu or cuda[:N] (torch models; fastText is CPU only).
        ``batch_size``: texts per model call. ``cpu_threads``: torch intra-op threads on CPU (Beam already
        runs one worker per core, so more threads would oversubscribe)."""
        super().__init__()
        self.model_dir, self.device, self.batch_size = model_dir, device, batch_size
        self.cpu_threads = cpu_threads
        self._share = share_across_processes

    def load_model(self):
        from tailmine.classifiers.card import read_card
        from tailmine.classifiers.train import load_model

        card = read_card(self.model_dir)
        if card["kind"] == "torch":
            import torch

            if self.cpu_threads > 0 and not self._on_gpu():
                torch.set_num_threads(self.cpu_threads)
        return load_model(self.model_dir, self.device)

    def _on_gpu(self) -> bool:
        if self.device == "cpu":
            return False
        try:
            import torch

            return torch.cuda.is_available()
        except ImportError:
            return False

    def run_inference(self, batch: Sequence[str], model, inference_args: Optional[dict] = None) -> Iterable[PredictionResult]:
        scores = model.score(list(batch))
        return [PredictionResult(text, float(score), model.name) for text, score in zip(batch, scores)]

    def get_num_bytes(self, batch: Sequence[str]) -> int:
        return sum(len(t) for t in batch)

    def get_metrics_namespace(self) -> str:
        return "tailmine_classify"

    def batch_elements_kwargs(self):
        return {"min_batch_size": self.batch_size, "max_batch_size": self.batch_size}

    def share_model_across_processes(self) -> bool:
        if self._share is not None:
            return self._share
        from tailmine.classifiers.card import read_card

        return read_card(self.model_dir)["kind"] == "torch" and self._on_gpu()
