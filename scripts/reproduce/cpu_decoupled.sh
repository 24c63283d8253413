#!/usr/bin/env bash
# The decoupled family on a CE stage 1 (METHODS.md section 8), over seeds:
#   1. stage 1: `ltcl study` of configs/<DATASET>/ce.yaml;
#   2. on each seed's best.pt: `ltcl adjust` tau_norm and posthoc_la with tau
#      chosen on the validation set (never the test set), and ncm, each then
#      evaluated on the test set by `ltcl eval`;
#   3. stage 2: `ltcl study` of configs/<DATASET>/crt.yaml and lws.yaml, each
#      seed on its own stage 1 (model.init_from=.../seed{seed}/best.pt);
#   4. the table: top-1 and many / medium / few per method (mean +- std over
#      seeds) and each method's paired difference from its stage 1.
# A finished step is skipped and a stopped study resumes, so the same
# command continues after an interruption.
#
#   scripts/reproduce/cpu_decoupled.sh
#   DATASET=mnist_lt SEEDS=0,1,2 scripts/reproduce/cpu_decoupled.sh
#
# Environment:
#   DATASET   configs/<DATASET>/{ce,crt,lws}.yaml (default cifar10_lt)
#   DATA      data key=value overrides for every run (default for
#             cifar10_lt: the CIFAR-10 JPEG folder of ../shared)
#   SEEDS     default 0,1,2
#   STAGE1    more overrides of stage 1 (e.g. a shorter schedule)
#   STAGE2    more overrides of cRT and LWS
#   METHODS   default "tau_norm posthoc_la ncm crt lws"
#   OUT       default runs/decoupled_cpu/<DATASET>;  LTCL  default build/ltcl
#   THREADS   train.threads (default: all cores);  NICE  default 10
set -euo pipefail
for v in OUT LTCL; do
  if [ -n "${!v:-}" ] && [ "${!v:0:1}" != / ]; then
    printf -v "$v" '%s' "$PWD/${!v}"
  fi
done
cd "$(dirname "$0")/../.."
DATASET=${DATASET:-cifar10_lt}
LTCL=${LTCL:-build/ltcl}
SEEDS=${SEEDS:-0,1,2}
METHODS=${METHODS:-tau_norm posthoc_la ncm crt lws}
OUT=${OUT:-runs/decoupled_cpu/$DATASET}
THREADS=${THREADS:-$(nproc)}
NICE=${NICE:-10}
if [ -z "${DATA+x}" ]; then
  case "$DATASET" in
    cifar10_lt) DATA="data.dataset=folder data.root=../shared/datasets/cifar10-jpeg data.normalization=cifar10";;
    *) DATA="";;
  esac
fi
read -r -a data <<< "$DATA"
read -r -a stage1 <<< "${STAGE1:-}"
read -r -a stage2 <<< "${STAGE2:-}"
for f in ce crt lws; do
  [ -f "configs/$DATASET/$f.yaml" ] || { echo "cpu_decoupled.sh: no recipe configs/$DATASET/$f.yaml" >&2; exit 1; }
done
for m in $METHODS; do
  case "$m" in tau_norm|posthoc_la|ncm|crt|lws) ;;
    *) echo "cpu_decoupled.sh: unknown method '$m' (tau_norm posthoc_la ncm crt lws)" >&2; exit 1;;
  esac
done
[ -x "$LTCL" ] || { echo "cpu_decoupled.sh: no ltcl binary at $LTCL (build first: scripts/setup.sh)" >&2; exit 1; }
IFS=, read -r -a seeds <<< "$SEEDS"
run() { nice -n "$NICE" "$LTCL" "$@"; }

echo "cpu_decoupled.sh: $DATASET, seeds $SEEDS, methods $METHODS, out $OUT"
run study --config "configs/$DATASET/ce.yaml" --seeds "$SEEDS" --out "$OUT/ce" \
  --set "${data[@]}" "train.threads=$THREADS" "${stage1[@]}"

for m in $METHODS; do
  case "$m" in
    tau_norm|posthoc_la|ncm)
      for s in "${seeds[@]}"; do
        dir="$OUT/$m/seed$s"
        [ -f "$dir/metrics.json" ] && continue
        mkdir -p "$dir"
        tau=(--adjust-tau auto)
        [ "$m" = ncm ] && tau=()
        run adjust --checkpoint "$OUT/ce/base/seed$s/best.pt" --adjust "$m" \
          "${tau[@]}" --out "$dir/model.pt" --json > "$dir/adjust.json"
        run eval --checkpoint "$dir/model.pt" --split test --out "$dir" > "$dir/eval.txt"
      done;;
    crt|lws)
      run study --config "configs/$DATASET/$m.yaml" --seeds "$SEEDS" --out "$OUT/$m" \
        --set "model.init_from=$OUT/ce/base/seed{seed}/best.pt" "${data[@]}" \
        "train.threads=$THREADS" "${stage2[@]}";;
  esac
done

/usr/bin/env python3 scripts/reproduce/decoupled_table.py --out "$OUT" \
  --seeds "$SEEDS" --methods "$METHODS"
