"""``tailmine demo``: generate the synthetic sample and run the whole pipeline on it.

The sample is made by :mod:`tailmine.demo.sample` (no download, no third-party text), so the demo runs
on a fresh machine with nothing but tailmine installed. The demo is ``tailmine run`` on a config built
here (:func:`demo_config`); every stage that lands adds itself to that config.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Optional

SAMPLE_DATA_DIRS = ("crawl", "html", "books", "jsonl", "parquet")


def write_demo_eval_set(sample_dir: str) -> str:
    """A small synthetic evaluation set for the demo's decontamination stage.

    Half its items are sentences lifted from the sample's own documents (so contamination is really
    found and shown in the report), half are new sentences that appear nowhere in the sample.
    """
    import gzip
    import json
    import re

    lines = gzip.decompress(open(os.path.join(sample_dir, "jsonl", "docs-00000.jsonl.gz"), "rb").read()).splitlines()
    lifted = []
    for line in lines[:40]:
        try:
            text = json.loads(line)["text"]
        except (ValueError, KeyError, TypeError):
            continue  # the sample's deliberately broken lines
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 14]
        if sentences:
            lifted.append(sentences[0])
        if len(lifted) == 5:
            break
    novel = [
        "Which planet in the solar system has the longest day measured against its own year and why does it rotate backwards?",
        "A train leaves the station at noon travelling sixty miles an hour; how far has it gone when the clock strikes three?",
        "Name the chemical element whose symbol comes from its Latin name and which has been used for coins since antiquity.",
        "If a rectangle has a perimeter of thirty centimetres and one side of six centimetres, what is the length of the other side?",
        "What instrument, invented in the early seventeenth century, first let astronomers see the moons circling Jupiter?",
    ]
    path = os.path.join(sample_dir, "eval", "demo-eval.jsonl")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for i, question in enumerate(lifted + novel):
            handle.write(json.dumps({"id": f"demo-{i}", "question": question}) + "\n")
    return path


def demo_config(sample_dir: str, eval_file: Optional[str] = None) -> dict:
    """The pipeline config the demo runs (also a worked example of a ``tailmine run`` config)."""
    return {
        "inputs": [os.path.join(sample_dir, sub) for sub in SAMPLE_DATA_DIRS],  # not the sample's README.txt
        # The sample's Parquet file names its fields doc_id/content/source_url, as third-party dumps do.
        "ingest": {"text_field": "text,content", "id_field": "id,doc_id", "url_field": "url,source_url"},
        "filter": {},
        "dedup": {"threshold": 0.8},
        **({"decontaminate": {"eval": [eval_file]}} if eval_file else {}),
        # a quality model trained on the fly: the sample's books vs its crawled pages (see the model card)
        "classify": {"chunk_min_bytes": 400, "chunk_max_bytes": 2000, "min_example_bytes": 100, "heldout_fraction": 0.3},
        "concepts": {},
        # no held-out set: the sample's few sites and books cannot give a held-out share within ±20%
        # of a request (the mix stage would stop and say so); a real crawl has domains enough
        "mix": {"tokens": 200000, "holdout": 0.0, "vocab_size": 8000},
        "report": True,
    }


def run_demo(out_dir: str, *, seed: int = 0, force: bool = False, beam_args: Optional[list[str]] = None, stream=None) -> dict:
    """Write the sample under ``OUT/sample`` and run every stage into ``OUT/<stage>``; returns the manifests."""
    import json

    from tailmine.demo.sample import write_sample
    from tailmine.errors import OutputExistsError
    from tailmine.fileio import delete_tree
    from tailmine.pipelines import run as runner

    stream = stream or sys.stdout
    sample_dir = os.path.join(out_dir, "sample")
    if os.path.exists(sample_dir):
        if not force:
            raise OutputExistsError(f"{out_dir} already holds a demo run; pass --force to replace it")
        delete_tree(sample_dir)
    started = time.time()
    files = write_sample(sample_dir, seed=seed)
    print(f"sample: {len(files)} synthetic files (WARC, WET, HTML, Gutenberg, JSONL, Parquet) in {sample_dir}", file=stream)
    eval_file = write_demo_eval_set(sample_dir)
    config = runner.load_config(json.dumps(demo_config(sample_dir, eval_file)), "demo config", out_dir, beam_args)
    manifests = runner.run(config, force=True, stream=stream)
    print(f"demo finished in {time.time() - started:.1f}s; outputs:", file=stream)
    for stage in manifests:
        print(f"  {stage:<14} {os.path.join(out_dir, stage)}  (docs/*.parquet, manifest.json)", file=stream)
    print(f"  {'report':<14} {os.path.join(out_dir, 'report.html')}  (open it in a browser; data in report.json)", file=stream)
    return manifests


# --- command line: `tailmine demo` ---------------------------------------------------------------


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="demo-out", metavar="DIR", help="output directory (default: demo-out)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic sample (default: 0)")
    parser.add_argument("--force", action="store_true", help="replace existing output in DIR")


def main(args, beam_args: list[str]) -> int:
    run_demo(args.out, seed=args.seed, force=args.force, beam_args=beam_args)
    return 0
