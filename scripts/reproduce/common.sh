# Shared by the reproduce scripts: study one recipe over the seeds and the
# table's grid, on the GPU, in the chosen protocol.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
SEEDS=${SEEDS:-0,1,2}
OUT=${OUT:-runs/reproduce}
DEVICE=${DEVICE:-cuda}
PROTOCOL=${PROTOCOL:-ltcl}
LTCL=${LTCL:-build/ltcl}
protocol_sets=()
if [ "$PROTOCOL" = papers ]; then
  protocol_sets=(data.validation=none train.select_on=test)
fi
# study NAME CONFIG GRID [key=value ...]
study() {
  local name=$1 config=$2 grid=$3
  shift 3
  "$LTCL" study --config "$config" --seeds "$SEEDS" --grid "$grid" \
    --out "$OUT/$PROTOCOL/$name" --set "train.device=$DEVICE" \
    "${protocol_sets[@]}" "$@" ${EXTRA:-}
}
