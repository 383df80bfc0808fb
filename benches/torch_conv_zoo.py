#!/usr/bin/env python3
"""The convolution zoo in PyTorch: the counterpart of `examples/bench_conv_zoo.rs`.

    python benches/torch_conv_zoo.py --threads 2 --batch 64

Per shape: `torch.nn.functional.conv2d` with autograd, in NCHW and in channels_last memory
format; each figure is the faster of the two formats. One warm-up call of each pass, then
`--blocks` timed blocks of as many calls as fill about `--block-ms` milliseconds; each figure is
the fastest block's mean time per call, in microseconds (as the Rust program).

* forward: `conv2d(x, w, b)` with `x`, `w`, `b` requiring gradients (the graph is built, as in
  training);
* weight_grad: `torch.autograd.grad(y, [w, b], dy, retain_graph=True)` (weight and bias
  gradients of a recorded forward);
* backward: `torch.autograd.grad(y, [x, w, b], dy, retain_graph=True)`;
* input_grad: `torch.autograd.grad(y, [x], dy, retain_graph=True)` alone (the Rust program
  reports backward - weight_grad).

Prints one JSON object per shape, one per line, with the format each figure came from.

With `--cpu-time`, the blocks are timed in CPU time of the process (`time.process_time`, all
threads) instead of wall-clock time, as `bench_conv_zoo --cpu-time`.
"""

import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F

# (in channels, out channels, kernel, stride, padding, height = width)
SHAPES = [
    (3, 16, 3, 1, 1, 32),
    (16, 16, 3, 1, 1, 32),
    (16, 32, 3, 2, 1, 32),
    (32, 32, 3, 1, 1, 16),
    (32, 64, 3, 2, 1, 16),
    (64, 64, 3, 1, 1, 8),
    (16, 32, 1, 2, 0, 32),
    (32, 64, 1, 2, 0, 16),
    (64, 128, 3, 1, 1, 16),
    (128, 128, 3, 1, 1, 8),
    (1, 8, 5, 1, 0, 28),
]


CLOCK = time.perf_counter


def timed(blocks, block_ms, f):
    """The fastest of `blocks` blocks' mean µs per call of f."""
    f()  # warm-up: the first call also starts threads and allocates
    t = CLOCK()
    f()
    once = CLOCK() - t
    calls = max(1, min(10_000, int(block_ms * 1e-3 / max(once, 1e-7))))
    means = []
    for _ in range(max(1, blocks)):
        t = CLOCK()
        for _ in range(calls):
            f()
        means.append((CLOCK() - t) * 1e6 / calls)
    return min(means)


def measure(shape, batch, fmt, blocks, block_ms):
    ic, oc, k, s, p, h = shape
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, ic, h, h, generator=g) * 2 - 1
    w = (torch.rand(oc, ic, k, k, generator=g) * 2 - 1) * (2.0 / (k * k * ic)) ** 0.5
    b = torch.zeros(oc)
    if fmt == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
        w = w.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    w.requires_grad_(True)
    b.requires_grad_(True)
    y = F.conv2d(x, w, b, stride=s, padding=p)
    dy = torch.rand(y.shape, generator=g) * 2 - 1
    if fmt == "channels_last":
        dy = dy.contiguous(memory_format=torch.channels_last)

    def forward():
        F.conv2d(x, w, b, stride=s, padding=p)

    def grad(inputs):
        return lambda: torch.autograd.grad(y, inputs, dy, retain_graph=True)

    return {
        "forward_us": timed(blocks, block_ms, forward),
        "input_grad_us": timed(blocks, block_ms, grad([x])),
        "weight_grad_us": timed(blocks, block_ms, grad([w, b])),
        "backward_us": timed(blocks, block_ms, grad([x, w, b])),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=15)
    ap.add_argument("--block-ms", type=float, default=10.0)
    ap.add_argument("--only", default="")
    ap.add_argument("--cpu-time", action="store_true")
    args = ap.parse_args()
    if args.cpu_time:
        global CLOCK
        CLOCK = time.process_time
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__} threads {torch.get_num_threads()}", file=sys.stderr)
    for shape in SHAPES:
        ic, oc, k, s, p, h = shape
        name = f"{ic}->{oc} {k}x{k} s{s} p{p} @{h}x{h}"
        if args.only not in name:
            continue
        by_fmt = {
            fmt: measure(shape, args.batch, fmt, args.blocks, args.block_ms)
            for fmt in ("nchw", "channels_last")
        }
        line = {"shape": name, "batch": args.batch}
        for key in ("forward_us", "input_grad_us", "weight_grad_us", "backward_us"):
            fmt = min(by_fmt, key=lambda f: by_fmt[f][key])
            line[key] = round(by_fmt[fmt][key], 1)
            line[key.replace("_us", "_format")] = fmt
        # The total of the format that is faster for forward + backward together.
        fmt = min(by_fmt, key=lambda f: by_fmt[f]["forward_us"] + by_fmt[f]["backward_us"])
        line["total_us"] = round(by_fmt[fmt]["forward_us"] + by_fmt[fmt]["backward_us"], 1)
        line["total_format"] = fmt
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
