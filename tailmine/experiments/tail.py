"""Issue 9 / longtail-methods §5.2: does tail upweighting pay, at equal tokens, on a tiny LM?

The arms are built by the product's own stages (ingest → concepts → mix), the model is
:mod:`tailmine.experiments.tinylm`, and evaluation uses fresh held-out documents of
:mod:`tailmine.experiments.world`. :func:`evaluate` returns per rank bucket (head = top 5% of entities,
torso, tail = bottom 70%) fact NLL (nats, summed over the value's tokens), fact accuracy (the true
value ranks first among the relation's V candidate values, chance 1/V), held-out document bits per
byte, and the natural-distribution (Zipf-sampled held-out documents) bits per byte.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tailmine.errors import ConfigError
from tailmine.experiments.world import World, entity_of_id, heldout_documents, pool_documents, rank_buckets

BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
BUCKETS = ("head", "torso", "tail")

@dataclass(frozen=True)
class Arm:
    """One mixture of the experiment: ``tailmine mix`` with ``tail_lambda``, ``tail_beta`` and
    ``max_epochs``. Named ``passive`` (λ = 0) or ``l{λ}_b{β}_E{E_max}`` (``Einf``: no cap). Without a
    binding cap, UniMax(β) water-filling gives π_b ∝ p_b^(1-β), i.e. temperature sampling over concept
    buckets with T = 1/(1-β) (the mixer has no separate concept-temperature knob); β = 0 is the natural
    bucket distribution, a control that should match passive within noise."""

    tail_lambda: float = 0.0
    tail_beta: float = 0.0
    max_epochs: float = 4.0

    @property
    def name(self) -> str:
        if self.tail_lambda == 0:
            return "passive"
        e = "inf" if math.isinf(self.max_epochs) else f"{self.max_epochs:g}"
        return f"l{self.tail_lambda:g}_b{self.tail_beta:g}_E{e}"

    @classmethod
    def parse(cls, name: str) -> "Arm":
        if name == "passive":
            return cls()
        m = re.fullmatch(r"l([0-9.]+)_b([0-9.]+)_E([0-9.]+|inf)", name)
        if not m:
            raise ConfigError(f"arm {name!r}: expected 'passive' or l<lambda>_b<beta>_E<max epochs|inf>, e.g. l1_b0.5_E4")
        arm = cls(float(m.group(1)), float(m.group(2)), math.inf if m.group(3) == "inf" else float(m.group(3)))
        if not (0 < arm.tail_lambda <= 1 and 0 <= arm.tail_beta <= 1 and arm.max_epochs >= 1):
            raise ConfigError(f"arm {name!r}: need 0 < lambda <= 1, 0 <= beta <= 1, E_max >= 1")
        return arm


def build_pool(root: Path, world: World, n_docs: int, seed: int = 0) -> tuple[str, list[dict]]:
    """Write the pool as JSONL and run ingest and concepts on it; returns (concepts dir, pool docs)."""
    from tailmine.concepts.config import ConceptConfig
    from tailmine.ingest.config import IngestConfig
    from tailmine.pipelines import concepts, ingest

    docs = pool_documents(world, n_docs, seed=seed)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "pool.jsonl", "w") as f:
        for d in docs:
            f.write(json.dumps({"id": d["id"], "text": d["text"]}) + "\n")
    ingest.run([str(root / "pool.jsonl")], str(root / "ingest"), IngestConfig(), BEAM, force=True, progress=False)
    concepts.run(str(root / "ingest"), str(root / "concepts"), ConceptConfig(bootstrap=0), BEAM, force=True, progress=False)
    return str(root / "concepts"), docs


def make_arm(concepts_dir: str, out_dir: str, arm: Arm, tokens: int, seed: int, tokenizer: str = "", vocab_size: int = 512,
             unit_tokens: int = 2048) -> dict:
    """``tailmine mix`` for one arm over training units of at most ``unit_tokens``; returns recipe.json."""
    from tailmine.mixtures.config import MixConfig
    from tailmine.pipelines import mix

    emax = 1e6 if math.isinf(arm.max_epochs) else arm.max_epochs  # a cap that never binds
    cfg = MixConfig(tokens=tokens, tail_lambda=arm.tail_lambda, tail_beta=arm.tail_beta, max_epochs=emax, tokenizer=tokenizer,
                    vocab_size=vocab_size, seed=seed, holdout=0.0, shard_tokens=1 << 40, unit_tokens=unit_tokens,
                    max_document_share=1.0)  # the arms compare epoch caps alone
    mix.run(concepts_dir, out_dir, cfg, BEAM, force=True, progress=False)
    return json.loads((Path(out_dir) / "recipe.json").read_text())


def exposures(mix_dir: str, n_entities: int, max_sequences: int | None = None) -> np.ndarray:
    """Document copies per entity in the mixture (each document states all of its entity's facts once),
    counting only the first ``max_sequences`` sequences (what training consumed) when given."""
    recipe = json.loads((Path(mix_dir) / "recipe.json").read_text())
    counts = np.zeros(n_entities, np.int64)
    seen = 0
    import pyarrow.parquet as pq  # here, not at import: `tailmine experiment --help` stays light

    for s in recipe["shards"]:
        ids = pq.read_table(os.path.join(mix_dir, s["name"] + ".lineage.parquet"), columns=["id"]).column("id").to_pylist()
        if max_sequences is not None:
            ids = ids[: max(0, max_sequences - seen)]
        seen += len(ids)
        for i in ids:
            counts[entity_of_id(i)] += 1
    return counts


def sequences_in_tokens(mix_dir: str, tokens: int) -> int:
    """How many leading sequences of the mixture fit in the first ``tokens`` tokens."""
    recipe = json.loads((Path(mix_dir) / "recipe.json").read_text())
    from tailmine.mixtures.shards import read_index

    total, n = 0, 0
    for s in recipe["shards"]:
        for size in read_index(os.path.join(mix_dir, s["name"] + ".idx")).sizes.tolist():
            if total + size > tokens:
                return n
            total += size
            n += 1
    return n


def _score(model, seqs: list[list[int]], targets_from: list[int], batch: int = 256) -> np.ndarray:
    """Sum of -log p over positions >= targets_from[i] of each sequence (the first token is context)."""
    import torch  # imported here: `tailmine experiment --help` reads this module's arms without torch

    with torch.no_grad():
        return _score_batches(torch, model, seqs, targets_from, batch)


def _score_batches(torch, model, seqs: list[list[int]], targets_from: list[int], batch: int) -> np.ndarray:
    out = np.zeros(len(seqs))
    ctx = model.cfg.context
    order = np.argsort([len(s) for s in seqs], kind="stable")
    for b0 in range(0, len(seqs), batch):
        ids = order[b0 : b0 + batch]
        chunk = [seqs[i][-(ctx + 1):] for i in ids]
        starts = [max(1, targets_from[i] - (len(seqs[i]) - len(c))) for i, c in zip(ids, chunk)]
        width = max(len(c) for c in chunk)
        x = torch.zeros(len(chunk), width, dtype=torch.long)
        mask = torch.zeros(len(chunk), width - 1)
        for j, (c, st) in enumerate(zip(chunk, starts)):
            x[j, : len(c)] = torch.tensor(c)
            mask[j, st - 1 : len(c) - 1] = 1
        logp = torch.nn.functional.log_softmax(model(x[:, :-1]).float(), dim=-1)
        nll = -logp.gather(-1, x[:, 1:, None])[..., 0]
        out[ids] = (nll * mask).sum(1).numpy()
    return out


def evaluate(model, encoder, world: World, fact_docs: list, natural_docs: list) -> dict:
    """Fact NLL / accuracy per entity (all facts of one fresh held-out document per entity), document
    bits per byte per rank bucket, and natural-distribution bits per byte."""
    eos = encoder.eos_id
    C, R = world.n_entities, len(world.relations)
    seqs, starts, owner = [], [], []  # owner: (entity, relation, candidate)
    doc_seqs, doc_bytes, doc_ent = [], [], []
    for e, text, spans in fact_docs:
        for r, a, _b in spans:
            ctx_ids = [eos] + encoder.encode_batch([text[: a - 1]])[0]
            for v, value in enumerate(world.values[r]):
                val_ids = encoder.encode_batch([" " + value])[0]
                seqs.append(ctx_ids + val_ids)
                starts.append(len(ctx_ids))
                owner.append((e, r, v))
        doc_seqs.append([eos] + encoder.encode_batch([text])[0] + [eos])
        doc_bytes.append(len(text.encode()))
        doc_ent.append(e)
    scores = _score(model, seqs, starts)
    cand = np.full((C, R, len(world.values[0])), np.nan)
    for (e, r, v), s in zip(owner, scores):
        cand[e, r, v] = s
    truth = world.facts
    fact_nll = np.take_along_axis(cand, truth[:, :, None], axis=2)[..., 0]  # (C, R)
    fact_acc = (np.nanargmin(cand, axis=2) == truth).astype(float)
    dnll = _score(model, doc_seqs, [1] * len(doc_seqs))
    doc_bpb = np.zeros(C)
    for e, n, b in zip(doc_ent, dnll, doc_bytes):
        doc_bpb[e] = n / math.log(2) / b
    nat_seqs = [[eos] + encoder.encode_batch([t])[0] + [eos] for _e, t, _s in natural_docs]
    nat_nll = _score(model, nat_seqs, [1] * len(nat_seqs))
    nat_bpb = float(nat_nll.sum() / math.log(2) / sum(len(t.encode()) for _e, t, _s in natural_docs))
    zipf_fact_nll = float((world.probs * fact_nll.mean(1)).sum())
    buckets = rank_buckets(C)
    out = {"per_entity": {"fact_nll": fact_nll.mean(1).tolist(), "fact_acc": fact_acc.mean(1).tolist()},
           "natural_bpb": nat_bpb, "natural_fact_nll": zipf_fact_nll, "chance_acc": 1.0 / len(world.values[0])}
    for i, name in enumerate(BUCKETS):
        m = buckets == i
        out[name] = {"fact_nll": float(fact_nll[m].mean()), "fact_acc": float(fact_acc[m].mean()),
                     "doc_bpb": float(doc_bpb[m].mean()), "entities": int(m.sum())}
    return out


def check_value_tokenization(encoder, world: World, docs: list) -> float:
    """Share of facts whose value tokens are the same alone (" value") as inside the document; the
    candidate scoring assumes they are (byte-level BPE with the GPT-2 pre-tokenizer)."""
    ok = n = 0
    for _e, text, spans in docs:
        for r, a, b in spans:
            whole = encoder.encode_batch([text[:b]])[0]
            parts = encoder.encode_batch([text[: a - 1]])[0] + encoder.encode_batch([" " + text[a:b]])[0]
            ok += whole == parts
            n += 1
    return ok / max(n, 1)


def pooled_curve(rows: list[tuple[str, np.ndarray, np.ndarray]], edges=(0, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 1 << 30)) -> list[dict]:
    """Accuracy against exposures, binned on log2(exposures), per arm and pooled across arms.
    ``rows``: (arm, exposures per entity, accuracy per entity)."""
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        row = {"exposures": f"[{lo},{hi})" if hi < (1 << 30) else f">={lo}"}
        allx = []
        for arm, x, acc in rows:
            m = (x >= lo) & (x < hi)
            row[arm] = (round(float(acc[m].mean()), 3), int(m.sum())) if m.any() else None
            allx.append(acc[m])
        pooled = np.concatenate(allx)
        row["pooled"] = (round(float(pooled.mean()), 3), int(len(pooled))) if len(pooled) else None
        out.append(row)
    return out
