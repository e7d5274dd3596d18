"""Tail experiment (issue 9, longtail-methods.md §5.2): does concept-balanced upweighting pay at equal tokens?

    .venv/bin/python benchmarks/tail_experiment.py [--tokens 1500000] [--seeds 0 1 2] [--calibrate 750000]
    .venv/bin/python benchmarks/tail_experiment.py --report tail_experiment.json   # tables only

Driven by the product's own code path: a synthetic Zipf world (tailmine.experiments.world) is written
as JSONL, then ``ingest`` → ``concepts`` → ``mix`` build each arm at the same token budget; a tiny
decoder-only transformer (tailmine.experiments.tinylm; 2 layers, d = 128, 4 heads, context 128, tied
embeddings) is trained on each arm's token shards (TokenShardDataset) for the same number of steps, on
CPU, one thread, deterministic algorithms; evaluation on fresh held-out documents
(tailmine.experiments.tail.evaluate).

Seeds: the world and the pool are fixed (world seed 0); seed k changes the mixer's seed (repeat draws
and shuffle) and the model initialisation.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

# Written before any run (also in BENCHMARKS.md, "Tail experiment"):
PASS_RULE = ("an upweighted arm passes if, in EVERY seed, (a) its tail-bucket fact NLL is at least 10% lower "
             "than the passive arm's (same seed), and (b) its natural-distribution held-out loss (bits per byte) "
             "is no more than 2% higher than the passive arm's")
TAIL_NLL_GAIN = 0.10
NATURAL_LOSS_SLACK = 0.02


def passes(arm: dict, passive: dict) -> dict:
    gain = 1.0 - arm["tail"]["fact_nll"] / passive["tail"]["fact_nll"]
    cost = arm["natural_bpb"] / passive["natural_bpb"] - 1.0
    return {"tail_nll_gain": gain, "natural_bpb_cost": cost,
            "pass": bool(gain >= TAIL_NLL_GAIN and cost <= NATURAL_LOSS_SLACK)}


def summarise(results: dict, arms: list[str], seeds: list[int]) -> dict:
    """Pass/fail per upweighted arm and seed, accuracy vs exposures (per arm, pooled), log-linear fit."""
    from tailmine.experiments import tail

    runs = results["runs"]
    verdict = {}
    for arm in arms:
        if arm == "passive":
            continue
        per_seed = []
        for seed in seeds:
            a = next((r for r in runs if r["arm"] == arm and r["seed"] == seed), None)
            p = next((r for r in runs if r["arm"] == "passive" and r["seed"] == seed), None)
            if a and p:
                per_seed.append({"seed": seed, **passes(a, p)})
        verdict[arm] = {"per_seed": per_seed, "seeds_run": len(per_seed),
                        "pass": bool(per_seed) and len(per_seed) == len(seeds) and all(s["pass"] for s in per_seed)}
    results["verdict"] = verdict
    by_arm = {}
    for arm in arms:
        rs = [r for r in runs if r["arm"] == arm]
        if rs:
            by_arm[arm] = (np.concatenate([r["exposures"] for r in rs]), np.concatenate([r["per_entity"]["fact_acc"] for r in rs]))
    results["acc_vs_exposures"] = tail.pooled_curve([(a, x, y) for a, (x, y) in by_arm.items()])
    fit_x = np.concatenate([np.log1p(x) for x, _ in by_arm.values()])
    fit_y = np.concatenate([y for _, y in by_arm.values()])
    b, a = np.polyfit(fit_x, fit_y, 1)
    results["loglinear_fit"] = {"a": float(a), "b": float(b), "note": "acc ~ a + b*ln(1+exposures), pooled over arms and seeds"}
    return results


def markdown(results: dict) -> str:
    from tailmine.experiments.tail import BUCKETS

    lines = ["| arm | seed | B (tokens) | steps | exposures head/torso/tail | fact acc head/torso/tail | fact NLL head/torso/tail "
             "| natural bpb | tail NLL gain vs passive | natural bpb cost | pass |", "|" + "---|" * 11]
    for r in results["calibration"] + results["runs"]:
        v = next((s for s in results.get("verdict", {}).get(r["arm"], {}).get("per_seed", []) if s["seed"] == r["seed"]), None)
        cal = r in results["calibration"]
        lines.append(
            f"| {r['arm']}{' (calibration)' if cal else ''} | {r['seed']} | {r['tokens']:,} | {r['steps']} | "
            + " / ".join(f"{r[b]['mean_exposures']:.0f}" for b in BUCKETS) + " | "
            + " / ".join(f"{r[b]['fact_acc']:.2f}" for b in BUCKETS) + " | "
            + " / ".join(f"{r[b]['fact_nll']:.2f}" for b in BUCKETS) + f" | {r['natural_bpb']:.4f} | "
            + (f"{v['tail_nll_gain']:+.1%} | {v['natural_bpb_cost']:+.1%} | {'yes' if v['pass'] else 'no'} |" if v else "– | – | – |"))
    out = "\n".join(lines)
    if results.get("acc_vs_exposures"):
        arms = [k for k in results["acc_vs_exposures"][0] if k not in ("exposures", "pooled")]
        rows = ["", "", "| exposures | " + " | ".join(arms) + " | pooled |", "|" + "---|" * (len(arms) + 2)]
        for row in results["acc_vs_exposures"]:
            if row["pooled"] is None:
                continue
            cell = lambda c: "–" if c is None else f"{c[0]:.2f} (n={c[1]})"  # noqa: E731
            rows.append(f"| {row['exposures']} | " + " | ".join(cell(row[a]) for a in arms) + f" | {cell(row['pooled'])} |")
        fit = results["loglinear_fit"]
        rows.append(f"\nlog-linear fit, pooled: acc ~ {fit['a']:.3f} + {fit['b']:.3f}*ln(1+exposures)")
        out += "\n".join(rows)
    return out


def run_arm(args, world, concepts_dir, work: Path, arm: str, tokens: int, seed: int, tokenizer: str, heldout, natural) -> dict:
    from tailmine.experiments import tail
    from tailmine.experiments.tinylm import ModelConfig, TinyLM, deterministic, load_blocks, train
    from tailmine.mixtures.tokenize import Encoder

    t0 = time.perf_counter()
    mix_dir = work / f"mix-{arm}-{tokens}-s{seed}"
    recipe = tail.make_arm(concepts_dir, str(mix_dir), arm, tokens, seed, tokenizer=tokenizer, vocab_size=args.vocab)
    t_mix = time.perf_counter() - t0
    encoder = Encoder(str(mix_dir / "tokenizer.json"))
    blocks = load_blocks(str(mix_dir), args.context)
    steps = tokens // (args.batch * (args.context + 1))
    used_tokens = min(steps * args.batch, len(blocks)) * (args.context + 1)
    expo = tail.exposures(str(mix_dir), world.n_entities, tail.sequences_in_tokens(str(mix_dir), used_tokens))
    deterministic(seed)
    model = TinyLM(ModelConfig(vocab_size=encoder.vocab_size, context=args.context))
    tr = train(model, blocks, steps, args.batch, lr=args.lr, log_every=args.log_every)
    ev = tail.evaluate(model, encoder, world, heldout, natural)
    buckets = tail.rank_buckets(world.n_entities)
    res = {"arm": arm, "seed": seed, "tokens": tokens, "params": model.n_params(), "mix_seconds": round(t_mix, 1), **tr,
           "recipe": {"tokens_total": recipe["tokens_total"], "max_epochs_realised": recipe["repetition_profile"]["max_epochs"],
                      "cov_10": recipe["tail_metrics"]["mixture"]["cov_10"], "hill_d1": recipe["tail_metrics"]["mixture"]["hill_d1"]},
           "exposures": expo.tolist(), **{k: v for k, v in ev.items() if k != "per_entity"}, "per_entity": ev["per_entity"]}
    for i, name in enumerate(tail.BUCKETS):
        res[name]["mean_exposures"] = float(expo[buckets == i].mean())
    print(f"  {arm:18s} seed {seed} B={tokens:,}: steps {steps} ({tr['seconds']:.0f}s train, {t_mix:.0f}s mix) "
          + " | ".join(f"{b} acc {res[b]['fact_acc']:.2f} nll {res[b]['fact_nll']:.2f} exp {res[b]['mean_exposures']:.0f}" for b in tail.BUCKETS)
          + f" | natural {res['natural_bpb']:.4f} bpb", flush=True)
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entities", type=int, default=300)
    ap.add_argument("--relations", type=int, default=4)
    ap.add_argument("--values", type=int, default=10)
    ap.add_argument("--pool-docs", type=int, default=10000)
    ap.add_argument("--tokens", type=int, default=1_500_000)
    ap.add_argument("--calibrate", type=int, nargs="*", default=[750_000], help="passive-only budgets to run first")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--arms", nargs="+", default=["passive", "unimax_b0.5_E4", "temp_T2_uncapped"])
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--natural-docs", type=int, default=1000)
    ap.add_argument("--log-every", type=int, default=0)
    ap.add_argument("--work", default="/tmp/tailmine-tail-experiment",
                    help="work folder; its path enters the mixer's per-document hash keys (source_file), so the same "
                         "path is needed to reproduce the mixtures exactly")
    ap.add_argument("--out", default="tail_experiment.json")
    ap.add_argument("--report", default="", help="only print the tables of a finished (or partial) results JSON")
    args = ap.parse_args()
    if args.report:
        results = json.loads(Path(args.report).read_text())
        cfg = results["config"]
        print(markdown(summarise(results, cfg["arms"], cfg["seeds"])))
        return 0

    from tailmine.experiments import tail
    from tailmine.experiments.world import heldout_documents, make_world
    from tailmine.mixtures.tokenize import Encoder

    print("pass rule (fixed before the run):", PASS_RULE, flush=True)
    work = Path(args.work)
    world = make_world(args.entities, args.relations, args.values, seed=0)
    t = time.perf_counter()
    concepts_dir, pool = tail.build_pool(work, world, args.pool_docs, seed=0)
    print(f"pool: {len(pool)} docs, ingest+concepts {time.perf_counter() - t:.0f}s ({work})", flush=True)
    pool_texts = {d["text"] for d in pool}
    heldout = heldout_documents(world, range(world.n_entities), seed=100, exclude=pool_texts)
    rng = np.random.Generator(np.random.PCG64([200, 0]))
    natural = heldout_documents(world, world.sample_entities(args.natural_docs, rng), seed=101, exclude=pool_texts)
    results = {"pass_rule": PASS_RULE, "config": vars(args), "world": {"entities": world.n_entities, "relations": len(world.relations),
               "values": args.values, "zipf_s": world.zipf_s, "pool_docs": len(pool)}, "calibration": [], "runs": []}

    # One tokenizer for every arm: train it with the first mix, then pass its path to the others.
    tokenizer = ""

    def save():
        Path(args.out).write_text(json.dumps(results, indent=1))

    for budget in args.calibrate:
        r = run_arm(args, world, concepts_dir, work, "passive", budget, args.seeds[0], tokenizer, heldout, natural)
        if not tokenizer:
            tokenizer = str(work / f"mix-passive-{budget}-s{args.seeds[0]}" / "tokenizer.json")
        results["calibration"].append(r)
        save()
    for seed in args.seeds:
        for arm in args.arms:
            r = run_arm(args, world, concepts_dir, work, arm, args.tokens, seed, tokenizer, heldout, natural)
            if not tokenizer:
                tokenizer = str(work / f"mix-{arm}-{args.tokens}-s{seed}" / "tokenizer.json")
            results["runs"].append(r)
            save()
        if not results.get("tokenization_check"):
            enc = Encoder(tokenizer)
            results["tokenization_check"] = tail.check_value_tokenization(enc, world, heldout[:100])

    summarise(results, args.arms, args.seeds)
    save()
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
