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
#                               init ldam (default) | pytorch
#   bench/parity.sh ltcl:bcl:0 pt:bcl:0 ltcl:la:1
#
# Results: runs/parity/<trainer>_<method>_s<seed>_<init>.json (the PyTorch
# trainer's JSON; ltcl's run folder next to it); the table:
#   /usr/bin/python3 bench/parity_table.py runs/parity
set -euo pipefail
cd "$(dirname "$0")/.."
data=${CIFAR10_JPEG:-$(cd .. && pwd)/shared/datasets/cifar10-jpeg}
out=${PARITY_OUT:-runs/parity}
threads=${THREADS:-2}
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
  if [ "$trainer" = ltcl ]; then
    build/ltcl train --config "configs/cifar10_lt/$method.yaml" \
      --out "$out/$name" --threads "$threads" --set \
      data.dataset=folder "data.root=$data" data.normalization=cifar10 \
      data.validation=none train.select_on=last train.eval_every=1 \
      "schedule.epochs=$epochs" schedule.warmup_epochs=1 \
      optim.lr=0.15 optim.batch_size=256 optim.weight_decay=0.0005 \
      "train.seed=$seed" "model.init=$init" output.plots=false \
      > "$out/$name.log" 2>&1
  else
    /usr/bin/python3 bench/pt_trainer.py --method "$method" \
      --epochs "$epochs" --seed "$seed" --init "$init" --threads "$threads" \
      --data "$data" --out "$out/$name.json" > "$out/$name.log" 2>&1
  fi
  touch "$out/$name.done"
done
