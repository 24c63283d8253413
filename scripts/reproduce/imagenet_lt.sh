#!/usr/bin/env bash
# METHODS.md section 7, ImageNet-LT columns (ResNet-50 and ResNeXt-50,
# 90 epochs, the recipes' ImageNet-LT settings).
source "$(dirname "$0")/common.sh"
: "${IMAGENET:?set IMAGENET to the ImageNet root holding ImageNet_LT_*.txt}"
grid=model.arch=resnet50,resnext50_32x4d
lists=(data.train_list=ImageNet_LT_train.txt data.test_list=ImageNet_LT_test.txt
       data.val_list=ImageNet_LT_val.txt)
for m in ce bcl bcl_rcl rescom proco paco gpaco; do
  study "imagenet_lt/$m" "configs/imagenet_lt/$m.yaml" "$grid" \
    "data.root=$IMAGENET" "${lists[@]}"
done
cat <<'TABLE'
Published (METHODS.md section 7), top-1 % ResNet-50 / ResNeXt-50:
  CE       ~41.6 / ~44.4
  BCL       56.0 / 57.1
  ResCom    58.7 / 59.2
  BCL+RCL  claimed above BCL
  ProCo     57.3 / 58.0   (90 epochs; R50 57.8 at 180)
  PaCo      57.0 / 58.2   (400 epochs)
  GPaCo     58.5 / 58.9   (400 epochs)
TABLE
"$LTCL" compare "$OUT/$PROTOCOL"/imagenet_lt/*/*
