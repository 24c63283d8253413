#!/usr/bin/env bash
# The README's main command: install what is missing, build, train the
# default recipe (BCL+RCL on Fashion-MNIST-LT, IF 100, from Debian's
# dataset-fashion-mnist) and a CE run of the same size, then print both.
# Sized for about 10 minutes of training on 2 cores (docs/results.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
threads=${LTCL_THREADS:-$(nproc)}
build/ltcl train --config configs/quick/fmnist_bcl_rcl.yaml --threads "$threads"
build/ltcl train --config configs/quick/fmnist_ce.yaml --threads "$threads"
echo
echo "Fashion-MNIST-LT (IF 100), top-1 % on the balanced test set:"
build/ltcl compare runs/quick/fmnist_bcl_rcl runs/quick/fmnist_ce
echo
echo "Reports: runs/quick/*/metrics.json, per_class.csv, confusion.csv;"
echo "plots: runs/quick/*/per_class.png, curves.png"
