#!/bin/sh
# Alternated rounds of ResNet-20 training and evaluation: constnet, then PyTorch, ROUNDS times,
# each JSON line tagged with the program and round. Summarise with
#   python3 benches/resnet20_table.py resnet20.log
# Usage (after cargo build --release --example bench_train):
#   PYTHON=path/to/python-with-torch benches/resnet20_rounds.sh [ROUNDS] > resnet20.log
# BATCH (default 10,64,128), THREADS (default 2) and IMAGES (default: each program's, 1280) pass
# on to both programs.
set -e
ROUNDS=${1:-3}
PY=${PYTHON:-python3}
BATCH=${BATCH:-10,64,128}
THREADS=${THREADS:-2}
IMAGES=${IMAGES:-1280}
for r in $(seq 1 "$ROUNDS"); do
  echo "# round $r constnet $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  target/release/examples/bench_train --model resnet20 --threads "$THREADS" --batch "$BATCH" --images "$IMAGES" | sed "s/^/constnet $r /"
  echo "# round $r torch $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  "$PY" benches/torch_resnet20.py --threads "$THREADS" --batch "$BATCH" --images "$IMAGES" | sed "s/^/torch $r /"
done
