#!/usr/bin/env bash
# `make interop`: MONAI's own pipeline and `segviz infer` must give the same masks (Dice >= 0.99 per organ) on
# demo-like models (single and heads) and the real CT in ../shared/data. Installs torch, monai, nibabel, scikit-image (MONAI's KeepLargestConnectedComponent) and
# safetensors from PyPI into a throwaway virtual environment (about 6 GB: PyPI's torch wheel brings CUDA
# libraries), removed at the end. Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
SHARED=${SEGVIZ_SHARED:-$(cd .. && pwd)/shared}
CT=${INTEROP_CT:-$SHARED/data/real-ct-abdomen-3mm.nii.gz}
T0=$(date +%s)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/segviz-interop.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

echo "interop: throwaway venv in $WORK/venv (torch, monai, nibabel, safetensors from PyPI)"
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet --disable-pip-version-check torch monai nibabel safetensors numpy scikit-image
"$WORK/venv/bin/python" -c "import torch, monai; print('interop: torch', torch.__version__, 'monai', monai.__version__)"

# The debug build, as `make test` builds it (Tensor, NN and Imaging are optimised there too).
$SWIFT build --product segviz
BIN=.build/debug/segviz
status=0
for strategy in single heads; do
  echo "interop: demo-like federation, strategy $strategy"
  demo="$WORK/demo-$strategy"
  if [ "$strategy" = single ]; then
    "$BIN" demo --workdir "$demo" --strategy single --rounds "${INTEROP_ROUNDS:-4}" \
      --local-epochs "${INTEROP_EPOCHS:-3}" --cases 4 --external-cases 2 > "$demo.log" 2>&1 \
      || { tail -20 "$demo.log"; exit 1; }
    tail -1 "$demo.log"
  else
    # The demo's sites are liver, spleen, liver: the spleen head has one contributor per round, which secure
    # aggregation refuses to disclose, so no heads round completes there. Its signed round-0 model (the
    # federation's initial heads model, same architecture) is what gets compared.
    "$BIN" demo --workdir "$demo" --strategy heads --rounds 1 --local-epochs 1 --cases 2 --external-cases 1 \
      > "$demo.log" 2>&1 || true
  fi
  model=$(ls "$demo"/state/models/global-r*.safetensors | tail -1)
  pub="$demo/keys/aggregator.pub"
  echo "interop: model $model"
  "$BIN" export --model "$model" --pubkey "$pub" --out "$WORK/export-$strategy"
  "$BIN" infer --model "$model" --pubkey "$pub" --input "$CT" --output "$WORK/segviz-$strategy.nii.gz"
  "$WORK/venv/bin/python" scripts/interop.py "$WORK/export-$strategy" "$CT" "$WORK/segviz-$strategy.nii.gz" "$strategy" \
    || status=1
done
echo "interop: $([ $status = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - T0 )) s"
exit $status
