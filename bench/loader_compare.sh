#!/usr/bin/env bash
# ltcl's loader against torchvision's on the same 3-view BCL pipeline
# (cifar_weak, simclr, simclr) over a JPEG image folder, one after the other
# in one run (running them at once would split the cores between them).
# Prints both rates (images/s, every view counted) and their ratio.
#
#   bench/loader_compare.sh [ROOT] [SECONDS] [THREADS]
# ROOT defaults to ../shared/datasets/cifar10-jpeg/train, SECONDS to 20,
# THREADS (ltcl threads = torchvision num_workers) to 2. Needs build/ltcl
# (scripts/setup.sh --bench) and /usr/bin/python3 with torchvision.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${1:-../shared/datasets/cifar10-jpeg/train}
SECONDS_EACH=${2:-20}
THREADS=${3:-2}
LTCL=${LTCL:-build/ltcl}
[[ -x $LTCL ]] || { echo "loader_compare: $LTCL not built (scripts/setup.sh --bench)" >&2; exit 1; }
[[ -d $ROOT ]] || { echo "loader_compare: no folder $ROOT" >&2; exit 1; }

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ltcl bench loader: cold (decoding every JPEG) ..."
ltcl_cold=$("$LTCL" bench loader --dataset folder --root "$ROOT" \
  --views cifar_weak,simclr,simclr --batch-size 256 --threads "$THREADS" \
  --seconds "$SECONDS_EACH" --json)
echo "$ltcl_cold"
echo "ltcl bench loader: with the decode cache ..."
ltcl_cache=$("$LTCL" bench loader --dataset folder --root "$ROOT" \
  --views cifar_weak,simclr,simclr --batch-size 256 --threads "$THREADS" \
  --seconds "$SECONDS_EACH" --cache --json)
echo "$ltcl_cache"
echo "torchvision 0.14 + PIL DataLoader(num_workers=$THREADS) ..."
tv=$(/usr/bin/python3 bench/loader_torchvision.py --root "$ROOT" \
  --workers "$THREADS" --seconds "$SECONDS_EACH")
echo "$tv"

/usr/bin/python3 - "$ltcl_cold" "$ltcl_cache" "$tv" <<'PY'
import json, sys
cold, cache, tv = (json.loads(s) for s in sys.argv[1:4])
t = tv["images_per_s"]
print(f"torchvision        {t:10.1f} images/s")
print(f"ltcl (decode)      {cold['images_per_s']:10.1f} images/s   x{cold['images_per_s'] / t:.2f}")
print(f"ltcl (cached)      {cache['images_per_s']:10.1f} images/s   x{cache['images_per_s'] / t:.2f}")
PY
