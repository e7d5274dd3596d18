"""Mix benchmark: tokenization MB/s per core (tailmine's encoder beside ``tokenizers``' own
``encode_batch``, same text, same 32k byte-level vocabulary, token-for-token equality checked) and
the whole mix stage on a synthetic corpus.

    .venv/bin/python benchmarks/mix.py [--vocab 32000] [--train-mb 30] [--docs 3000] [--repeat 3]

Single process (RAYON_RS_NUM_CPUS=1 pins tokenizers to one core; tiktoken runs with one thread),
the two encoders called in turn (A B A B ...), best of ``--repeat`` each, wall and CPU seconds. What
differs in the work: nothing but the engine (same vocabulary, same pre-tokenization regex, same
output ids, checked); both return Python lists of ids. The vocabulary is trained once on Gutenberg books from ../shared/corpora and
cached under /tmp.
"""
from __future__ import annotations

import os

os.environ.setdefault("RAYON_RS_NUM_CPUS", "1")  # before tokenizers is imported: one core
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from timing import alternate, best_of  # noqa: E402

CORPORA = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora"
BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def books(limit_bytes: int) -> list[str]:
    out, seen = [], 0
    for p in sorted((CORPORA / "books" / "gutenberg").glob("*.txt.gz")):
        text = gzip.open(p, "rt", encoding="utf-8", errors="replace").read()
        out.append(text)
        seen += len(text.encode())
        if seen >= limit_bytes:
            break
    return out


def eval_texts() -> list[str]:
    """Web documents, plus the books cut into ~8 KB documents (a realistic document length mix)."""
    out = []
    for p in sorted((CORPORA / "web" / "ccnet").glob("*.jsonl.gz")):
        out += [json.loads(line)["text"] for line in gzip.open(p, "rt", encoding="utf-8")]
    for book in books(1 << 60)[-6:]:
        out += [book[i : i + 8192] for i in range(0, len(book), 8192)]
    return out


def tokenization(args) -> dict:
    from tokenizers import Tokenizer

    from tailmine.mixtures.tokenize import Encoder, save_tokenizer, train_bpe

    path = Path(tempfile.gettempdir()) / f"tailmine-bench-bpe-{args.vocab}-{args.train_mb}.json"
    if not path.exists():
        t = time.perf_counter()
        save_tokenizer(train_bpe(books(args.train_mb << 20), vocab_size=args.vocab), str(path))
        print(f"trained {args.vocab} BPE on {args.train_mb} MB of books in {time.perf_counter() - t:.1f}s")
    texts = eval_texts()
    mb = sum(len(t.encode()) for t in texts) / 1e6
    enc = Encoder(str(path))
    tok = Tokenizer.from_file(str(path))
    ref = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
    fast = enc.encode_batch(texts)  # also the warm-up of both
    best = alternate({"tokenizers": lambda: tok.encode_batch(texts, add_special_tokens=False),
                      "tailmine": lambda: enc.encode_batch(texts)}, args.repeat)
    t_ref, t_fast = best["tokenizers"], best["tailmine"]
    return {
        "text_mb": round(mb, 2), "documents": len(texts), "vocab": enc.vocab_size, "encoder": enc.backend,
        "repeat": args.repeat, "order": "alternating",
        "tokenizers_encode_batch_mb_s": round(mb / t_ref["wall"], 2), "tailmine_mb_s": round(mb / t_fast["wall"], 2),
        "tokenizers_mb_per_cpu_s": round(mb / t_ref["cpu"], 2), "tailmine_mb_per_cpu_s": round(mb / t_fast["cpu"], 2),
        "ratio_wall": round(t_ref["wall"] / t_fast["wall"], 2), "ratio_cpu": round(t_ref["cpu"] / t_fast["cpu"], 2),
        "identical_tokens": fast == ref, "tokens": sum(map(len, ref)),
    }


def whole_stage(args) -> dict:
    from tailmine.concepts.config import ConceptConfig
    from tailmine.demo.sample import synthetic_documents
    from tailmine.ingest.config import IngestConfig
    from tailmine.mixtures.config import MixConfig
    from tailmine.pipelines import concepts, ingest, mix

    root = Path(tempfile.mkdtemp(prefix="tailmine-bench-mix-"))
    docs = synthetic_documents(args.docs, seed=11)
    with open(root / "docs.jsonl", "w") as f:
        for i, t in enumerate(docs):
            f.write(json.dumps({"id": f"d{i}", "text": t, "url": f"https://site{i % 97}.org/p{i}"}) + "\n")
    ingest.run([str(root / "docs.jsonl")], str(root / "ingest"), IngestConfig(), BEAM, force=True, progress=False)
    concepts.run(str(root / "ingest"), str(root / "concepts"), ConceptConfig(bootstrap=0), BEAM, force=True, progress=False)
    mb = sum(len(t.encode()) for t in docs) / 1e6
    path = Path(tempfile.gettempdir()) / f"tailmine-bench-bpe-{args.vocab}-{args.train_mb}.json"
    tokens = int(mb * 1e6 / 4.5 / 2)  # about half the corpus
    cfg = MixConfig(tokens=tokens, tokenizer=str(path), holdout=0.05)  # 97 domains of ~1%: 5% is reachable within ±20%
    t_mix, _ = best_of(lambda: mix.run(str(root / "concepts"), str(root / "mix"), cfg, BEAM, force=True, progress=False), args.repeat)
    recipe = json.loads((root / "mix" / "recipe.json").read_text())
    return {"documents": args.docs, "text_mb": round(mb, 2), "seconds": round(t_mix, 2), "mb_s": round(mb / t_mix, 3),
            "token_budget": recipe["token_budget"], "tokens_total": recipe["tokens_total"], "budget_error": recipe["budget_error"],
            "cov_10": recipe["tail_metrics"]["mixture"]["cov_10"], "cov_10_passive": recipe["tail_metrics"]["passive"]["cov_10"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--train-mb", type=int, default=30)
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--repeat", "--repeats", dest="repeat", type=int, default=3)
    ap.add_argument("--skip-stage", action="store_true")
    args = ap.parse_args()
    print(json.dumps({"tokenization": tokenization(args)}, indent=1), flush=True)
    if not args.skip_stage:
        print(json.dumps({"mix_stage": whole_stage(args)}, indent=1))


if __name__ == "__main__":
    main()
