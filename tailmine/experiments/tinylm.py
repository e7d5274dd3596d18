"""A tiny decoder-only transformer and a deterministic CPU training loop over mix-stage token shards."""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from tailmine.mixtures.reader import TokenShardDataset


def deterministic(seed: int, threads: int = 1) -> None:
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed by deterministic cuBLAS on a GPU
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    context: int = 128


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.GELU(), nn.Linear(4 * cfg.d_model, cfg.d_model))
        self.n_heads = cfg.n_heads

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        shape = (b, t, self.n_heads, d // self.n_heads)
        q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class TinyLM(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.context, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln = nn.LayerNorm(cfg.d_model)
        nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        for blk in self.blocks:
            x = blk(x)
        return self.ln(x) @ self.tok.weight.T  # tied embeddings

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def load_blocks(mix_dir: str, context: int) -> torch.Tensor:
    """The mixture's token stream (shards in order, stored shuffled order) cut into blocks of context+1."""
    blocks = list(TokenShardDataset(mix_dir, seq_len=context + 1))
    return torch.stack(blocks) if blocks else torch.zeros(0, context + 1, dtype=torch.long)


def train(model: TinyLM, blocks: torch.Tensor, steps: int, batch: int, lr: float = 3e-3, wd: float = 0.1,
          log_every: int = 0, device: str = "cpu") -> dict:
    """AdamW with a one-cycle schedule; batches are taken in stream order (the mixer already shuffled
    globally), wrapping around if the mixture is shorter than ``steps·batch`` blocks. ``device`` moves
    the model there (it stays there; move it back for CPU evaluation)."""
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.1)
    n = len(blocks)
    t0, losses, wrapped = time.perf_counter(), [], False
    model.train()
    for step in range(steps):
        idx = (torch.arange(batch) + step * batch)
        wrapped |= bool((idx >= n).any())
        xb = blocks[idx % n].to(device)
        logits = model(xb[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), xb[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if log_every and (step + 1) % log_every == 0:
            print(f"    step {step + 1}/{steps} loss {np.mean(losses[-log_every:]):.3f} ({time.perf_counter() - t0:.0f}s)", flush=True)
    secs = time.perf_counter() - t0
    model.eval()
    return {"steps": steps, "batch": batch, "tokens_trained": steps * batch * (blocks.shape[1] - 1) if n else 0,
            "blocks_available": n, "wrapped": wrapped, "seconds": round(secs, 1),
            "final_train_loss": float(np.mean(losses[-max(1, steps // 20):])) if losses else math.nan}
