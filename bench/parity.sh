#!/usr/bin/env bash
# ltcl against the independent PyTorch trainer (bench/pt_trainer.py, written
# from METHODS.md), at equal protocol: CIFAR-10-LT IF 100 from the JPEG
# folder in ../shared, ResNet-32 (option-A shortcuts, LDAM-DRW init),
# batch 256, lr 0.15, 1 warm-up epoch then cosine, wd 5e-4, momentum 0.9,
# CIFAR-10 normalisation, the test set evaluated after every epoch, no
# validation split (the published 12406-image subset, as the PyTorch
# trainer uses). LA runs 3 epochs, BCL 5 (alpha 2, beta 0.6, tau 0.1).
#
#   bench/parity.sh [RUNS...]   RUN = <trainer>:<method>:<seed>[:<init>]
#                               trainer ltcl|pt, method la|bcl,
#                               init ldam (default) | ldam_backbone (ltcl) |
#                               pytorch | from_ltcl (pt: start from the
#                               weights ltcl's ldam init draws for <seed>)
#   bench/parity.sh ltcl:bcl:0 pt:bcl:0 ltcl:la:1 pt:bcl:0:from_ltcl
#   (environment: THREADS, default 2; LTCL, the binary, default build/ltcl)
#
# Results: runs/parity/<trainer>_<method>_s<seed>_<init>.json (the PyTorch
# trainer's JSON; ltcl's run folder next to it); the table:
#   /usr/bin/python3 bench/parity_table.py runs/parity
set -euo pipefail
cd "$(dirname "$0")/.."
data=${CIFAR10_JPEG:-$(cd .. && pwd)/shared/datasets/cifar10-jpeg}
out=${PARITY_OUT:-runs/parity}
threads=${THREADS:-2}
ltcl=${LTCL:-build/ltcl}
mkdir -p "$out"
for run in "$@"; do
  IFS=: read -r trainer method seed init <<<"$run"
  init=${init:-ldam}
  epochs=5
  [ "$method" = la ] && epochs=3
  name=${trainer}_${method}_s${seed}_${init}
  if [ -e "$out/$name.done" ]; then
    echo "== $name: done already"; continue
  fi
  echo "== $name ($(date -u +%H:%M:%S))"
  ltcl_set=(data.dataset=folder "data.root=$data" data.normalization=cifar10
    data.validation=none train.select_on=last output.plots=false
    "train.seed=$seed")
  if [ "$init" = from_ltcl ]; then
    # ltcl's initial weights for this seed: one step at lr 1e-12 leaves
    # every float32 parameter as it was drawn.
    ckpt="$out/init_${method}_s${seed}"
    if [ ! -e "$ckpt/last.pt" ]; then
      "$ltcl" train --config "configs/cifar10_lt/$method.yaml" \
        --out "$ckpt" --threads "$threads" --set "${ltcl_set[@]}" \
        model.init=ldam schedule.epochs=1 schedule.warmup_epochs=0 \
        train.max_steps_per_epoch=1 optim.lr=1e-12 > "$ckpt.log" 2>&1
    fi
  fi
  if [ "$trainer" = ltcl ]; then
    "$ltcl" train --config "configs/cifar10_lt/$method.yaml" \
      --out "$out/$name" --threads "$threads" --set "${ltcl_set[@]}" \
      train.eval_every=1 "schedule.epochs=$epochs" schedule.warmup_epochs=1 \
      optim.lr=0.15 optim.batch_size=256 optim.weight_decay=0.0005 \
      "model.init=$init" > "$out/$name.log" 2>&1
  else
    init_args=(--init "$init")
    [ "$init" = from_ltcl ] && init_args=(--init-from "$ckpt/last.pt")
    /usr/bin/python3 bench/pt_trainer.py --method "$method" \
      --epochs "$epochs" --seed "$seed" "${init_args[@]}" --threads "$threads" \
      --data "$data" --out "$out/$name.json" > "$out/$name.log" 2>&1
  fi
  touch "$out/$name.done"
done
