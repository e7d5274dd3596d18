"""Quality classifier benchmark: docs/s and MB/s per core, fastText and torch, raw and inside the Beam stage.

    .venv/bin/python benchmarks/classifiers.py [--docs 6000] [--stage-docs 60000] [--repeat 3] [--out FILE.json]

Documents: 1-5 KB chunks (``chunk_text``, 2,000..5,000 bytes) of Gutenberg books and crawl pages from
``../shared/corpora``; models are trained on the fly on a disjoint part of the same pool (default
hyper-parameters). Every figure is best of ``--repeat`` (the in-process paths called in turn, A B C A B C ...) in one process on one core, as docs per CPU second
(user + sys of the process: the benchmark machine is shared, so wall time is reported only beside the stage):

* ``fasttext_raw_predict``: ``multilinePredict`` on already-normalised text (the reference: what the C++
  model alone does);
* ``fasttext_scorer``: ``FastTextScorer.score`` = normalise + predict (what the ModelHandler runs per batch);
* ``fasttext_beam_stage`` / ``torch_cpu_beam_stage``: ``tailmine classify score`` on a Parquet stage
  of ``--stage-docs`` documents (the ``--docs`` documents repeated; default 60,000, about 180 MB, so
  that Beam's fixed cost per run is spread as it is on a real stage) on the in-process DirectRunner
  with one worker: each shard read once, one RunInference per model over whole shards, each shard
  written once with its column. ``docs_per_s`` = docs / (user + sys CPU seconds of this process) for
  the whole run, pipeline construction and start-up included; ``startup_cpu_s`` is that fixed cost
  alone (the same run on a one-document stage), ``docs_per_s_after_startup`` the rate with it taken
  off; the wall-clock rate is beside them;
* ``torch_cpu``: ``TorchScorer.score`` with one torch thread, batch 512;
* ``torch_host_featurise``: normalise + featurise only (the host's share when the model runs on a GPU);
* ``torch_gpu`` (only when ``torch.cuda.is_available()``): batch sizes 1024..16384, records the device
  name, host-side featurisation seconds, GPU seconds (CUDA events) and mean GPU utilisation sampled
  with ``nvidia-smi`` during the run. Without a GPU the entry says ``"not measured: no CUDA device"``.
"""
from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from timing import alternate, cpu_seconds

REPO = Path(__file__).resolve().parent.parent
CORPORA = Path(os.environ.get("TAILMINE_CORPORA", REPO.parent / "shared" / "corpora"))
BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def document_pool(n: int) -> tuple[list[str], list[int]]:
    """About ``n`` 2-5 KB chunks, half from books (label 1), half from crawl pages (label 0), interleaved."""
    from tailmine.classifiers.data import unpack_html_pages
    from tailmine.classifiers.text import chunk_text
    from tailmine.pipelines.classify import load_documents

    books = sorted(glob.glob(str(CORPORA / "books" / "gutenberg" / "*.gz")))
    good: list[str] = []
    for path in books:
        text = gzip.open(path, "rt", encoding="utf-8-sig", errors="replace").read()
        good += [c for c in chunk_text(text, 2000, 5000) if len(c.encode()) >= 1000]
        if len(good) >= n:
            break
    with tempfile.TemporaryDirectory() as tmp:
        pages = []
        for tarball in sorted(glob.glob(str(CORPORA / "web" / "html" / "*.tar.gz"))):
            pages += unpack_html_pages(tarball, tmp)
        docs = load_documents(pages + sorted(glob.glob(str(CORPORA / "web" / "ccnet" / "*.gz"))))
    bad: list[str] = []
    for d in docs:
        bad += [c for c in chunk_text(d["text"] or "", 2000, 5000) if len(c.encode()) >= 1000]
    half = n // 2
    bad = (bad * (1 + half // max(len(bad), 1)))[:half]  # crawl chunks repeat when the pool is short
    good = good[:half]
    texts, labels = [], []
    for g, b in zip(good, bad):
        texts += [g, b]
        labels += [1, 0]
    return texts, labels


def rate(n_docs: int, n_bytes: int, seconds: float) -> dict:
    return {"docs_per_s": round(n_docs / seconds), "mb_per_s": round(n_bytes / seconds / 1e6, 2), "seconds": round(seconds, 3)}


def train_models(texts, labels, work: str) -> dict[str, str]:
    from tailmine.classifiers.train import TrainConfig, train_from_documents

    pos = [{"text": t, "source": "gutenberg", "title": f"b{i // 20}", "url": None, "source_file": f"b{i // 20}"} for i, (t, y) in enumerate(zip(texts, labels)) if y]
    neg = [{"text": t, "source": "html", "title": None, "url": f"https://s{i // 10}.example/", "source_file": f"p{i}"} for i, (t, y) in enumerate(zip(texts, labels)) if not y]
    dirs = {}
    for kind in ("fasttext", "torch"):
        dirs[kind] = os.path.join(work, kind)
        train_from_documents(pos, neg, dirs[kind], TrainConfig(kind=kind, seed=0))
    return dirs


def make_stage(texts: list[str], work: str, name: str = "stage") -> str:
    """A document stage (ingest output, in as many shards as ingest makes) holding ``texts`` in order."""
    from tailmine.ingest.config import IngestConfig
    from tailmine.pipelines import ingest

    src = os.path.join(work, f"{name}.jsonl")
    with open(src, "w") as handle:
        for i, t in enumerate(texts):
            handle.write(json.dumps({"id": f"d{i}", "text": t}) + "\n")
    out = os.path.join(work, name)
    ingest.run([src], out, IngestConfig(), BEAM_ARGS, force=True, progress=False)
    os.remove(src)
    return out


def score_stage(stage: str, model_dir: str, work: str, repeats: int, n_docs: int, device: str) -> tuple[float, float]:
    """Best CPU and best wall seconds of ``classify.run`` on ``stage`` over ``repeats``."""
    from tailmine.pipelines import classify

    best_cpu, best_wall = float("inf"), float("inf")
    for _ in range(repeats):
        out = os.path.join(work, "scored")
        shutil.rmtree(out, ignore_errors=True)
        c, w = cpu_seconds(), time.perf_counter()
        manifest = classify.run(stage, out, classify.ScoreConfig(models=(model_dir,), device=device), BEAM_ARGS, force=True, progress=False)
        best_cpu, best_wall = min(best_cpu, cpu_seconds() - c), min(best_wall, time.perf_counter() - w)
        assert manifest.counts.output == n_docs, manifest.counts
    shutil.rmtree(os.path.join(work, "scored"), ignore_errors=True)
    return best_cpu, best_wall


def beam_stage(stage: str, tiny_stage: str, model_dir: str, work: str, repeats: int, n_docs: int, n_bytes: int, device: str = "cpu") -> dict:
    cpu, wall = score_stage(stage, model_dir, work, repeats, n_docs, device)
    startup, _ = score_stage(tiny_stage, model_dir, work, repeats, 1, device)
    return {
        "docs": n_docs, **rate(n_docs, n_bytes, cpu),
        "startup_cpu_s": round(startup, 3),
        "docs_per_s_after_startup": round(n_docs / max(cpu - startup, 1e-9)),
        "wall": rate(n_docs, n_bytes, wall),
        "note": "per core = docs / CPU seconds of the process for the whole run, Beam start-up included (DirectRunner in_memory, 1 worker); "
        "startup_cpu_s = the same run on a one-document stage",
    }


class GpuSampler:
    """Mean GPU utilisation from ``nvidia-smi`` sampled every 0.2 s while in the ``with`` block."""

    def __init__(self):
        self.samples: list[float] = []
        self._stop = threading.Event()

    def _loop(self):
        while not self._stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=5)
                self.samples.append(float(out.stdout.split()[0]))
            except Exception:
                return
            self._stop.wait(0.2)

    def __enter__(self):
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def mean(self):
        return round(sum(self.samples) / len(self.samples), 1) if self.samples else None


def torch_gpu(model_dir: str, normalized: list[str], n_bytes: int, repeats: int) -> dict:
    import torch

    from tailmine.classifiers.train import load_model

    if not torch.cuda.is_available():
        return {"measured": False, "note": "not measured: no CUDA device visible to torch on this machine"}
    scorer = load_model(model_dir, device="cuda")
    results = {"measured": True, "device": torch.cuda.get_device_name(0), "torch": torch.__version__, "mixed_precision": scorer.mixed_precision, "batches": []}
    docs = normalized * max(1, 50_000 // len(normalized))  # enough work to keep the GPU busy for seconds
    for batch in (1024, 4096, 16384):
        scorer.score_normalized(docs[:batch])  # warm-up (CUDA context, kernels)
        torch.cuda.synchronize()
        host = gpu = 0.0
        start_event, end_event = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        walls = []
        with GpuSampler() as sampler:
            for _ in range(repeats):
                t = time.perf_counter()
                host = gpu = 0.0
                for i in range(0, len(docs), batch):
                    h = time.perf_counter()
                    arrays = scorer.featurizer.encode(docs[i : i + batch])
                    tensors = scorer._to_device(arrays)
                    host += time.perf_counter() - h
                    start_event.record()
                    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16):
                        torch.sigmoid(scorer.model(*tensors).float()).cpu()
                    end_event.record()
                    torch.cuda.synchronize()
                    gpu += start_event.elapsed_time(end_event) / 1000
                walls.append(time.perf_counter() - t)
        wall = min(walls)
        results["batches"].append({
            "batch_size": batch, **rate(len(docs), n_bytes * len(docs) // len(normalized), wall),
            "host_featurise_s": round(host, 3), "gpu_s": round(gpu, 3), "gpu_utilisation_pct": sampler.mean,
            "bottleneck": "host" if host > gpu else "gpu",
        })
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=6000, help="documents scored (default 6000)")
    parser.add_argument("--stage-docs", type=int, default=60_000, help="documents in the stage scored through Beam: --docs repeated (default 60000)")
    parser.add_argument("--train-docs", type=int, default=3000, help="documents the models are trained on (default 3000)")
    parser.add_argument("--repeat", "--repeats", dest="repeats", type=int, default=3)
    parser.add_argument("--out", default=None, help="also write the JSON here (default: stdout only; nothing is written into the checkout)")
    args = parser.parse_args()

    import numpy as np
    import torch

    from tailmine.classifiers.text import normalize_text
    from tailmine.classifiers.train import load_model

    torch.set_num_threads(1)
    texts, labels = document_pool(args.docs + args.train_docs)
    train_t, train_y = texts[args.docs :], labels[args.docs :]
    texts = texts[: args.docs]
    n, n_bytes = len(texts), sum(len(t.encode()) for t in texts)
    work = tempfile.mkdtemp(prefix="tailmine-bench-")
    try:
        dirs = train_models(train_t, train_y, work)
        ft = load_model(dirs["fasttext"], device="cpu")
        th = load_model(dirs["torch"], device="cpu")
        normalized = [normalize_text(t) for t in texts]
        lines = [t + "\n" for t in normalized]
        # fastText's own predict and tailmine's scorers in turn (A B C A B C ...), best of --repeat CPU seconds
        best = alternate({
            "fasttext_raw_predict": lambda: ft.model.f.multilinePredict(lines, 1, 0.0, "replace"),
            "normalize_only": lambda: [normalize_text(t) for t in texts],
            "fasttext_scorer": lambda: [ft.score(texts[i : i + 512]) for i in range(0, n, 512)],
            "torch_cpu": lambda: [th.score(texts[i : i + 512]) for i in range(0, n, 512)],
            # the host's share of GPU scoring: normalise + featurise, no model call (how many host
            # processes one GPU needs to be the bottleneck)
            "torch_host_featurise": lambda: [th.featurizer.encode([normalize_text(t) for t in texts[i : i + 512]]) for i in range(0, n, 512)],
        }, args.repeats)
        result = {
            "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(), "torch": torch.__version__},
            "docs": n, "mb": round(n_bytes / 1e6, 2), "mean_doc_bytes": round(n_bytes / n), "repeats": args.repeats, "order": "alternating",
            **{name: rate(n, n_bytes, b["cpu"]) for name, b in best.items()},
        }
        result["torch_cpu"].update({"batch_size": 512, "threads": 1})
        stage_texts = (texts * (1 + args.stage_docs // n))[: args.stage_docs]
        stage, tiny = make_stage(stage_texts, work), make_stage(texts[:1], work, "tiny-stage")
        stage_bytes = sum(len(t.encode()) for t in stage_texts)
        result["stage_shards"] = len(json.load(open(os.path.join(stage, "manifest.json")))["outputs"])
        result["fasttext_beam_stage"] = beam_stage(stage, tiny, dirs["fasttext"], work, args.repeats, len(stage_texts), stage_bytes)
        result["torch_cpu_beam_stage"] = beam_stage(stage, tiny, dirs["torch"], work, args.repeats, len(stage_texts), stage_bytes)
        result["torch_gpu"] = torch_gpu(dirs["torch"], normalized, n_bytes, args.repeats)
        result["fasttext_stage_vs_raw"] = round(result["fasttext_beam_stage"]["docs_per_s"] / result["fasttext_raw_predict"]["docs_per_s"], 3)
        result["fasttext_stage_vs_scorer"] = round(result["fasttext_beam_stage"]["docs_per_s"] / result["fasttext_scorer"]["docs_per_s"], 3)
        result["targets"] = {
            "fasttext_beam_stage_docs_per_s_per_core>=6000": result["fasttext_beam_stage"]["docs_per_s"] >= 6000,
            "torch_h100_docs_per_s>=20000": (max(b["docs_per_s"] for b in result["torch_gpu"]["batches"]) >= 20000) if result["torch_gpu"]["measured"] else "not measured",
        }
        agree = np.abs(ft.score(texts[:200]) - ft.score(texts[:200])).max()
        result["fasttext_repeat_max_abs_diff"] = float(agree)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as handle:
            json.dump(result, handle, indent=2)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
