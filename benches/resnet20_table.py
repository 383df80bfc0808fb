#!/usr/bin/env python3
"""Medians of an alternated ResNet-20 log (benches/resnet20_rounds.sh) as a Markdown table.

    python3 benches/resnet20_table.py resnet20.log [CONSTNET_TAG [TORCH_TAG]]

Lines are `TAG ROUND {json}`, the JSON of bench_train --model resnet20 or torch_resnet20.py;
lines starting with # (round, time and load) are listed under the table. For each batch size:
the medians over the rounds of training and evaluation images per second, and the ratios
constnet / PyTorch (above 1: constnet faster). PyTorch's figure is already the faster of NCHW and
channels_last."""

import collections
import json
import statistics
import sys

log = sys.argv[1]
new = sys.argv[2] if len(sys.argv) > 2 else "constnet"
torch = sys.argv[3] if len(sys.argv) > 3 else "torch"

runs = collections.defaultdict(list)  # (prog, batch, key) -> values
batches = []
notes = []
for line in open(log):
    if line.startswith("#"):
        notes.append(line[1:].strip())
        continue
    parts = line.split(" ", 2)
    if len(parts) < 3 or not parts[2].startswith("{"):
        continue
    prog, _round, payload = parts
    rec = json.loads(payload)
    for bs, fig in rec["batch"].items():
        if bs not in batches:
            batches.append(bs)
        for key in ("train_images_per_sec", "eval_images_per_sec"):
            runs[(prog, bs, key)].append(fig[key])


def med(prog, bs, key):
    return statistics.median(runs[(prog, bs, key)])


print("| batch | train img/s constnet / PyTorch | ratio | eval img/s constnet / PyTorch | ratio | rounds |")
print("|---|---|---|---|---|---|")
for bs in sorted(batches, key=int):
    t = "train_images_per_sec"
    e = "eval_images_per_sec"
    rt = med(new, bs, t) / med(torch, bs, t)
    re = med(new, bs, e) / med(torch, bs, e)
    n = min(len(runs[(new, bs, t)]), len(runs[(torch, bs, t)]))
    print(
        f"| {bs} | {med(new, bs, t):,.0f} / {med(torch, bs, t):,.0f} | **{rt:.2f}x** "
        f"| {med(new, bs, e):,.0f} / {med(torch, bs, e):,.0f} | **{re:.2f}x** | {n} |"
    )
print()
for note in notes:
    print(f"- {note}")
