#!/usr/bin/env bash
# The fixture of python.tensorboard_readback: a virtual environment with the
# tensorboard pip package (not in Debian), made once per build folder.
#   tests/util/tb_venv.sh <python3> <venv folder>
# Exit 0: ready. Exit 77 (CTest: Skipped, with the reason printed) where the
# venv cannot be made, e.g. no network to reach the package index. Exit 1
# where it was made but tensorboard does not import: a real failure.
set -uo pipefail
python=$1
venv=$2
version() {
  "$venv/bin/python" -c 'import tensorboard; print(tensorboard.__version__)'
}

if [[ -x "$venv/bin/python" ]] &&
   "$venv/bin/python" -c "import tensorboard" 2>/dev/null; then
  echo "tb_venv: $venv has tensorboard $(version)"
  exit 0
fi

skip() {
  {
    echo "=================================================================="
    echo "SKIPPED: cannot make $venv with the tensorboard pip package:"
    echo "  $1"
    echo "python.tensorboard_readback will be SKIPPED too (TensorBoard's own"
    echo "reader is not checked; test_util_tensorboard still checks the"
    echo "format). Needs $python -m venv (python3-venv) and pip's index."
    echo "=================================================================="
  } >&2
  exit 77
}

"$python" -m venv --system-site-packages "$venv" ||
  skip "'$python -m venv --system-site-packages $venv' failed"
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet \
  tensorboard || skip "'pip install tensorboard' failed (no network?)"
if ! "$venv/bin/python" -c "import tensorboard"; then
  echo "tb_venv: tensorboard was installed into $venv but does not import" >&2
  exit 1
fi
echo "tb_venv: installed tensorboard $(version) into $venv"
