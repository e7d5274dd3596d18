"""The tail experiment as a resumable sweep (issue 9, longtail-methods.md §5.2): arms × budgets × seeds.

Every arm is made by the product's stages: the synthetic Zipf world (:mod:`.world`) is written as
JSONL once, ``ingest → concepts`` run on it once, and ``mix`` builds each (arm, budget, seed) mixture
with one shared tokenizer. A tiny decoder (:mod:`.tinylm`) trains on the mixture's token shards for
``budget / (batch · (context+1))`` steps (equal tokens for every arm of a budget), on CPU with
deterministic algorithms (or ``cuda`` when asked), and is evaluated on fresh held-out documents
(:func:`.tail.evaluate`).

The pass rule is fixed in code before any run (:data:`PASS_RULE`) and applied per budget. Results are
appended to ``OUT/results.json`` after every run, so an interrupted sweep resumes where it stopped and
a larger sweep reuses the runs it shares with a smaller one; changing anything that shapes a run
(world, model, optimiser) into the same folder is refused.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, ClassVar, Optional

import numpy as np

from tailmine.errors import ConfigError
from tailmine.experiments.tail import BUCKETS, Arm

PASS_RULE = ("an upweighted arm passes at a budget if, in EVERY seed, (a) its tail-bucket fact NLL is at least 10% lower "
             "than the passive arm's (same seed and budget), and (b) its natural-distribution held-out loss (bits per byte) "
             "is no more than 2% higher than the passive arm's")
TAIL_NLL_GAIN = 0.10
NATURAL_LOSS_SLACK = 0.02
RESULTS = "results.json"


@dataclass(frozen=True)
class ModelRunConfig:
    """The tiny decoder, its training and the arms, shared by the experiments. Subclasses add what
    shapes their data and name in ``SELECTION`` the fields that only choose which runs to do (the rest
    must match the results already in a folder: :meth:`shape`)."""

    SELECTION: ClassVar[tuple] = ("arms", "seeds", "threads")
    arms: tuple = ("passive",)
    seeds: tuple = (0, 1, 2)
    """Seed k sets the mixer's seed (repeat draws, shuffle) and the model initialisation; the data are fixed."""
    vocab: int = 512
    context: int = 128
    d_model: int = 128
    layers: int = 2
    heads: int = 4
    batch: int = 16
    lr: float = 3e-3
    threads: int = 1
    device: str = "cpu"

    def __post_init__(self):
        for name in self.arms:
            Arm.parse(name)
        if not self.seeds:
            raise ConfigError("experiment seeds: give at least one seed")

    def arm_list(self) -> list[Arm]:
        """Passive first (every verdict compares with it), then the named arms, each once."""
        return list(dict.fromkeys([Arm()] + [Arm.parse(a) for a in self.arms]))

    def shape(self) -> dict:
        """The fields that change a run's result (resume must match them)."""
        d = asdict(self)
        for k in self.SELECTION:
            d.pop(k)
        return d


@dataclass(frozen=True)
class SweepConfig(ModelRunConfig):
    """What shapes a run. ``budgets``, ``calibrate``, ``arms`` and ``seeds`` only choose which runs to do;
    everything else must match the results already in the folder."""

    SELECTION: ClassVar[tuple] = ("budgets", "arms", "seeds", "calibrate", "threads")
    budgets: tuple[int, ...] = (1_500_000,)
    """Token budgets; every arm and seed runs at each."""
    arms: tuple[str, ...] = ("passive", "l1_b0.5_E4", "l1_b0.5_Einf")
    """Arm names (see :class:`tailmine.experiments.tail.Arm`); passive is always added."""
    calibrate: tuple[int, ...] = ()
    """Passive-only budgets run first on the first seed, to find the budget that learns the head."""
    entities: int = 300
    relations: int = 4
    values: int = 10
    pool_docs: int = 10_000
    natural_docs: int = 1_000

    def __post_init__(self):
        super().__post_init__()
        if not self.budgets or min(self.budgets) <= 0:
            raise ConfigError("experiment budgets: give at least one positive token budget")


def grid(betas, lambdas, max_epochs) -> list[str]:
    """Arm names for a β × λ × E_max grid. β = 0 is the same mixture for every λ (the natural bucket
    distribution blended with passive), so it appears once, at λ = 1, as the control."""
    names = []
    for e in max_epochs:
        for b in betas:
            for lam in ([1.0] if b == 0 else lambdas):
                names.append(Arm(float(lam), float(b), float(e)).name)
    return list(dict.fromkeys(names))


def passes(arm: dict, passive: dict) -> dict:
    gain = 1.0 - arm["tail"]["fact_nll"] / passive["tail"]["fact_nll"]
    cost = arm["natural_bpb"] / passive["natural_bpb"] - 1.0
    return {"tail_nll_gain": gain, "natural_bpb_cost": cost,
            "pass": bool(gain >= TAIL_NLL_GAIN and cost <= NATURAL_LOSS_SLACK)}


def verdicts(runs: list, rule: Callable[[dict, dict], dict], keys: dict) -> dict:
    """Per budget and upweighted arm: ``rule(arm run, passive run)`` per seed and overall. Every seed run
    at a budget, by any invocation, counts: an arm must pass in all of them. ``keys``: per-seed value ->
    "min" or "max", summarised over seeds as ``<key>_min``/``<key>_max`` and ``<key>_mean``."""
    verdict: dict = {}
    for budget in sorted({r["tokens"] for r in runs}):
        verdict[str(budget)] = {}
        seeds = sorted({r["seed"] for r in runs if r["tokens"] == budget})
        for arm in dict.fromkeys(r["arm"] for r in runs if r["tokens"] == budget and r["arm"] != "passive"):
            per_seed = []
            for seed in seeds:
                a = _find(runs, arm, seed, budget)
                p = _find(runs, "passive", seed, budget)
                if a and p:
                    per_seed.append({"seed": seed, **rule(a, p)})
            complete = len(per_seed) == len(seeds)
            v = {"per_seed": per_seed, "seeds_run": len(per_seed), "complete": complete,
                 "pass": bool(complete and all(s["pass"] for s in per_seed))}
            for key, worst in keys.items():
                xs = [s[key] for s in per_seed]
                v[f"{key}_{worst}"] = (min if worst == "min" else max)(xs, default=None)
                v[f"{key}_mean"] = float(np.mean(xs)) if xs else None
            verdict[str(budget)][arm] = v
    return verdict


def summarise(results: dict) -> dict:
    """Per budget and upweighted arm: the rule per seed and overall; accuracy against exposures pooled
    across arms, seeds and budgets, with a log-linear fit."""
    from tailmine.experiments import tail

    runs = results["runs"]
    verdict = verdicts(runs, passes, {"tail_nll_gain": "min", "natural_bpb_cost": "max"})
    results["verdict"] = verdict
    by_arm: dict = {}
    for r in runs:
        x, y = by_arm.setdefault(r["arm"], ([], []))
        x.append(np.asarray(r["exposures"]))
        y.append(np.asarray(r["per_entity"]["fact_acc"]))
    by_arm = {a: (np.concatenate(x), np.concatenate(y)) for a, (x, y) in by_arm.items()}
    if by_arm:
        results["acc_vs_exposures"] = tail.pooled_curve([(a, x, y) for a, (x, y) in by_arm.items()])
        fx = np.concatenate([np.log1p(x) for x, _ in by_arm.values()])
        fy = np.concatenate([y for _, y in by_arm.values()])
        b, a = np.polyfit(fx, fy, 1)
        results["loglinear_fit"] = {"a": float(a), "b": float(b), "note": "acc ~ a + b*ln(1+exposures), pooled over arms, seeds, budgets"}
    return results


def _find(runs: list, arm: str, seed: int, tokens: int):
    return next((r for r in runs if r["arm"] == arm and r["seed"] == seed and r["tokens"] == tokens), None)


def verdict_rows(results: dict) -> list[list]:
    """One row per (budget, arm): tail NLL gain min/mean, worst natural cost, seeds passing, verdict."""
    rows = []
    for budget, arms in results.get("verdict", {}).items():
        for arm, v in arms.items():
            if not v["per_seed"]:
                continue
            rows.append([f"{int(budget):,}", arm, f"{v['tail_nll_gain_min']:+.1%}", f"{v['tail_nll_gain_mean']:+.1%}",
                         f"{v['natural_bpb_cost_max']:+.1%}", f"{sum(s['pass'] for s in v['per_seed'])}/{v['seeds_run']}"
                         + ("" if v["complete"] else " (incomplete)"), "PASS" if v["pass"] else "fail"])
    return rows


def markdown(results: dict) -> str:
    head = "| budget (tokens) | arm | tail NLL gain, worst seed | mean | natural bpb cost, worst seed | seeds passing | verdict |"
    lines = [head, "|" + "---|" * 7] + ["| " + " | ".join(r) + " |" for r in verdict_rows(results)]
    lines += ["", "| arm | seed | B (tokens) | steps | exposures head/torso/tail | fact acc head/torso/tail | fact NLL head/torso/tail "
              "| natural bpb | tail NLL gain vs passive | natural bpb cost | pass |", "|" + "---|" * 11]
    for r in sorted(results["calibration"], key=lambda r: r["tokens"]) + results["runs"]:
        v = next((s for s in results.get("verdict", {}).get(str(r["tokens"]), {}).get(r["arm"], {}).get("per_seed", [])
                  if s["seed"] == r["seed"]), None)
        cal = r in results["calibration"]
        lines.append(
            f"| {r['arm']}{' (calibration)' if cal else ''} | {r['seed']} | {r['tokens']:,} | {r['steps']} | "
            + " / ".join(f"{r[b]['mean_exposures']:.0f}" for b in BUCKETS) + " | "
            + " / ".join(f"{r[b]['fact_acc']:.2f}" for b in BUCKETS) + " | "
            + " / ".join(f"{r[b]['fact_nll']:.2f}" for b in BUCKETS) + f" | {r['natural_bpb']:.4f} | "
            + (f"{v['tail_nll_gain']:+.1%} | {v['natural_bpb_cost']:+.1%} | {'yes' if v['pass'] else 'no'} |" if v else "– | – | – |"))
    if results.get("acc_vs_exposures"):
        arms = [k for k in results["acc_vs_exposures"][0] if k not in ("exposures", "pooled")]
        lines += ["", "| exposures | " + " | ".join(arms) + " | pooled |", "|" + "---|" * (len(arms) + 2)]
        for row in results["acc_vs_exposures"]:
            if row["pooled"] is None:
                continue
            cell = lambda c: "–" if c is None else f"{c[0]:.2f} (n={c[1]})"  # noqa: E731
            lines.append(f"| {row['exposures']} | " + " | ".join(cell(row[a]) for a in arms) + f" | {cell(row['pooled'])} |")
        fit = results["loglinear_fit"]
        lines.append(f"\nlog-linear fit, pooled: acc ~ {fit['a']:.3f} + {fit['b']:.3f}*ln(1+exposures)")
    return "\n".join(lines)


def render_html(results: dict) -> str:
    """A self-contained page (the report's CSS and table style): the rule, the verdicts, every run."""
    from tailmine.reports.html import CSS, _e, _section, _table, bar_chart

    sections = [_section("rule", "Pass rule (fixed before the run)", f"<p>{_e(results['pass_rule'])}</p>")]
    body = _table(["budget", "arm", "tail NLL gain (worst seed)", "mean", "natural bpb cost (worst)", "seeds passing", "verdict"],
                  verdict_rows(results))
    for budget, arms in results.get("verdict", {}).items():
        items = [(arm, max(0.0, 100 * v["tail_nll_gain_mean"])) for arm, v in arms.items() if v["per_seed"]]
        body += f"<h3>Mean tail fact NLL gain vs passive at {int(budget):,} tokens</h3>" + bar_chart(f"gain-{budget}", items, unit=" %")
    sections.append(_section("verdict", "Verdict per budget and arm", body))
    rows = [[r["arm"], r["seed"], r["tokens"], r["steps"]] + [f"{r[b]['mean_exposures']:.0f}" for b in BUCKETS]
            + [f"{r[b]['fact_acc']:.2f}" for b in BUCKETS] + [f"{r[b]['fact_nll']:.2f}" for b in BUCKETS] + [f"{r['natural_bpb']:.4f}"]
            for r in results["calibration"] + results["runs"]]
    heads = ["arm", "seed", "tokens", "steps"] + [f"exposures {b}" for b in BUCKETS] + [f"acc {b}" for b in BUCKETS] \
        + [f"NLL {b}" for b in BUCKETS] + ["natural bpb"]
    sections.append(_section("runs", "Every run", _table(heads, rows, numeric=(1, 2, 3))))
    if results.get("acc_vs_exposures"):
        arms = [k for k in results["acc_vs_exposures"][0] if k not in ("exposures", "pooled")]
        rows = [[row["exposures"]] + ["–" if row[a] is None else f"{row[a][0]:.2f} (n={row[a][1]})" for a in arms + ["pooled"]]
                for row in results["acc_vs_exposures"] if row["pooled"] is not None]
        sections.append(_section("exposures", "Fact accuracy against exposures", _table(["exposures"] + arms + ["pooled"], rows)))
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>tailmine tail experiment</title>"
            f"<style>{CSS}</style></head><body><main><h1>Does tail upweighting pay?</h1>"
            f"<p class=\"muted\">{_e(json.dumps(results['world']))}</p>{''.join(sections)}</main></body></html>")


@dataclass
class _Context:
    cfg: SweepConfig
    work: Path
    world: object
    concepts_dir: str
    heldout: list
    natural: list
    tokenizer: str = ""
    log: Callable[[str], None] = print


def mix_and_train(ctx, arm: Arm, tokens: int, seed: int, unit_tokens: int = 2048):
    """``tailmine mix`` for one arm into ``ctx.work`` with the sweep's shared tokenizer (the first mix
    trains it, unless ``ctx.tokenizer`` names one), then the tiny decoder for ``tokens // (batch ·
    (context+1))`` steps: equal tokens for every arm of a budget. Returns (mix dir, recipe, encoder,
    trained model, training stats, mix seconds, tokens consumed)."""
    from tailmine.experiments import tail
    from tailmine.experiments.tinylm import ModelConfig, TinyLM, deterministic, load_blocks, train
    from tailmine.mixtures.tokenize import Encoder

    cfg = ctx.cfg
    t0 = time.perf_counter()
    mix_dir = ctx.work / f"mix-{arm.name}-{tokens}-s{seed}"
    recipe = tail.make_arm(ctx.concepts_dir, str(mix_dir), arm, tokens, seed, tokenizer=ctx.tokenizer, vocab_size=cfg.vocab,
                           unit_tokens=unit_tokens)
    if not ctx.tokenizer:  # the first mix trained it: keep it outside every mix folder (a rerun replaces those)
        shared = ctx.work / "tokenizer.json"
        shared.write_bytes((mix_dir / "tokenizer.json").read_bytes())
        ctx.tokenizer = str(shared)
    t_mix = time.perf_counter() - t0
    encoder = Encoder(str(mix_dir / "tokenizer.json"))
    blocks = load_blocks(str(mix_dir), cfg.context)
    steps = tokens // (cfg.batch * (cfg.context + 1))
    used_tokens = min(steps * cfg.batch, len(blocks)) * (cfg.context + 1)
    deterministic(seed, cfg.threads)
    model = TinyLM(ModelConfig(vocab_size=encoder.vocab_size, d_model=cfg.d_model, n_layers=cfg.layers, n_heads=cfg.heads,
                               context=cfg.context))
    tr = train(model, blocks, steps, cfg.batch, lr=cfg.lr, device=cfg.device)
    return mix_dir, recipe, encoder, model.cpu(), tr, t_mix, used_tokens


def load_results(path: Path, shape: dict) -> Optional[dict]:
    """The results already in ``path`` (None: none yet); refused when they were made with another shape."""
    results = json.loads(path.read_text()) if path.exists() else None
    if results and results["shape"] != shape:
        changed = sorted(k for k in shape if results["shape"].get(k) != shape[k])
        raise ConfigError(f"{path} was made with different {', '.join(changed)}; use a new --out folder (or delete it)")
    return results


def write_results(path: Path, results: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1))
    tmp.replace(path)


def run_plan(results: dict, plan: list, run_one: Callable, save: Callable[[], None], log: Callable[[str], None], rule: str,
             where: Path) -> None:
    """Run the (kind, arm, budget, seed) entries of ``plan`` not yet in ``results[kind]``, saving after each."""
    todo = [p for p in plan if not _find(results[p[0]], p[1].name, p[3], p[2])]
    log(f"{len(plan)} runs planned, {len(plan) - len(todo)} already in {where}; pass rule: {rule}")
    for i, (kind, arm, budget, seed) in enumerate(todo, 1):
        t = time.perf_counter()
        results[kind].append(run_one(arm, budget, seed))
        save()
        log(f"  [{i}/{len(todo)}] done in {time.perf_counter() - t:.0f}s")


def _run_arm(ctx: _Context, arm: Arm, tokens: int, seed: int) -> dict:
    from tailmine.experiments import tail

    mix_dir, recipe, encoder, model, tr, t_mix, used_tokens = mix_and_train(ctx, arm, tokens, seed)
    steps = tr["steps"]
    expo = tail.exposures(str(mix_dir), ctx.world.n_entities, tail.sequences_in_tokens(str(mix_dir), used_tokens))
    ev = tail.evaluate(model, encoder, ctx.world, ctx.heldout, ctx.natural)
    buckets = tail.rank_buckets(ctx.world.n_entities)
    res = {"arm": arm.name, "seed": seed, "tokens": tokens, "params": model.n_params(), "mix_seconds": round(t_mix, 1), **tr,
           "recipe": {"tokens_total": recipe["tokens_total"], "max_epochs_realised": recipe["repetition_profile"]["max_epochs"],
                      "cov_10": recipe["tail_metrics"]["mixture"]["cov_10"], "hill_d1": recipe["tail_metrics"]["mixture"]["hill_d1"]},
           "exposures": expo.tolist(), **ev}
    for i, name in enumerate(BUCKETS):
        res[name]["mean_exposures"] = float(expo[buckets == i].mean())
    ctx.log(f"  {arm.name:16s} seed {seed} B={tokens:,}: {steps} steps ({tr['seconds']:.0f}s train, {t_mix:.0f}s mix) "
            + " | ".join(f"{b} acc {res[b]['fact_acc']:.2f} nll {res[b]['fact_nll']:.2f} exp {res[b]['mean_exposures']:.0f}" for b in BUCKETS)
            + f" | natural {res['natural_bpb']:.4f} bpb")
    return res


def run_sweep(cfg: SweepConfig, out_dir: str, log: Callable[[str], None] = print) -> dict:
    """Run (or resume) the sweep into ``out_dir``; returns the summarised results (also written as
    results.json, results.md and report.html there)."""
    from tailmine.experiments import tail
    from tailmine.experiments.world import heldout_documents, make_world
    from tailmine.mixtures.tokenize import Encoder

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / RESULTS
    results = load_results(path, cfg.shape())
    world = make_world(cfg.entities, cfg.relations, cfg.values, seed=0)
    work = out / "work"
    t = time.perf_counter()
    concepts_dir, pool = tail.build_pool(work, world, cfg.pool_docs, seed=0)
    log(f"pool: {len(pool):,} documents, ingest + concepts {time.perf_counter() - t:.0f}s ({work})")
    pool_texts = {d["text"] for d in pool}
    heldout = heldout_documents(world, range(world.n_entities), seed=100, exclude=pool_texts)
    rng = np.random.Generator(np.random.PCG64([200, 0]))
    natural = heldout_documents(world, world.sample_entities(cfg.natural_docs, rng), seed=101, exclude=pool_texts)
    if results is None:
        results = {"pass_rule": PASS_RULE, "shape": cfg.shape(), "calibration": [], "runs": [],
                   "world": {"entities": world.n_entities, "relations": len(world.relations), "values": cfg.values,
                             "zipf_s": world.zipf_s, "pool_docs": len(pool)}}
    results["config"] = asdict(cfg)
    ctx = _Context(cfg, work, world, concepts_dir, heldout, natural, tokenizer=results.get("tokenizer", ""), log=log)
    if ctx.tokenizer and not Path(ctx.tokenizer).exists():
        raise ConfigError(f"{path} names the tokenizer {ctx.tokenizer}, which is gone: the finished runs used it, "
                          "so new runs cannot be compared with them; use a new --out folder")

    def save():
        results["tokenizer"] = ctx.tokenizer
        write_results(path, summarise(results))

    plan = [("calibration", Arm(), b, cfg.seeds[0]) for b in cfg.calibrate]
    plan += [("runs", arm, b, s) for b in cfg.budgets for s in cfg.seeds for arm in cfg.arm_list()]
    run_plan(results, plan, lambda arm, b, s: _run_arm(ctx, arm, b, s), save, log, PASS_RULE, path)
    if not results.get("tokenization_check") and ctx.tokenizer:
        results["tokenization_check"] = tail.check_value_tokenization(Encoder(ctx.tokenizer), world, heldout[:100])
    save()
    (out / "results.md").write_text(markdown(results) + "\n")
    (out / "report.html").write_text(render_html(results))
    return results
