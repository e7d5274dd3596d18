"""GPU classify benchmark, one command: docs/s and GPU utilisation of the Beam classify stage for the
bag-of-n-grams torch model and a BERT-base-sized encoder (random weights) at 512 tokens.

    .venv/bin/python benchmarks/gpu_classify.py                # on a GPU machine: the issue #19 figures
    .venv/bin/python benchmarks/gpu_classify.py --smoke        # anywhere: tiny sizes, proves the script runs

What it does, all through ``tailmine.pipelines.classify.run`` (Parquet shards in, RunInference over whole
shards, Parquet shards out; DirectRunner in-process, one worker, as ``benchmarks/classifiers.py``):

1. builds a document pool from ``../shared/corpora`` (1-5 KB chunks of Gutenberg books and crawl pages,
   ``classifiers.document_pool``) and writes an ingest stage of ``--docs`` documents (the pool repeated);
2. trains the bag-of-n-grams torch model on the pool (``classifiers.train_models``) and scores the stage
   with it (``--batch-size`` texts per model call; fp16 autocast on CUDA);
3. builds a BERT-base-sized classifier locally (``write_random_bert``: WordPiece tokenizer trained on the
   pool, hidden 768, 12 layers, 12 heads, FFN 3072, 512 positions, ~110M parameters, random weights,
   regression head) and scores a stage of ``--encoder-docs`` documents with it: truncation at 512
   tokens, length-bucketed batches of at most ``--max-batch-tokens`` padded tokens, bf16 autocast.

``--workers N`` runs the scoring stage on N DirectRunner processes instead of one in-process worker
(host-side featurisation / tokenisation in parallel; untested on a GPU so far). Per model it records wall-clock docs/s for the whole stage (Beam start-up included), the same for a
one-document stage (start-up alone) and the rate with it taken off, mean GPU utilisation sampled with
``nvidia-smi`` every 0.2 s during the run, and for the encoder the achieved share of bf16 dense peak
(``--peak-tflops``, default 989 for an H100 SXM; 2 x parameters x tokens FLOPs per document).
Goals (issue #19, one H100-class GPU): >= 20,000 docs/s bag-of-n-grams, >= 3,000 docs/s encoder.

``--smoke`` runs tiny sizes (a 2,000-document stage, 8 documents through the full-size encoder) so the
script is known to work on a CPU; its figures are labelled CPU and say nothing about a GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time

from classifiers import BEAM_ARGS, GpuSampler, document_pool, make_stage, train_models

BERT_BASE = dict(vocab_size=30522, hidden=768, layers=12, heads=12, intermediate=3072, max_positions=512)


def run_stage(stage: str, model_dir: str, work: str, n_docs: int, device: str, batch_size: int, max_batch_tokens: int,
              beam_args: list[str] = BEAM_ARGS) -> tuple[float, float]:
    """(wall seconds, mean GPU utilisation %) of ``classify score`` over ``stage``; checks every document came out."""
    from tailmine.pipelines import classify

    out = os.path.join(work, "scored")
    shutil.rmtree(out, ignore_errors=True)
    cfg = classify.ScoreConfig(models=(model_dir,), device=device, batch_size=batch_size, max_batch_tokens=max_batch_tokens)
    with GpuSampler() as sampler:
        start = time.perf_counter()
        manifest = classify.run(stage, out, cfg, beam_args, force=True, progress=False)
        wall = time.perf_counter() - start
    if manifest.counts.output != n_docs:
        raise RuntimeError(f"{stage}: {manifest.counts.output} documents scored, expected {n_docs}")
    shutil.rmtree(out, ignore_errors=True)
    return wall, sampler.mean


def worker_args(workers: int) -> list[str]:
    """DirectRunner options: in-process with one worker, or ``workers`` processes (host-side featurisation
    and tokenisation then run in parallel; on a GPU the handler shares one model across them)."""
    if workers <= 1:
        return BEAM_ARGS
    return ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]


def measure(name: str, stage: str, tiny: str, model_dir: str, work: str, n_docs: int, args, flops_per_doc: float = 0.0) -> dict:
    beam = worker_args(args.workers)
    run_stage(tiny, model_dir, work, 1, args.device, args.batch_size, args.max_batch_tokens, beam)  # warm caches (CUDA context, kernels)
    startup, _ = run_stage(tiny, model_dir, work, 1, args.device, args.batch_size, args.max_batch_tokens, beam)
    wall, util = run_stage(stage, model_dir, work, n_docs, args.device, args.batch_size, args.max_batch_tokens, beam)
    row = {
        "model": name, "docs": n_docs, "wall_s": round(wall, 2), "docs_per_s": round(n_docs / wall, 1),
        "startup_s": round(startup, 2), "docs_per_s_after_startup": round(n_docs / max(wall - startup, 1e-9), 1),
        "gpu_utilisation_pct": util,
    }
    if flops_per_doc:
        row["tflops_achieved"] = round(flops_per_doc * row["docs_per_s_after_startup"] / 1e12, 2)
        row["share_of_bf16_peak"] = round(row["tflops_achieved"] / args.peak_tflops, 3)
    print(json.dumps(row), flush=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=200_000, help="documents in the bag-of-n-grams stage (default: 200,000)")
    parser.add_argument("--encoder-docs", type=int, default=30_000, help="documents in the encoder stage (default: 30,000)")
    parser.add_argument("--pool", type=int, default=3000, help="distinct documents drawn from the corpora (default: 3,000)")
    parser.add_argument("--batch-size", type=int, default=8192, help="texts per model call (default: 8,192)")
    parser.add_argument("--max-batch-tokens", type=int, default=65536, help="encoder: padded tokens per forward pass (default: 65,536 = 128 x 512)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="bf16 dense peak of the GPU in TFLOP/s (default: 989, H100 SXM)")
    parser.add_argument("--workers", type=int, default=1, help="DirectRunner worker processes for the scoring stage (default: 1, in-process)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (2,000 / 8 documents, pool 300): proves the script runs, on a CPU")
    parser.add_argument("--out", default=None, help="also write the JSON result here (default: stdout only)")
    args = parser.parse_args()
    if args.smoke:
        args.docs, args.encoder_docs, args.pool = min(args.docs, 2000), min(args.encoder_docs, 8), min(args.pool, 300)
        args.batch_size, args.max_batch_tokens = min(args.batch_size, 512), min(args.max_batch_tokens, 8192)

    import torch

    from tailmine.classifiers.hf_model import HFScorer, write_random_bert

    on_gpu = torch.cuda.is_available() and args.device != "cpu"
    work = tempfile.mkdtemp(prefix="tailmine-gpu-bench-")
    try:
        texts, labels = document_pool(args.pool)
        models = train_models(texts, labels, work)
        bag_stage = make_stage([texts[i % len(texts)] for i in range(args.docs)], work, "bag")
        enc_stage = make_stage([texts[i % len(texts)] for i in range(args.encoder_docs)], work, "enc")
        tiny = make_stage(texts[:1], work, "tiny")
        encoder = write_random_bert(os.path.join(work, "bert-base-random"), texts, num_labels=1, **BERT_BASE)
        scorer = HFScorer(encoder, device="cpu")
        params = sum(p.numel() for p in scorer.model.parameters())
        tokens = sum(len(r) for r in scorer.encode(texts[:200])) / min(200, len(texts))
        del scorer
        result = {
            "label": ("GPU: " + torch.cuda.get_device_name(0)) if on_gpu else "CPU smoke run (no GPU): says nothing about GPU throughput",
            "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(), "smoke": args.smoke},
            "settings": {k: v for k, v in vars(args).items() if k != "out"},
            "encoder": {"parameters": params, "mean_tokens_per_doc": round(tokens, 1), "max_tokens": BERT_BASE["max_positions"],
                        "precision": "bf16 autocast" if on_gpu else "fp32 (CPU)"},
            "runs": [],
        }
        result["runs"].append(measure("bag_of_ngrams_torch", bag_stage, tiny, models["torch"], work, args.docs, args))
        result["runs"].append(measure("bert_base_random_512", enc_stage, tiny, encoder, work, args.encoder_docs, args, 2.0 * params * tokens))
        result["goals"] = {"bag_of_ngrams_docs_per_s": 20_000, "encoder_docs_per_s": 3_000, "applies": "one H100-class GPU"}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not args.out:
        print(json.dumps(result, indent=2))
        return 0
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(result, handle, indent=2)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
