#!/usr/bin/env python3
"""Forward + backward wall time of the three PyTorch + `transformers` classifiers (issue 3's baseline).

    python3 tools/bench_models_torch.py                    # tiny and small, 2 threads
    python3 tools/bench_models_torch.py --config tiny --family bert --iters 50 --threads 1

Same configs as `mmo-bench`: `tiny` (hidden 64, 2 layers, 4 heads, ffn 256, vocabulary 32,
seq 12, batch 16, 64 positions) and `small` (hidden 256, 4 layers, 4 heads, ffn 1024,
vocabulary 8000, seq 64, batch 16, 512 positions, 514 for RoBERTa), 2 labels, eager attention,
float32, train mode with dropout `--dropout` (0.1). A batch is random token ids, right-padded to
seeded lengths between seq/2 and seq. One step = forward with labels (mean cross-entropy) +
backward into existing gradient buffers; zeroing the gradients is outside the timed region.
After `--warmup` untimed steps, the median of `--iters` steps is reported as JSON on stdout.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_layout  # noqa: E402

CONFIGS = {
    "tiny": dict(hiddenSize=64, numLayers=2, numHeads=4, intermediateSize=256, vocabSize=32,
                 maxPositions=64, seq=12, batch=16),
    "small": dict(hiddenSize=256, numLayers=4, numHeads=4, intermediateSize=1024, vocabSize=8000,
                  maxPositions=512, seq=64, batch=16),
}


def model_config(name, family, dropout):
    c = dict(CONFIGS[name])
    c.pop("seq"), c.pop("batch")
    if family == "roberta" and name == "small":
        c["maxPositions"] += 2  # padding_idx + 1 rows before the first real position
    return hf_layout.model_config(family, numLabels=2, hiddenDropout=dropout,
                                  attentionDropout=dropout, **c)


def make_batch(cfg, batch, seq, gen):
    pad, low = cfg["padTokenID"], (3 if cfg["family"] == "roberta" else 1)
    ids = torch.randint(low, cfg["vocabSize"], (batch, seq), generator=gen)
    lengths = torch.randint(seq // 2, seq + 1, (batch,), generator=gen)
    mask = (torch.arange(seq)[None, :] < lengths[:, None]).long()
    ids = torch.where(mask.bool(), ids, torch.full_like(ids, pad))
    labels = torch.randint(0, cfg["numLabels"], (batch,), generator=gen)
    return ids, mask, labels


def bench(name, family, args):
    cfg = model_config(name, family, args.dropout)
    torch.manual_seed(args.seed)
    model = hf_layout.hf_model(cfg).float().train()
    gen = torch.Generator().manual_seed(args.seed)
    ids, mask, labels = make_batch(cfg, CONFIGS[name]["batch"], CONFIGS[name]["seq"], gen)

    def step():
        model.zero_grad(set_to_none=False)
        start = time.perf_counter()
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        return (time.perf_counter() - start) * 1e3

    for _ in range(args.warmup):
        step()
    times = [step() for _ in range(args.iters)]
    return {"config": name, "family": family, "fwd_bwd_ms": round(statistics.median(times), 3),
            "min_ms": round(min(times), 3), "iters": args.iters,
            "parameters": sum(p.numel() for p in model.parameters()),
            "batch": CONFIGS[name]["batch"], "seq": CONFIGS[name]["seq"],
            "maxPositions": cfg["maxPositions"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--iters", type=int, default=20, help="timed steps per model (default 20)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    ap.add_argument("--dropout", type=float, default=0.1, help="hidden and attention dropout")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", choices=CONFIGS, action="append", help="repeatable; default all")
    ap.add_argument("--family", choices=hf_layout.FAMILIES, action="append",
                    help="repeatable; default all")
    args = ap.parse_args()
    if args.threads < 1 or args.iters < 1 or args.warmup < 0:
        ap.error("--threads and --iters must be >= 1, --warmup >= 0")
    if not 0.0 <= args.dropout < 1.0:
        ap.error("--dropout must be in [0, 1)")
    torch.set_num_threads(args.threads)
    results = [bench(c, f, args) for c in (args.config or list(CONFIGS))
               for f in (args.family or hf_layout.FAMILIES)]
    json.dump({"torch_version": torch.__version__, "transformers_version": transformers.__version__,
               "threads": args.threads, "dropout": args.dropout, "results": results},
              sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
