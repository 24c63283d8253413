#!/usr/bin/env bash
# RCL ablation (METHODS.md section 3): each RCL switch on top of BCL, then
# sweeps of the feature scale s and the largest tail margin m_max, on one
# protocol: the main job's recipe (configs/quick/fmnist_bcl_rcl.yaml,
# Fashion-MNIST-LT IF 100, ResNet-20, full batches; another with CONFIG=)
# shortened to EPOCHS (default 3) epochs, with only the RCL keys changed.
# Prints a markdown table of top-1 / many / medium per run (mean over the
# seeds given) and leaves every run under runs/ablation/ (OUT=). Figures and
# their reading: docs/results.md, "RCL ablation".
#
#   bash bench/rcl_ablation.sh [seeds...]      # default: 0
#   SWEEPS=0 bash bench/rcl_ablation.sh 0 1    # the switch table only
#   CONFIG=configs/cifar10_lt/bcl_rcl.yaml EPOCHS=200 bash bench/rcl_ablation.sh 0 1 2
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=("$@")
[[ $# -eq 0 ]] && seeds=(0)
cfg=${CONFIG:-configs/quick/fmnist_bcl_rcl.yaml}
threads=${LTCL_THREADS:-$(nproc)}
epochs=${EPOCHS:-3}
out=${OUT:-runs/ablation}
mkdir -p "$out"

# name | --set arguments (RCL keys only; s = feature_scale, m = margin_max)
runs=(
  "BCL (b 0, s 1, m 0)|loss.balance=0 loss.feature_scale=1 loss.margin_max=0"
  "BCL + balance (b 1)|loss.balance=1 loss.feature_scale=1 loss.margin_max=0"
  "BCL + scale (s 1.5)|loss.balance=0 loss.feature_scale=1.5 loss.margin_max=0"
  "BCL + margin (m 0.1)|loss.balance=0 loss.feature_scale=1 loss.margin_max=0.1"
  "BCL + RCL (b 1, s 1.5, m 0.1)|loss.balance=1 loss.feature_scale=1.5 loss.margin_max=0.1"
)
if [[ ${SWEEPS:-1} == 1 ]]; then
  runs+=(
    "BCL + RCL, s 1|loss.balance=1 loss.feature_scale=1 loss.margin_max=0.1"
    "BCL + RCL, s 2|loss.balance=1 loss.feature_scale=2 loss.margin_max=0.1"
    "BCL + RCL, s 3|loss.balance=1 loss.feature_scale=3 loss.margin_max=0.1"
    "BCL + RCL, m 0|loss.balance=1 loss.feature_scale=1.5 loss.margin_max=0"
    "BCL + RCL, m 0.2|loss.balance=1 loss.feature_scale=1.5 loss.margin_max=0.2"
    "BCL + RCL, m 0.5|loss.balance=1 loss.feature_scale=1.5 loss.margin_max=0.5"
  )
fi

echo "| run | seeds | top-1 | many | medium | per seed top-1 |"
echo "|---|---|---|---|---|---|"
for entry in "${runs[@]}"; do
  name=${entry%%|*}
  sets=()
  for kv in ${entry#*|}; do sets+=(--set "$kv"); done
  dirs=()
  for seed in "${seeds[@]}"; do
    tag=$(echo "${entry#*|}" | tr ' =' '_-')
    dir="$out/e${epochs}_${tag}_seed$seed"
    if [[ ! -f "$dir/metrics.json" ]]; then
      build/ltcl train --config "$cfg" --threads "$threads" --out "$dir" \
        "${sets[@]}" --set train.seed="$seed" --set output.plots=false \
        --set schedule.epochs="$epochs" --set train.eval_every="$epochs" \
        > "$dir.log" 2>&1 || { echo "failed: $dir (see $dir.log)" >&2; exit 1; }
    fi
    dirs+=("$dir")
  done
  python3 - "$name" "${dirs[@]}" <<'PY'
import json, sys
name, dirs = sys.argv[1], sys.argv[2:]
ms = [json.load(open(d + "/metrics.json")) for d in dirs]
mean = lambda k: sum(m[k] for m in ms) / len(ms)
per = " / ".join(f"{m['top1']:.2f}" for m in ms)
print(f"| {name} | {len(ms)} | {mean('top1'):.2f} | {mean('many'):.2f} | "
      f"{mean('medium'):.2f} | {per} |")
PY
done
