#!/bin/bash
# Tiny MNIST-LT runs of every method with one ltcl build, for comparing two
# builds number by number (bench/method_parity.py). MNIST from ../shared.
#   bash bench/method_parity.sh OLD/ltcl /tmp/old; bash bench/method_parity.sh build/ltcl /tmp/new
#   python3 bench/method_parity.py /tmp/old /tmp/new
set -u
ltcl=$1; out=$2; mkdir -p $out
mnist=${MNIST:-$(cd "$(dirname "$0")/../.." && pwd)/shared/datasets/mnist}
for m in ce la bs focal ldam_drw supcon_la bcl bcl_rcl rcl rescom hybrid_sc hybrid_psc; do
  case $m in ce|la|bs|focal|ldam_drw) views="[cifar_weak]";; rescom) views="[cifar_weak, simclr]";; *) views="[cifar_weak, simclr, simclr]";; esac
  extra_model=""; extra_loss=""
  if [ $m = ldam_drw ]; then extra_model="  classifier: cosine
  cosine_scale: 1.0"; extra_loss="  drw_epoch: 1"; fi
  if [ $m = focal ]; then extra_loss="  focal_gamma: 1.0"; fi
  cat > $out/$m.yaml <<EOC
data:
  dataset: mnist
  root: $mnist
  imbalance_factor: 10
  profile: exp
  test_per_class: 30
  workers: 1
  views: $views
model:
  arch: resnet20
  proj_hidden: 64
  proj_dim: 32
$extra_model
loss:
  method: $m
$extra_loss
optim:
  lr: 0.1
  batch_size: 32
schedule:
  epochs: 2
  warmup_epochs: 1
train:
  threads: 1
  eval_every: 1
  max_steps_per_epoch: 8
output:
  dir: $out/run_$m
  plots: false
EOC
  $ltcl train --config $out/$m.yaml > $out/$m.log 2>&1 || echo "FAIL $m"
done
