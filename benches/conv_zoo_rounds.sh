#!/bin/sh
# Alternated rounds of the convolution zoo: constnet, then PyTorch, ROUNDS times, each line of
# output tagged with the program and round (JSON lines from both programs). Summarise with
#   python3 benches/conv_zoo_table.py zoo.log
# Usage: benches/conv_zoo_rounds.sh [ROUNDS] > zoo.log   (after cargo build --release --example bench_conv_zoo)
set -e
ROUNDS=${1:-3}
PY=${PYTHON:-python3}
for r in $(seq 1 "$ROUNDS"); do
  echo "# round $r constnet $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  target/release/examples/bench_conv_zoo --threads 2 --batch 64 | sed "s/^/constnet $r /"
  echo "# round $r torch $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  "$PY" benches/torch_conv_zoo.py --threads 2 --batch 64 | sed "s/^/torch $r /"
done
