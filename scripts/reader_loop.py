"""train_reader's training loop: span_loss and train (AdamW, linear warm-up and decay, bf16 autocast on CUDA)."""

from __future__ import annotations

import math
import time

import numpy as np

from reader_features import Features
from script_common import log


# ---- training ------------------------------------------------------------------------------------

def span_loss(out, start_positions, end_positions):
    """The gold loss: the mean of the start and end positions' cross-entropies."""
    import torch

    ce = torch.nn.functional.cross_entropy
    return (ce(out.start_logits.float(), start_positions) + ce(out.end_logits.float(), end_positions)) / 2


def batch_order(n: int, batch_size: int, seed: int, total: int) -> list[np.ndarray]:
    """The window indices of each of `total` steps: a fresh permutation per pass, cut into batches."""
    rng, batches = np.random.default_rng(seed), []
    while len(batches) < total:
        order = rng.permutation(n)
        batches += [order[i:i + batch_size] for i in range(0, n, batch_size)]
    return batches[:total]


def train(model, feats: Features, args, device: str, loss_fn=None, checkpoint=None) -> dict:
    """AdamW with linear warm-up and decay, bf16 autocast on CUDA; returns timing and loss figures.

    `loss_fn(out, start_positions, end_positions, idx)`, if given, replaces span_loss (idx: the batch's
    window indices, on the device). `checkpoint` (reader_checkpoint.Checkpoint), if given, resumes a run from
    its last saved step and saves the run every `checkpoint.every` steps."""
    import torch

    n = len(feats)
    steps_per_epoch = math.ceil(n / args.batch_size)
    total = math.ceil(steps_per_epoch * args.epochs)
    if args.max_steps:
        total = min(total, args.max_steps)
    warmup = int(args.warmup * total)
    decay = ["bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight"]
    groups = [
        {"params": [p for k, p in model.named_parameters() if not any(d in k for d in decay)],
         "weight_decay": args.weight_decay},
        {"params": [p for k, p in model.named_parameters() if any(d in k for d in decay)], "weight_decay": 0.0},
    ]
    cuda = device.startswith("cuda")
    opt = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.999), eps=1e-8, **({"fused": True} if cuda else {}))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
    tensors = {"input_ids": torch.from_numpy(feats.input_ids).to(device),
               "attention_mask": torch.from_numpy(feats.attention_mask).to(device)}
    if feats.token_type_ids is not None:
        tensors["token_type_ids"] = torch.from_numpy(feats.token_type_ids).to(device)
    start_pos = torch.from_numpy(feats.start_positions).to(device)
    end_pos = torch.from_numpy(feats.end_positions).to(device)
    lengths = feats.attention_mask.sum(axis=1)
    first = checkpoint.restore(model, opt, sched) if checkpoint is not None else 0
    model.train()
    log(f"training: {n} windows, {args.epochs:g} epoch(s), {total} steps of {args.batch_size}, "
        f"warm-up {warmup} steps, lr {args.lr}, device {device}" + (f", resumed at step {first}" if first else ""))
    seen, t0, losses = 0, time.perf_counter(), []
    every = max(1, min(100, total // 20))
    for step, idx_np in enumerate(batch_order(n, args.batch_size, args.seed, total)[first:], start=first + 1):
        cut = int(lengths[idx_np].max())  # each batch only as wide as its longest window
        idx = torch.from_numpy(idx_np).to(device)
        batch = {k: v[idx, :cut].long() for k, v in tensors.items()}
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            out = model(**batch)
        gold = (start_pos[idx], end_pos[idx])
        loss = span_loss(out, *gold) if loss_fn is None else loss_fn(out, *gold, idx)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        seen += len(idx_np)
        if step % every == 0 or step == total:
            losses.append(loss.item())
            rate = seen / (time.perf_counter() - t0)
            log(f"step {step}/{total}  epoch {step * args.batch_size / n:.2f}  loss {losses[-1]:.4f}  "
                f"lr {sched.get_last_lr()[0]:.2e}  {rate:.2f} windows/s")
        if checkpoint is not None and (step % checkpoint.every == 0 or step == total):
            checkpoint.save(model, opt, step)
    step = max(first, total)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    log(f"trained {step} steps in {seconds:.1f} s")
    return {"steps": step, "train_seconds": round(seconds, 1), "final_loss": losses[-1] if losses else None}
