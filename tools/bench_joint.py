#!/usr/bin/env python3
"""Our joint step against a plain-PyTorch joint step of the same three models, alternating.

    swift build -c release --product mmo-bench
    python3 tools/bench_joint.py                         # tiny and small, 1 and 2 micro-batches
    python3 tools/bench_joint.py --config small --accumulation 2 --rounds 5

One joint step = for each of `accumulation` micro-batches, forward + backward of BERT, GPT-2 and
RoBERTa on the same batch shapes (batch 16; `tiny` seq 12, `small` seq 64, right-padded to
seeded lengths seq/2 … seq), then the optimizer.

* Ours: `mmo-bench step --json` (three models, MultiModelOptimizer with the paper's settings:
  gradient sharing every step, sync every 10 amortised, adaptive LR, AdamW), by default with
  `--concurrency models` (the models side by side, OpenBLAS at 1 thread each).
* PyTorch: `transformers` BERT / GPT-2 / RoBERTa sequence classifiers with SDPA attention,
  dropout 0.1, float32, one after the other, at each `--torch-threads` count (default 1 and 2;
  the faster in each round is the baseline, "the best PyTorch arrangement"); then one `torch.optim.AdamW(foreach=True)` over all three
  models (lr 3e-5, betas (0.9, 0.999), eps 1e-8, weight decay 0.01 on matrices and embeddings
  only, as ours); `zero_grad()` (set_to_none) after the step. Plain PyTorch has no sharing or
  sync: ours does more optimizer work in the same step.

Each round runs ours, then PyTorch, for every (config, accumulation), so a change in machine load
hits both. Per round the median of `--steps` timed steps after warm-up; printed: the median over
rounds, PyTorch / ours (above 1: ours faster), and load averages. `--json` for the raw figures.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_models_torch as bmt  # noqa: E402
import hf_layout  # noqa: E402

FAMILIES = ["bert", "gpt2", "roberta"]


def sdpa_model(cfg):
    tf = transformers
    cls = {"bert": tf.BertForSequenceClassification, "gpt2": tf.GPT2ForSequenceClassification,
           "roberta": tf.RobertaForSequenceClassification}[cfg["family"]]
    model = cls._from_config(hf_layout.hf_config(cfg), attn_implementation="sdpa")
    assert model.config._attn_implementation == "sdpa", model.config._attn_implementation
    return model.float().train()


class TorchJoint:
    """Three models, their batches and one foreach AdamW (built once per config)."""

    def __init__(self, name, dropout, seed):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        self.models, self.batches = [], []
        decay, no_decay = [], []
        for family in FAMILIES:
            cfg = bmt.model_config(name, family, dropout)
            model = sdpa_model(cfg)
            self.models.append(model)
            self.batches.append(bmt.make_batch(cfg, bmt.CONFIGS[name]["batch"], bmt.CONFIGS[name]["seq"], gen))
            for p in model.parameters():
                (decay if p.dim() > 1 else no_decay).append(p)
        self.parameters = sum(p.numel() for m in self.models for p in m.parameters())
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
            lr=3e-5, betas=(0.9, 0.999), eps=1e-8, foreach=True)

    def step(self, accumulation):
        start = time.perf_counter()
        for _ in range(accumulation):
            for model, (ids, mask, labels) in zip(self.models, self.batches):
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss / accumulation
                loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        return time.perf_counter() - start

    def median_ms(self, accumulation, steps, warmup):
        for _ in range(warmup):
            self.step(accumulation)
        times = [self.step(accumulation) for _ in range(steps)]
        return statistics.median(times) * 1e3, min(times) * 1e3


def ours(args, name, accumulation, gemm):
    command = [args.bench, "step", "--json", "--config", name, "--accumulation", str(accumulation),
               "--steps", str(args.steps), "--threads", str(args.threads), "--concurrency", args.concurrency]
    if not gemm:
        command.append("--no-gemm")
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", default=".build/release/mmo-bench", help="our mmo-bench binary")
    ap.add_argument("--threads", type=int, default=2, help="our lanes (models) or BLAS threads (sequential)")
    ap.add_argument("--torch-threads", type=int, action="append",
                    help="torch.set_num_threads values to try, repeatable (default 1 and 2); the faster is the baseline")
    ap.add_argument("--concurrency", default="models", choices=["models", "sequential"], help="ours")
    ap.add_argument("--config", choices=list(bmt.CONFIGS), action="append", help="repeatable; default all")
    ap.add_argument("--accumulation", type=int, action="append", help="repeatable; default 1 and 2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=6, help="timed steps per measurement")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(args.bench):
        ap.error(f"{args.bench} not found: swift build -c release --product mmo-bench (or pass --bench)")
    torch_threads = args.torch_threads or [1, 2]
    configs = args.config or list(bmt.CONFIGS)
    accumulations = args.accumulation or [1, 2]
    joints = {name: TorchJoint(name, args.dropout, args.seed) for name in configs}
    cases = [(c, a) for c in configs for a in accumulations]
    results = {case: {"ours": [], "ours_optimizer": [], "torch": [], "load": [], "ours_json": None,
                      "torch_by_threads": {n: [] for n in torch_threads}} for case in cases}
    for r in range(args.rounds):
        for case in cases:
            name, accumulation = case
            entry = results[case]
            entry["load"].append(os.getloadavg()[0])
            o = ours(args, name, accumulation, gemm=(r == 0))
            if entry["ours_json"] is None:
                entry["ours_json"] = o
            entry["ours"].append(o["stepMilliseconds"])
            entry["ours_optimizer"].append(o["optimizerFraction"])
            # PyTorch at each thread count; the round's baseline is the fastest arrangement.
            best = None
            for n in torch_threads:
                torch.set_num_threads(n)
                ms = joints[name].median_ms(accumulation, args.steps, args.warmup)[0]
                entry["torch_by_threads"][n].append(ms)
                best = ms if best is None else min(best, ms)
            entry["torch"].append(best)
            print(f"round {r + 1}: {name} ×{accumulation}: ours {entry['ours'][-1]:.2f} ms, torch "
                  + ", ".join(f"{n} thr {entry['torch_by_threads'][n][-1]:.2f} ms" for n in torch_threads)
                  + f" (load {entry['load'][-1]:.2f})", file=sys.stderr)
    rows = []
    for case in cases:
        name, accumulation = case
        e = results[case]
        o, t = statistics.median(e["ours"]), statistics.median(e["torch"])
        first = e["ours_json"]
        rows.append({
            "config": name, "accumulation": accumulation, "ours_ms": round(o, 3), "torch_ms": round(t, 3),
            "ratio": round(t / o, 3), "ours_rounds": e["ours"], "torch_rounds": e["torch"], "load": e["load"],
            "torch_by_threads": {str(n): statistics.median(v) for n, v in e["torch_by_threads"].items()},
            # Per round a median over few steps, of which half synchronize: the median of rounds.
            "ours_optimizer_fraction": statistics.median(e["ours_optimizer"]),
            "ours_optimizer_fraction_rounds": e["ours_optimizer"], "ours_step_gflops": first["stepGFLOPS"],
            "ours_gflop": first["stepGFLOP"],
            "torch_step_gflops": first["stepGFLOP"] / (t / 1e3),
            "sgemm_single_gflops": first.get("sgemmSingleGFLOPS"),
            "sgemm_concurrent_gflops": first.get("sgemmConcurrentGFLOPS"),
            "sgemm_two_thread_gflops": first.get("sgemmTwoThreadGFLOPS"),
            "peak_rss_mb": first["peakRSSBytes"] / 2**20,
            "state_plus_activations_mb": (first["stateBytes"] + first["activationBytes"]) / 2**20,
        })
    if args.json:
        json.dump({"torch": torch.__version__, "transformers": transformers.__version__,
                   "threads": args.threads, "torch_threads": torch_threads, "concurrency": args.concurrency, "rows": rows}, sys.stdout, indent=1)
        print()
        return
    print(f"joint step of BERT + GPT-2 + RoBERTa; ours: --concurrency {args.concurrency} --threads {args.threads}; "
          f"PyTorch: the faster of set_num_threads {torch_threads} per round; "
          f"PyTorch {torch.__version__} + transformers {transformers.__version__} (SDPA, foreach AdamW); "
          f"median of {args.rounds} alternating rounds × {args.steps} steps")
    print("config  micro  ours ms   torch ms  torch/ours  ours opt%  ours GFLOP/s  sgemm 1-thr / 2 concurrent  load")
    for r in rows:
        gemm = (f"{r['sgemm_single_gflops']:.1f} / {r['sgemm_concurrent_gflops']:.1f}"
                if r["sgemm_single_gflops"] else "-")
        print(f"{r['config']:<7} {r['accumulation']:>5}  {r['ours_ms']:8.2f}  {r['torch_ms']:9.2f}  {r['ratio']:10.2f}"
              f"  {100 * r['ours_optimizer_fraction']:8.2f}  {r['ours_step_gflops']:12.1f}  {gemm:>26}"
              f"  {min(r['load']):.1f}–{max(r['load']):.1f}")
    for r in rows:
        if r["config"] == "small" and r["sgemm_concurrent_gflops"]:
            print(f"small ×{r['accumulation']}: step {r['ours_step_gflops']:.1f} GFLOP/s = "
                  f"{100 * r['ours_step_gflops'] / r['sgemm_concurrent_gflops']:.0f}% of concurrent sgemm; "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB vs parameters+gradients+moments+activations "
                  f"{r['state_plus_activations_mb']:.0f} MB ({r['peak_rss_mb'] / r['state_plus_activations_mb']:.2f}×)")


if __name__ == "__main__":
    main()
