"""Experiments that exercise the product's own stages end to end (issue 9, longtail-methods.md §5.2).

``tailmine experiment tail`` runs :mod:`tailmine.experiments.sweep`.
"""
from __future__ import annotations

import argparse

DESCRIPTION = """\
A synthetic world of entities with facts, entity frequencies Zipf-distributed, is written as JSONL and
run through ingest -> concepts once; `mix` builds every arm (passive, UniMax over concept buckets with
lambda, beta, E_max) at each token budget and seed; a tiny decoder trains on each mixture's token
shards for the same number of steps and is scored on fresh held-out documents: fact NLL and accuracy
for head / torso / tail entities and natural-distribution bits per byte.

The pass rule is fixed before the run: an arm passes a budget if in every seed its tail fact NLL is
>= 10% lower than passive's and its natural bits per byte <= 2% higher. Results go to OUT/results.json
(after every run: rerun the same command to resume; a wider sweep reuses finished runs), results.md
and report.html.

Examples:
  tailmine experiment tail --out exp/tail --budgets 1500000 --betas 0 0.25 0.5 --lambdas 0.25 0.5 1
  tailmine experiment tail --out exp/tail-6M --pool-docs 40000 --budgets 6000000 --arms l1_b0.5_E4
      (a budget 4x larger over a pool 4x larger, so passive still sees ~1.5 epochs)
  tailmine experiment tail --out exp/tail --report          # tables of what has run so far
CPU time: ~1.5 min per run at 1.5M tokens (2-layer d=128 model, one thread); --device cuda on a GPU.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    p = sub.add_parser("tail", help="tail upweighting vs passive on a synthetic Zipf world", description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    from tailmine.experiments.sweep import SweepConfig

    d = SweepConfig()
    p.add_argument("--out", required=True, help="results folder (results.json, results.md, report.html, work/)")
    p.add_argument("--budgets", type=int, nargs="+", default=list(d.budgets), help="token budgets (default %(default)s)")
    p.add_argument("--calibrate", type=int, nargs="*", default=[], help="passive-only budgets run first, first seed")
    p.add_argument("--seeds", type=int, nargs="+", default=list(d.seeds), help="default %(default)s")
    p.add_argument("--arms", nargs="*", default=None,
                   help="arm names: passive or l<lambda>_b<beta>_E<max epochs|inf> (default: %s)" % " ".join(d.arms))
    p.add_argument("--betas", type=float, nargs="*", default=[], help="grid: UniMax beta values (with --lambdas)")
    p.add_argument("--lambdas", type=float, nargs="*", default=[1.0], help="grid: blend weights lambda (default 1)")
    p.add_argument("--max-epochs", type=float, nargs="*", default=[4.0], help="grid: epoch caps E_max (inf: none; default 4)")
    g = p.add_argument_group("world and model (must match the results already in --out)")
    for name in ("entities", "relations", "values", "pool_docs", "natural_docs", "vocab", "context", "d_model", "layers",
                 "heads", "batch"):
        g.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name), help="default %(default)s")
    g.add_argument("--lr", type=float, default=d.lr, help="default %(default)s")
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (default %(default)s)")
    p.add_argument("--device", default=d.device, help="cpu or cuda (default %(default)s)")
    p.add_argument("--report", action="store_true", help="only print the tables of the results in --out")
    add_real_arguments(sub)


REAL_DESCRIPTION = """\
The tail experiment on real text (issue 21). Pool: the opening --book-chars characters of --books English
Gutenberg books and the CCNet JSONL / WET web documents of the shared corpora, split BEFORE mixing into a
training pool and a held-out set of whole book works and whole web domains (~--holdout of the tokens, the
mix stage's own group key and hash order), each side curated by ingest -> filter -> dedup, the training
side also by concepts; one tokenizer trained on the training pool. Every arm is `tailmine mix` over
training units of --unit-tokens (passive, or UniMax over concept buckets with lambda, beta, E_max) at
budgets of --epochs passes of the pool; the tiny decoder trains the same steps per budget and is scored
on the held-out set: bits per byte, and per-token loss on the tokens of entity mentions bucketed by the
concept's training-pool document frequency (head: top 5%, torso, tail: 2-10 documents, once, unseen).

Pass rule, fixed before the first run (tailmine.experiments.real.passes): an arm passes a budget if in
each seed its tail-concept token loss is >= 3% lower than passive's and its held-out bits per byte and
head-concept token loss are each <= 1% higher. Results: OUT/results.json (after every run: rerun to
resume), results.md, report.html (with the tail loss against exposures).

Example:
  tailmine experiment real --out /tmp/real --seeds 0 1 2
CPU time: 0.5-3 min per run at the defaults on one thread (27 runs: 58 min on a loaded 2-core machine);
--device cuda on a GPU (not yet run on one).
"""


def add_real_arguments(sub) -> None:
    from tailmine.experiments.real import RealConfig

    d = RealConfig()
    p = sub.add_parser("real", help="tail upweighting vs passive on real books and web pages", description=REAL_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="results folder (results.json, results.md, report.html, work/)")
    p.add_argument("--epochs", type=float, nargs="+", default=list(d.epochs), help="budgets as passes over the pool (default %(default)s)")
    p.add_argument("--seeds", type=int, nargs="+", default=list(d.seeds), help="default %(default)s")
    p.add_argument("--arms", nargs="+", default=list(d.arms), help="arm names: passive or l<lambda>_b<beta>_E<max epochs|inf> (default %(default)s)")
    p.add_argument("--corpora", default=d.corpora, help="the shared corpora folder (default: ../shared/corpora)")
    g = p.add_argument_group("pool and model (must match the results already in --out)")
    for name in ("books", "book_chars", "web_docs", "vocab", "unit_tokens", "context", "d_model", "layers", "heads", "batch"):
        g.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name), help="default %(default)s")
    g.add_argument("--holdout", type=float, default=d.holdout, help="held-out share of the tokens (default %(default)s)")
    g.add_argument("--lr", type=float, default=d.lr, help="default %(default)s")
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (default %(default)s)")
    p.add_argument("--device", default=d.device, help="cpu or cuda (default %(default)s)")
    p.add_argument("--report", action="store_true", help="only print the tables of the results in --out")


def main_real(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from tailmine.errors import ConfigError
    from tailmine.experiments import real
    from tailmine.experiments.sweep import RESULTS

    if args.report:
        path = Path(args.out) / RESULTS
        if not path.exists():
            raise ConfigError(f"{path} does not exist: run the experiment first")
        print(real.markdown(real.summarise(json.loads(path.read_text()))))
        return 0
    names = ("epochs", "seeds", "arms", "corpora", "books", "book_chars", "web_docs", "holdout", "vocab", "unit_tokens", "context",
             "d_model", "layers", "heads", "batch", "lr", "threads", "device")
    cfg = real.RealConfig(**{n: tuple(getattr(args, n)) if isinstance(getattr(args, n), list) else getattr(args, n) for n in names})
    results = real.run_real(cfg, args.out, log=lambda line: print(line, flush=True))
    print(real.markdown(results))
    print(f"\nwrote {Path(args.out) / RESULTS}, results.md and report.html")
    return 0


def main(args: argparse.Namespace, beam_args: list[str]) -> int:
    import json
    from pathlib import Path

    from tailmine.errors import ConfigError
    from tailmine.experiments.sweep import RESULTS, SweepConfig, grid, markdown, run_sweep, summarise

    if args.experiment == "real":
        return main_real(args)
    if args.report:
        path = Path(args.out) / RESULTS
        if not path.exists():
            raise ConfigError(f"{path} does not exist: run the experiment first")
        print(markdown(summarise(json.loads(path.read_text()))))
        return 0
    arms = list(args.arms if args.arms is not None else ([] if args.betas else SweepConfig().arms))
    if args.betas:
        arms += grid(args.betas, args.lambdas, args.max_epochs)
    cfg = SweepConfig(budgets=tuple(args.budgets), arms=tuple(dict.fromkeys(arms)), seeds=tuple(args.seeds),
                      calibrate=tuple(args.calibrate), entities=args.entities, relations=args.relations, values=args.values,
                      pool_docs=args.pool_docs, natural_docs=args.natural_docs, vocab=args.vocab, context=args.context,
                      d_model=args.d_model, layers=args.layers, heads=args.heads, batch=args.batch, lr=args.lr,
                      threads=args.threads, device=args.device)
    results = run_sweep(cfg, args.out, log=lambda line: print(line, flush=True))
    print(markdown(results))
    print(f"\nwrote {Path(args.out) / RESULTS}, results.md and report.html")
    return 0
