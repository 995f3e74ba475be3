#!/usr/bin/env python3
"""The PyTorch side of the format benchmark: torch.save / torch.load and safetensors on exactly
the content that `mmo-bench format` wrote, compared with the Swift figures.

    .build/release/mmo-bench format            # writes bench-out/format/{small-zstd1.mmo,format-swift.json}
    python3 tools/bench_format_torch.py bench-out/format/format-swift.json
    python3 tools/bench_format_torch.py --summarize bench-out/format/rounds   # medians over rounds

`tools/bench_format` runs several rounds of both (on a shared machine, comparing within a round
and taking the median over rounds is what makes the ratios meaningful).

The .mmo file is read with the independent reader (Formats/python/mmo.py) into a flat dict of
torch tensors (the state document as a Python dict beside them), so all three formats store the
same numbers. Files are warm in the page cache for every read figure. Prints a table and writes
format-compare.json next to the Swift JSON.
"""

import json
import os
import statistics
import sys
import time

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Formats", "python"))
import mmo  # noqa: E402


def timed(fn, repeats):
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def summarize(folder):
    rounds = [json.load(open(os.path.join(folder, f))) for f in sorted(os.listdir(folder)) if f.endswith(".json")]
    ours_key = [k for k in rounds[0] if k.startswith(".mmo")][0]

    def med(fn):
        return statistics.median(fn(r) for r in rounds)

    print(f"{len(rounds)} rounds, medians (each ratio is taken within a round, then the median):")
    for name in rounds[0]:
        print(f"  {name:<14} file {med(lambda r: r[name]['fileBytes']) / 1e6:7.1f} MB  save {med(lambda r: r[name]['saveSeconds']):.3f} s"
              f"  save+fsync {med(lambda r: r[name]['saveSyncSeconds']):.3f} s  open {med(lambda r: r[name]['openMilliseconds']):.3f} ms"
              f"  read {med(lambda r: r[name]['readGBps']):.2f} GB/s")
    t = "torch.save"
    print(f"  size / torch.save            {med(lambda r: r[ours_key]['fileBytes'] / r[t]['fileBytes']):.3f}")
    print(f"  save / torch.save            {med(lambda r: r[ours_key]['saveSeconds'] / r[t]['saveSeconds']):.3f}"
          f"   (range {min(r[ours_key]['saveSeconds'] / r[t]['saveSeconds'] for r in rounds):.3f}"
          f"-{max(r[ours_key]['saveSeconds'] / r[t]['saveSeconds'] for r in rounds):.3f})")
    print(f"  save / (torch.save + fsync)  {med(lambda r: r[ours_key]['saveSeconds'] / r[t]['saveSyncSeconds']):.3f}")
    print(f"  save / safetensors           {med(lambda r: r[ours_key]['saveSeconds'] / r['safetensors']['saveSeconds']):.3f}")
    return 0


def main(argv):
    if len(argv) == 2 and argv[0] == "--summarize":
        return summarize(argv[1])
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    swift = json.load(open(argv[0]))
    folder = os.path.dirname(os.path.abspath(argv[0]))
    repeats = 5
    torch.set_num_threads(os.cpu_count())

    with mmo.MMOFile(swift["file"]) as f:
        tensors = {b.name: torch.from_numpy(f.array(b.name)) for b in f.blobs}
        state = f.state()
    raw = sum(t.numel() * t.element_size() for t in tensors.values())
    assert raw == swift["rawBytes"], (raw, swift["rawBytes"])

    results = {}
    # torch.save: the dict a PyTorch trainer would save (tensors + the state as Python objects).
    pt = os.path.join(folder, "small.pt")
    obj = {"tensors": tensors, "state": state}
    save, _ = timed(lambda: torch.save(obj, pt), repeats)

    def save_and_sync():
        torch.save(obj, pt)
        fsync_path(pt)

    save_sync, _ = timed(save_and_sync, repeats)
    open_pt, _ = timed(lambda: torch.load(pt, mmap=True, weights_only=True), repeats)
    load_pt, _ = timed(lambda: torch.load(pt, weights_only=True), repeats)
    results["torch.save"] = {"fileBytes": os.path.getsize(pt), "saveSeconds": save, "saveSyncSeconds": save_sync,
                             "openMilliseconds": open_pt * 1e3, "readGBps": raw / load_pt / 1e9}

    st = os.path.join(folder, "small.safetensors")
    save_st, _ = timed(lambda: save_file(tensors, st, metadata={"state": json.dumps(state)}), repeats)

    def save_st_sync():
        save_file(tensors, st, metadata={"state": json.dumps(state)})
        fsync_path(st)

    save_st_s, _ = timed(save_st_sync, repeats)

    def open_st():
        with safe_open(st, "pt") as g:
            return list(g.keys())

    open_st_t, _ = timed(open_st, 20)
    load_st, _ = timed(lambda: load_file(st), repeats)
    results["safetensors"] = {"fileBytes": os.path.getsize(st), "saveSeconds": save_st, "saveSyncSeconds": save_st_s,
                              "openMilliseconds": open_st_t * 1e3, "readGBps": raw / load_st / 1e9}

    row = swift["rows"][0]
    ours = {"fileBytes": row["fileBytes"], "saveSeconds": row["saveSeconds"], "saveSyncSeconds": row["saveSeconds"],
            "openMilliseconds": row["openMilliseconds"], "readGBps": row["readGBps"]}
    results[".mmo " + row["codec"]] = ours

    print(f"content: {len(tensors)} arrays, {raw / 1e6:.1f} MB raw; {swift['threads']} threads; page cache warm")
    print(f"{'format':<14}{'file MB':>9}{'save s':>9}{'save+fsync s':>14}{'open ms':>10}{'read GB/s':>11}")
    for name, r in results.items():
        print(f"{name:<14}{r['fileBytes'] / 1e6:>9.1f}{r['saveSeconds']:>9.3f}{r['saveSyncSeconds']:>14.3f}"
              f"{r['openMilliseconds']:>10.3f}{r['readGBps']:>11.2f}")
    base = results["torch.save"]
    print("\n.mmo relative to torch.save (save always includes fsync for .mmo):")
    print(f"  size         {ours['fileBytes'] / base['fileBytes']:.3f}  (target ≤ 0.85)")
    print(f"  save time    {ours['saveSeconds'] / base['saveSeconds']:.3f} vs torch.save without fsync, "
          f"{ours['saveSeconds'] / base['saveSyncSeconds']:.3f} vs torch.save + fsync  (target ≤ 1)")
    print(f"  open         {ours['openMilliseconds']:.3f} ms  (target < 5 ms)")
    print(f"  full decode  {ours['readGBps']:.2f} GB/s  (target ≥ 1.5)")
    json.dump(results, open(os.path.join(folder, "format-compare.json"), "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
