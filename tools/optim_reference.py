#!/usr/bin/env python3
"""PyTorch reference for MMOOptim: torch.optim.AdamW plus the paper's gradient sharing (Alg. 1),
parameter synchronization (Alg. 2), per-model learning rates (Eq. 1) and convergence estimation
(Alg. 3), written here in PyTorch from DESIGN.md's definition, run 50 steps on fixed, seeded
gradient sequences for three small models of differing shapes.

Writes fixtures/optim/reference.json (config, models, per-step learning rates and rates, and an
index into the blob) and fixtures/optim/reference.f32 (raw little-endian float32: initial
parameters, the gradient sequence, the losses, and the parameters after every step).
Tests/MMOOptimTests/PyTorchReferenceTests.swift feeds the same gradients to MultiModelOptimizer.

Usage: python3 tools/optim_reference.py [--out fixtures/optim]
"""
import argparse
import json
import math
import os

import numpy as np
import torch

STEPS = 50
SEED = 20240611

CONFIG = {
    "learningRate": 1e-2,
    "beta1": 0.9,
    "beta2": 0.999,
    "epsilon": 1e-8,
    "weightDecay": 0.1,
    "accumulationSteps": 2,
    "warmupSteps": 10,
    "totalSteps": 40,
    "minLearningRateRatio": 0.1,
    "maxGradientNorm": 1.0,
    "gradientSharing": True,
    "sharingCoefficient": 0.2,
    "shareEvery": 1,
    "parameterSync": True,
    "syncCoefficient": 0.1,
    "syncEvery": 5,
    "adaptiveLearningRate": True,
    "convergenceWindow": 5,
    "convergenceEvery": 2,
    "granularity": "paper",
    "maxConsecutiveSkips": 3,
    "logGradientSimilarity": False,
}

# Non-finite events the guard must handle: (1-based step, model, what).
NON_FINITE = [(23, "gpt2", "gradient"), (37, "roberta", "loss")]


def spec(name, shape, kind, role, block=None, decay=None):
    if decay is None:
        decay = len(shape) > 1
    return {"name": name, "shape": shape, "kind": kind, "role": role, "block": block,
            "weightDecay": decay}


def models():
    """Three tiny models: some keys shared by 2 or 3 models, some by one only (paper keys)."""
    bert = [
        spec("bert.embeddings.word_embeddings.weight", [10, 4], "embedding", "embedding.word"),
        spec("bert.embeddings.LayerNorm.weight", [4], "norm", "norm.weight"),
        spec("bert.embeddings.LayerNorm.bias", [4], "norm", "norm.bias"),
        spec("bert.encoder.layer.0.attention.self.query.weight", [4, 4], "attention", "attention.query.weight", 0),
        spec("bert.encoder.layer.0.attention.self.query.bias", [4], "attention", "attention.query.bias", 0),
        spec("bert.encoder.layer.0.attention.self.key.weight", [4, 4], "attention", "attention.key.weight", 0),
        spec("bert.encoder.layer.0.attention.self.key.bias", [4], "attention", "attention.key.bias", 0),
        spec("bert.encoder.layer.0.intermediate.dense.weight", [8, 4], "ffn", "ffn.in.weight", 0),
        spec("bert.encoder.layer.0.intermediate.dense.bias", [8], "ffn", "ffn.in.bias", 0),
        spec("bert.encoder.layer.0.output.dense.weight", [4, 8], "ffn", "ffn.out.weight", 0),
        spec("bert.encoder.layer.0.output.dense.bias", [4], "ffn", "ffn.out.bias", 0),
        spec("classifier.weight", [2, 4], "head", "head.out.weight"),
        spec("classifier.bias", [2], "head", "head.out.bias"),
    ]
    gpt2 = [
        spec("transformer.wte.weight", [10, 4], "embedding", "embedding.word"),
        spec("transformer.wpe.weight", [6, 4], "embedding", "embedding.position"),
        spec("transformer.h.0.ln_1.weight", [4], "norm", "norm.weight", 0),
        spec("transformer.h.0.ln_1.bias", [4], "norm", "norm.bias", 0),
        spec("transformer.h.0.attn.c_attn.q.weight", [4, 4], "attention", "attention.query.weight", 0),
        spec("transformer.h.0.attn.c_attn.q.bias", [4], "attention", "attention.query.bias", 0),
        spec("transformer.h.0.attn.c_attn.k.weight", [4, 4], "attention", "attention.key.weight", 0),
        spec("transformer.h.0.attn.c_attn.k.bias", [4], "attention", "attention.key.bias", 0),
        spec("transformer.h.0.attn.c_attn.v.weight", [4, 4], "attention", "attention.value.weight", 0),
        spec("transformer.h.0.attn.c_attn.v.bias", [4], "attention", "attention.value.bias", 0),
        spec("transformer.h.0.mlp.c_fc.weight", [8, 4], "ffn", "ffn.in.weight", 0),
        spec("transformer.h.0.mlp.c_fc.bias", [8], "ffn", "ffn.in.bias", 0),
        spec("transformer.h.0.mlp.c_proj.weight", [4, 8], "ffn", "ffn.out.weight", 0),
        spec("transformer.h.0.mlp.c_proj.bias", [4], "ffn", "ffn.out.bias", 0),
        spec("score.weight", [2, 4], "head", "head.out.weight"),
    ]
    roberta = [
        spec("roberta.embeddings.word_embeddings.weight", [12, 4], "embedding", "embedding.word"),
        spec("roberta.embeddings.position_embeddings.weight", [6, 4], "embedding", "embedding.position"),
        spec("roberta.embeddings.LayerNorm.weight", [4], "norm", "norm.weight"),
        spec("roberta.embeddings.LayerNorm.bias", [4], "norm", "norm.bias"),
        spec("roberta.encoder.layer.0.attention.self.query.weight", [4, 4], "attention", "attention.query.weight", 0),
        spec("roberta.encoder.layer.0.attention.self.query.bias", [4], "attention", "attention.query.bias", 0),
        spec("roberta.encoder.layer.0.attention.self.key.weight", [4, 4], "attention", "attention.key.weight", 0),
        spec("roberta.encoder.layer.0.attention.self.key.bias", [4], "attention", "attention.key.bias", 0),
        spec("roberta.encoder.layer.0.intermediate.dense.weight", [6, 4], "ffn", "ffn.in.weight", 0),
        spec("roberta.encoder.layer.0.intermediate.dense.bias", [6], "ffn", "ffn.in.bias", 0),
        spec("roberta.encoder.layer.0.output.dense.weight", [4, 6], "ffn", "ffn.out.weight", 0),
        spec("roberta.encoder.layer.0.output.dense.bias", [4], "ffn", "ffn.out.bias", 0),
        spec("classifier.dense.weight", [4, 4], "head", "head.dense.weight"),
        spec("classifier.out_proj.weight", [2, 4], "head", "head.out.weight"),
        spec("classifier.out_proj.bias", [2], "head", "head.out.bias"),
    ]
    return [("bert", 1.0, bert), ("gpt2", 0.8, gpt2), ("roberta", 1.2, roberta)]


def paper_key(s):
    return (s["kind"], tuple(s["shape"]))


def slope(values):
    """Least-squares slope of values against 0, 1, 2, … (Alg. 3 line 4)."""
    return float(np.polyfit(np.arange(len(values), dtype=np.float64), np.asarray(values, dtype=np.float64), 1)[0])


def learning_rate(c, t, r, w, mean_w):
    """DESIGN.md step 3, factors multiplied in this order."""
    warmup = min(1.0, t / c["warmupSteps"]) if c["warmupSteps"] > 0 else 1.0
    if c["totalSteps"] > c["warmupSteps"]:
        p = min(1.0, max(0.0, (t - c["warmupSteps"]) / (c["totalSteps"] - c["warmupSteps"])))
        decay = max(c["minLearningRateRatio"], 0.5 * (1 + math.cos(math.pi * p)))
    else:
        decay = 1.0
    lr = c["learningRate"] * warmup * decay
    if not c["adaptiveLearningRate"]:
        return lr
    return lr * min(1.5, max(0.5, 1.0 / r)) * (w / mean_w)


def mix_groups(groups, params, weights, active, coefficient, use_grad):
    """Alg. 1 (use_grad) or Alg. 2: weighted average over active members, then blend."""
    for members in groups:
        live = [(m, i) for (m, i) in members if active[m]]
        if len({m for m, _ in live}) < 2:
            continue
        first = params[live[0][0]][live[0][1]]
        avg = torch.zeros_like(first)
        total = 0.0
        for m, i in live:
            x = params[m][i].grad if use_grad else params[m][i].data
            avg.add_(x, alpha=weights[m])
            total += weights[m]
        avg.div_(total)
        for m, i in live:
            x = params[m][i].grad if use_grad else params[m][i].data
            x.mul_(1 - coefficient).add_(avg, alpha=coefficient)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "fixtures", "optim"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(SEED)
    c = CONFIG
    specs = models()
    names = [n for n, _, _ in specs]
    weights = [w for _, w, _ in specs]
    mean_w = sum(weights) / len(weights)

    # Parameters: matrices N(0, 0.5), norm weights 1 + N(0, 0.1), other vectors N(0, 0.1).
    params = []
    for _, _, model in specs:
        ps = []
        for s in model:
            if len(s["shape"]) > 1:
                x = torch.randn(s["shape"], generator=gen) * 0.5
            elif s["role"] == "norm.weight":
                x = 1 + torch.randn(s["shape"], generator=gen) * 0.1
            else:
                x = torch.randn(s["shape"], generator=gen) * 0.1
            ps.append(torch.nn.Parameter(x.float()))
        params.append(ps)
    initial = [torch.cat([p.detach().reshape(-1) for p in ps]).clone() for ps in params]

    # Gradient sequence: per step and model the *sum* of 2 micro-batch gradients, with a per-step
    # scale so that clipping (max norm 1) acts on some steps and not on others.
    grads = []   # [step][model] flat tensor
    losses = np.zeros((STEPS, len(specs)), dtype=np.float32)
    for t in range(1, STEPS + 1):
        row = []
        for m, (_, _, model) in enumerate(specs):
            n = sum(math.prod(s["shape"]) for s in model)
            scale = float(torch.empty(1).uniform_(0.002, 0.3, generator=gen))
            g = torch.randn(n, generator=gen) * scale
            row.append(g)
            base = [2.0, 1.5, 1.8][m] * math.exp(-t / [15.0, 30.0, 8.0][m]) + 0.3
            losses[t - 1, m] = base + 0.02 * float(torch.randn(1, generator=gen))
        grads.append(row)
    for step, model, what in NON_FINITE:
        m = names.index(model)
        if what == "gradient":
            grads[step - 1][m][3] = float("nan")
        else:
            losses[step - 1, m] = float("inf")

    # AdamW: per model one decay group and one no-decay group (weight_decay 0 skips the multiply).
    groups = []
    for m, (_, _, model) in enumerate(specs):
        decay = [p for p, s in zip(params[m], model) if s["weightDecay"]]
        plain = [p for p, s in zip(params[m], model) if not s["weightDecay"]]
        groups.append({"params": decay, "weight_decay": c["weightDecay"], "model": m})
        groups.append({"params": plain, "weight_decay": 0.0, "model": m})
    opt = torch.optim.AdamW(groups, lr=c["learningRate"], betas=(c["beta1"], c["beta2"]),
                            eps=c["epsilon"], weight_decay=c["weightDecay"], foreach=False)

    # Compatibility groups at paper granularity: keys with >= 2 models, members in model order.
    by_key = {}
    for m, (_, _, model) in enumerate(specs):
        for i, s in enumerate(model):
            by_key.setdefault(paper_key(s), []).append((m, i))
    share_groups = [members for members in by_key.values() if len({m for m, _ in members}) >= 2]

    rates = [1.0] * len(specs)
    histories = [[] for _ in specs]
    adam_steps = [0] * len(specs)
    after = [[] for _ in specs]
    lr_log, rate_log, skipped_log = [], [], []
    for t in range(1, STEPS + 1):
        active = []
        for m, ps in enumerate(params):
            flat = grads[t - 1][m]
            offset = 0
            for p in ps:
                k = p.numel()
                p.grad = flat[offset:offset + k].reshape(p.shape).clone()
                offset += k
                p.grad.div_(c["accumulationSteps"])
            finite = bool(np.isfinite(losses[t - 1, m])) and all(bool(torch.isfinite(p.grad).all()) for p in ps)
            active.append(finite)
            if finite and c["maxGradientNorm"] is not None:
                torch.nn.utils.clip_grad_norm_(ps, c["maxGradientNorm"], foreach=False)
        if c["gradientSharing"] and t % c["shareEvery"] == 0:
            mix_groups(share_groups, params, weights, active, c["sharingCoefficient"], use_grad=True)
        lrs = [learning_rate(c, t, rates[m], weights[m], mean_w) for m in range(len(specs))]
        for group in opt.param_groups:
            group["lr"] = lrs[group["model"]]
        for m, ps in enumerate(params):
            if active[m]:
                adam_steps[m] += 1
            else:
                for p in ps:
                    p.grad = None  # AdamW leaves the parameter, its moments and step count alone
        opt.step()
        if c["parameterSync"] and t % c["syncEvery"] == 0:
            with torch.no_grad():
                mix_groups(share_groups, params, weights, active, c["syncCoefficient"], use_grad=False)
        for m in range(len(specs)):
            if active[m]:
                histories[m].append(float(losses[t - 1, m]))
                if t % c["convergenceEvery"] == 0 and len(histories[m]) >= c["convergenceWindow"]:
                    s = slope(histories[m][-c["convergenceWindow"]:])
                    rates[m] = 0.9 * rates[m] + 0.1 / (1 + abs(s))
        for m, ps in enumerate(params):
            after[m].append(torch.cat([p.detach().reshape(-1) for p in ps]).clone())
        lr_log.append(lrs)
        rate_log.append(list(rates))
        skipped_log.append([not a for a in active])

    # Blob: float32 little-endian arrays back to back; index offsets are in elements.
    blob, index = [], {}

    def put(name, array):
        a = np.ascontiguousarray(np.asarray(array, dtype="<f4").reshape(-1))
        index[name] = {"offset": sum(x.size for x in blob), "count": int(a.size)}
        blob.append(a)

    for m, name in enumerate(names):
        put(f"initial.{name}", initial[m].numpy())
        put(f"gradients.{name}", torch.stack([grads[t][m] for t in range(STEPS)]).numpy())
        put(f"parameters.{name}", torch.stack(after[m]).numpy())
    put("losses", losses)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "reference.f32"), "wb") as f:
        f.write(np.concatenate(blob).tobytes())
    doc = {
        "generator": "tools/optim_reference.py",
        "torch": torch.__version__,
        "steps": STEPS,
        "config": c,
        "models": [{"name": n, "weight": w, "parameters": s} for n, w, s in specs],
        "nonFinite": [{"step": s, "model": m, "what": w} for s, m, w in NON_FINITE],
        "learningRates": lr_log,
        "convergenceRates": rate_log,
        "skipped": skipped_log,
        "adamSteps": adam_steps,
        "blob": "reference.f32",
        "index": index,
    }
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}: {sum(x.size for x in blob) * 4} bytes of float32, {STEPS} steps")


if __name__ == "__main__":
    main()
