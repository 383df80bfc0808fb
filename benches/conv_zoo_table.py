#!/usr/bin/env python3
"""Medians per shape of an alternated zoo log (benches/conv_zoo_rounds.sh) as a Markdown table:
constnet and PyTorch µs for forward, input gradient, weight gradient and forward + backward,
and the ratio PyTorch / constnet (above 1: constnet faster)."""

import collections
import json
import statistics
import sys

runs = collections.defaultdict(lambda: collections.defaultdict(list))
order = []
for line in open(sys.argv[1]):
    if line.startswith("#") or not line.strip():
        continue
    prog, _round, payload = line.split(" ", 2)
    rec = json.loads(payload)
    if rec["shape"] not in order:
        order.append(rec["shape"])
    for key in ("forward_us", "input_grad_us", "weight_grad_us", "total_us"):
        runs[(prog, rec["shape"])][key].append(rec[key])

med = lambda prog, shape, key: statistics.median(runs[(prog, shape)][key])
print("| shape (batch 64) | fwd µs c / t | in-grad µs c / t | w-grad µs c / t | fwd+bwd µs c / t | ratio fwd | ratio fwd+bwd |")
print("|---|---|---|---|---|---|---|")
for shape in order:
    cells = []
    for key in ("forward_us", "input_grad_us", "weight_grad_us", "total_us"):
        cells.append(f"{med('constnet', shape, key):,.0f} / {med('torch', shape, key):,.0f}")
    rf = med("torch", shape, "forward_us") / med("constnet", shape, "forward_us")
    rt = med("torch", shape, "total_us") / med("constnet", shape, "total_us")
    n = len(runs[("constnet", shape)]["total_us"])
    print(f"| {shape} | " + " | ".join(cells) + f" | {rf:.2f}x | **{rt:.2f}x** |")
