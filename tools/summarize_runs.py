#!/usr/bin/env python3
"""Validation accuracy per epoch from run folders' metrics.jsonl, mean (and min-max) over seeds.

    python3 tools/summarize_runs.py runs/ablation [--markdown]

Run folders are grouped by name with the trailing `-seedN` removed.
"""
import json
import os
import re
import sys
from collections import defaultdict


def evals(path):
    """Per-epoch evaluations of one run: {epoch: {model: accuracy}} (the last eval of each epoch)."""
    out = {}
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            if record.get("type") == "eval":
                out[record["epoch"]] = {m: r["accuracy"] for m, r in record["models"].items()}
    return out


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    root = argv[0]
    groups = defaultdict(list)
    for name in sorted(os.listdir(root)):
        metrics = os.path.join(root, name, "metrics.jsonl")
        if os.path.exists(metrics):
            groups[re.sub(r"-seed\d+$", "", name)].append(evals(metrics))
    if not groups:
        print(f"{root}: no run folders with metrics.jsonl", file=sys.stderr)
        return 1
    for group, runs in groups.items():
        epochs = sorted(set.intersection(*(set(r) for r in runs)))
        models = sorted(runs[0][epochs[0]]) if epochs else []
        print(f"\n{group}  ({len(runs)} seeds; validation accuracy after each epoch, mean [min-max])")
        print("  model     " + "".join(f"  epoch {e:<12}" for e in epochs))
        for m in models:
            cells = []
            for e in epochs:
                values = [r[e][m] for r in runs]
                cells.append(f"{sum(values) / len(values):.3f} [{min(values):.2f}-{max(values):.2f}]")
            print(f"  {m:<9} " + "".join(f"  {c:<18}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
