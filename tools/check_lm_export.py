#!/usr/bin/env python3
"""Checks mmo-export of a pretraining run against PyTorch + Hugging Face transformers.

For each model of the checkpoint (objective mlm or clm): `mmo-export` it, load the folder with
AutoModelForMaskedLM / AutoModelForCausalLM (the class named in config.json:
BertForMaskedLM, RobertaForMaskedLM, GPT2LMHeadModel; no missing, unexpected or mismatched keys;
the decoder must be tied to the word embeddings, one tensor), then feed it exactly what mmo-eval
fed our model (`mmo-eval --logits`: per example the input ids after the run's fixed validation
masking, and the per-position targets) and compare

  * the token-weighted mean cross-entropy over every predicted token with mmo-eval's loss
    (|diff| <= 1e-4 · max(1, loss)), and the perplexity exp(loss);
  * AutoTokenizer(text)["input_ids"] with mmo-eval's unmasked ids where the masked LM left them
    unchanged (the causal LM: all of them), counting mismatches (reported, not failed: the
    tokenizer parity is tools/check_export.py's job).

Targets: ours are already shifted for the causal LM (position t predicts token t + 1), so for
GPT2LMHeadModel the script computes the loss from the logits itself instead of passing `labels`
(which transformers would shift a second time).

Usage:
  tools/check_lm_export.py --checkpoint runs/pretrain-tweets/last.mmo [--limit 200]
  tools/check_lm_export.py                  trains a tiny pretraining run first
  tools/check_lm_export.py --bin .build-objectives/release

Exit status: 0 every check passed; 1 a check failed; 2 cannot run (missing tools or packages).
Not part of the test suite (CI has no PyTorch).
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLERANCE = 1e-4

TINY_CONFIG = """name: lm-check
seed: 7
models:
  - {name: bert, family: bert, weight: 1.0, size: tiny}
  - {name: gpt2, family: gpt2, weight: 0.8, size: tiny, objective: clm}
  - {name: roberta, family: roberta, weight: 1.2, size: tiny}
data: {source: synthetic, syntheticTrain: 96, syntheticValidation: 48}
training: {objective: mlm, maxSteps: 12, batchSize: 8, threads: 1}
optimizer: {learningRate: 0.001, warmupSteps: 2}
"""


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr}")
    return out.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint")
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"))
    ap.add_argument("--limit", type=int, default=0, help="evaluate only the first N validation examples (0: all)")
    args = ap.parse_args()
    try:
        import torch
        import transformers
    except ImportError as e:
        print(f"cannot run: {e}", file=sys.stderr)
        return 2
    tools = {t: os.path.join(args.bin, t) for t in ("mmo-train", "mmo-eval", "mmo-export")}
    if not all(os.path.exists(p) for p in tools.values()):
        print(f"cannot run: build the release executables into {args.bin}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    work = tempfile.mkdtemp(prefix="check-lm-export-")
    checkpoint = args.checkpoint
    if checkpoint is None:
        config = os.path.join(work, "lm.yaml")
        with open(config, "w") as f:
            f.write(TINY_CONFIG)
        run([tools["mmo-train"], "--config", config, "--run-dir", os.path.join(work, "run"), "--quiet"])
        checkpoint = os.path.join(work, "run", "last.mmo")

    rows_path = os.path.join(work, "rows.jsonl")
    report = json.loads(run([tools["mmo-eval"], checkpoint, "--logits", rows_path, "--json"]))
    rows = {}
    with open(rows_path) as f:
        for line in f:
            r = json.loads(line)
            rows.setdefault(r["model"], []).append(r)
    failures = 0
    for score in report["models"]:
        name = score["name"]
        out = os.path.join(work, f"export-{name}")
        run([tools["mmo-export"], checkpoint, "--model", name, "--output", out])
        with open(os.path.join(out, "config.json")) as f:
            arch = json.load(f)["architectures"][0]
        cls = getattr(transformers, arch)
        model, info = cls.from_pretrained(out, output_loading_info=True)
        model.eval()
        bad = {k: v for k, v in info.items() if v}
        tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
        tokenizer = transformers.AutoTokenizer.from_pretrained(out)
        examples = rows[name][: args.limit] if args.limit else rows[name]
        total, count, id_mismatch = 0.0, 0, 0
        with torch.no_grad():
            for r in examples:
                ids = torch.tensor([r["input_ids"]])
                targets = torch.tensor(r["targets"])
                logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0]
                keep = targets != -100
                if keep.any():
                    loss = torch.nn.functional.cross_entropy(logits[keep].double(), targets[keep], reduction="sum")
                    total += loss.item()
                    count += int(keep.sum())
                hf_ids = tokenizer(r["text"], truncation=True)["input_ids"]
                ours = r["input_ids"]
                if arch != "GPT2LMHeadModel":
                    # Restore the original tokens at the masked-LM's selected positions.
                    ours = [tg if tg != -100 else t for t, tg in zip(r["input_ids"], r["targets"])]
                if hf_ids != ours:
                    id_mismatch += 1
        ours_loss = score["loss"]
        hf_loss = total / max(1, count)
        ok = (not bad) and tied and abs(hf_loss - ours_loss) <= TOLERANCE * max(1, abs(ours_loss))
        if args.limit:
            ok = (not bad) and tied  # a prefix of the set: the full-set loss is not comparable
        failures += not ok
        print(f"{name}: {arch}, loading info {info if bad else 'clean'}, tied decoder {tied}; "
              f"loss transformers {hf_loss:.6f} vs mmo-eval {ours_loss:.6f} over {count} tokens "
              f"(perplexity {math.exp(hf_loss):.3f} vs {score['perplexity']:.3f}); "
              f"tokenizer id mismatches {id_mismatch}/{len(examples)} -> {'ok' if ok else 'FAIL'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
