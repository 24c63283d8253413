#!/usr/bin/env bash
# The README's main command. Until the trainer lands this builds ltcl and
# prints the CIFAR-10-LT (IF 100) statistics of the default dataset.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
root=${LTCL_CIFAR10_ROOT:-../shared/datasets/cifar10-jpeg/train}
build/ltcl data stats --dataset folder --root "$root" --imbalance-factor 100
