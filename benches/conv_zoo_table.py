#!/usr/bin/env python3
"""Medians per shape of an alternated zoo log (benches/conv_zoo_rounds.sh) as a Markdown table.

    python3 benches/conv_zoo_table.py zoo.log [CONSTNET_TAG [TORCH_TAG [BEFORE_TAG]]]

Lines are `TAG ROUND {json}` (lines starting with # are skipped). For each shape: the medians over
the rounds of constnet's and PyTorch's µs for forward, input gradient, weight gradient and
forward + backward, and the ratios PyTorch / constnet (above 1: constnet faster); with
BEFORE_TAG, also the speed-up of CONSTNET_TAG over BEFORE_TAG (forward + backward)."""

import collections
import json
import statistics
import sys

log = sys.argv[1]
new = sys.argv[2] if len(sys.argv) > 2 else "constnet"
torch = sys.argv[3] if len(sys.argv) > 3 else "torch"
before = sys.argv[4] if len(sys.argv) > 4 else None
KEYS = ("forward_us", "input_grad_us", "weight_grad_us", "total_us")

runs = collections.defaultdict(lambda: collections.defaultdict(list))
order = []
for line in open(log):
    if line.startswith("#") or not line.strip():
        continue
    prog, _round, payload = line.split(" ", 2)
    rec = json.loads(payload)
    if rec["shape"] not in order:
        order.append(rec["shape"])
    for key in KEYS:
        runs[(prog, rec["shape"])][key].append(rec[key])


def med(prog, shape, key):
    return statistics.median(runs[(prog, shape)][key])


head = "| shape (batch 64) | forward µs | input grad µs | weight grad µs | fwd+bwd µs | ratio fwd | ratio bwd | ratio fwd+bwd |"
rule = "|---|---|---|---|---|---|---|---|"
if before:
    head += " speed-up over before |"
    rule += "---|"
print(head)
print(rule)
for shape in order:
    cells = [f"{med(new, shape, k):,.0f} / {med(torch, shape, k):,.0f}" for k in KEYS]
    bwd = lambda p: med(p, shape, "total_us") - med(p, shape, "forward_us")
    rf = med(torch, shape, "forward_us") / med(new, shape, "forward_us")
    rb = bwd(torch) / bwd(new)
    rt = med(torch, shape, "total_us") / med(new, shape, "total_us")
    row = f"| {shape} | " + " | ".join(cells) + f" | {rf:.2f}x | {rb:.2f}x | **{rt:.2f}x** |"
    if before:
        row += f" {med(before, shape, 'total_us') / med(new, shape, 'total_us'):.2f}x |"
    print(row)
