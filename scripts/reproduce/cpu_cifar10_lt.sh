#!/usr/bin/env bash
# CE, LDAM-DRW and Balanced Softmax on CIFAR-10-LT (IF 100), the published
# recipe (ResNet-32, 200 epochs, batch 128, lr 0.1, 5 warm-up epochs, lr
# x0.01 at 160 and x0.0001 at 180, wd 2e-4, crop + flip: kaidic/LDAM-DRW's
# cifar_train.py; the configs say where each value comes from), on the CPU,
# in both protocols, then the table beside the published figures.
#
#   scripts/reproduce/cpu_cifar10_lt.sh            # all of it, resumable
#   JOBS=2 scripts/reproduce/cpu_cifar10_lt.sh     # two studies at once, 1 thread each
#   TABLE_ONLY=1 scripts/reproduce/cpu_cifar10_lt.sh
#
# Each (protocol, method) is one `ltcl study`: a finished run is skipped and
# one with last.pt resumes, so the same command continues after a kill, a
# reboot or Ctrl-C. Environment:
#   CIFAR10    the data: a folder holding cifar-10-batches-py or -bin (the
#              original files), or train/<class>/ + test/<class>/ images;
#              default ../shared/datasets/cifar10-jpeg (JPEG, ~30.5 dB PSNR)
#   METHODS    default "ce ldam_drw bs"
#   PROTOCOLS  default "papers ltcl": papers = the full published subset,
#              best test-set epoch (as the papers' code does); ltcl = the
#              checkpoint selected on the validation set (50 images a class)
#   SEEDS      default 0 (e.g. 0,1,2)
#   JOBS       studies at once (default 1); with 2 each gets one thread and
#              writes its progress to <OUT>/<protocol>/<method>.log
#   THREADS    threads per study (default: all cores / JOBS)
#   EVAL_EVERY evaluate every N epochs (default 1, as the papers' code: the
#              best-of-N selection depends on it)
#   OUT        default runs/reproduce_cpu;  LTCL  default build/ltcl
#   NICE       niceness of the studies (default 10)
#   EXTRA      more key=value overrides, appended last (e.g. a tiny recipe);
#              EXTRA_<method> (e.g. EXTRA_ldam_drw) for one method only
set -euo pipefail
# Paths the caller gives are relative to where it runs; the defaults to the
# repository root.
for v in CIFAR10 OUT LTCL; do
  if [ -n "${!v:-}" ] && [ "${!v:0:1}" != / ]; then
    printf -v "$v" '%s' "$PWD/${!v}"
  fi
done
cd "$(dirname "$0")/../.."
LTCL=${LTCL:-build/ltcl}
CIFAR10=${CIFAR10:-../shared/datasets/cifar10-jpeg}
METHODS=${METHODS:-ce ldam_drw bs}
PROTOCOLS=${PROTOCOLS:-papers ltcl}
SEEDS=${SEEDS:-0}
JOBS=${JOBS:-1}
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || { echo "cpu_cifar10_lt.sh: JOBS must be a whole number >= 1, got '$JOBS'" >&2; exit 1; }
THREADS=${THREADS:-$(( $(nproc) / JOBS > 0 ? $(nproc) / JOBS : 1 ))}
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || { echo "cpu_cifar10_lt.sh: THREADS must be a whole number >= 1, got '$THREADS'" >&2; exit 1; }
EVAL_EVERY=${EVAL_EVERY:-1}
OUT=${OUT:-runs/reproduce_cpu}
NICE=${NICE:-10}
read -r -a extra <<< "${EXTRA:-}"

if [ -d "$CIFAR10/cifar-10-batches-py" ] || [ -d "$CIFAR10/cifar-10-batches-bin" ]; then
  data_sets=(data.dataset=cifar10 "data.root=$CIFAR10")
  data_label="CIFAR-10 (original files, $CIFAR10)"
elif [ -d "$CIFAR10/train" ] && [ -d "$CIFAR10/test" ]; then
  data_sets=(data.dataset=folder "data.root=$CIFAR10" data.normalization=cifar10)
  data_label="CIFAR-10 as image files ($CIFAR10)"
  case "$CIFAR10" in *jpeg*|*jpg*)
    data_label="CIFAR-10 (JPEG, ~30.5 dB PSNR against the original pixels: $CIFAR10)";;
  esac
else
  echo "cpu_cifar10_lt.sh: CIFAR10=$CIFAR10 holds neither cifar-10-batches-{py,bin} nor train/ + test/" >&2
  exit 1
fi

for m in $METHODS; do
  [ -f "configs/cifar10_lt/$m.yaml" ] || { echo "cpu_cifar10_lt.sh: no recipe configs/cifar10_lt/$m.yaml" >&2; exit 1; }
done
for p in $PROTOCOLS; do
  case "$p" in papers|ltcl) ;; *) echo "cpu_cifar10_lt.sh: unknown protocol '$p' (papers, ltcl)" >&2; exit 1;; esac
done

# run_study PROTOCOL METHOD
run_study() {
  local p=$1 m=$2 sets=() more=()
  [ "$p" = papers ] && sets=(data.validation=none train.select_on=test)
  local var="EXTRA_$m"
  read -r -a more <<< "${!var:-}"
  mkdir -p "$OUT/$p"
  nice -n "$NICE" "$LTCL" study --config "configs/cifar10_lt/$m.yaml" \
    --seeds "$SEEDS" --out "$OUT/$p/$m" --set "${data_sets[@]}" "${sets[@]}" \
    "train.threads=$THREADS" "train.eval_every=$EVAL_EVERY" "${extra[@]}" \
    "${more[@]}"
}

if [ -z "${TABLE_ONLY:-}" ]; then
  echo "cpu_cifar10_lt.sh: $data_label; methods: $METHODS; protocols: $PROTOCOLS; seeds $SEEDS; $JOBS at once, $THREADS thread(s) each; out $OUT"
  failed=0
  if [ "$JOBS" -le 1 ]; then
    for p in $PROTOCOLS; do for m in $METHODS; do
      run_study "$p" "$m" || failed=1
    done; done
  else
    running=0
    for p in $PROTOCOLS; do for m in $METHODS; do
      if [ "$running" -ge "$JOBS" ]; then wait -n || failed=1; running=$((running - 1)); fi
      mkdir -p "$OUT/$p"
      echo "cpu_cifar10_lt.sh: $p/$m -> $OUT/$p/$m.log"
      run_study "$p" "$m" >> "$OUT/$p/$m.log" 2>&1 &
      running=$((running + 1))
    done; done
    while [ "$running" -gt 0 ]; do wait -n || failed=1; running=$((running - 1)); done
  fi
  if [ "$failed" -ne 0 ]; then
    echo "cpu_cifar10_lt.sh: a study stopped or failed (run the same command to continue); the table so far:" >&2
  fi
fi

/usr/bin/env python3 scripts/reproduce/cpu_table.py --out "$OUT" --data "$data_label" \
  --methods "$METHODS" --protocols "$PROTOCOLS"
[ "${failed:-0}" -eq 0 ]
