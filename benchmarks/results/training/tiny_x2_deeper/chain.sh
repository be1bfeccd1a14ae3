#!/usr/bin/env bash
# tiny-x2-deeper's stages one after another, each resumable: run it again after any interruption
# and it continues the stage it was in (a finished stage returns at once).
#   bash benchmarks/results/training/tiny_x2_deeper/chain.sh RUNS_DIR [DATA_DIR]
# L1 (tiny_x2_deeper.yaml; its cosine was cut from 45,000 to 27,500 steps at step 10,000, then to
# 22,500 at step 12,500, to end inside a session), then MSE on 128-px patches (3,000 steps), then
# quantisation-aware MSE (3,000 steps), then eval (Set5/Set14/BSD100) and the INT8 export.
set -euo pipefail
RUNS=${1:?usage: chain.sh RUNS_DIR [DATA_DIR]}
DATA=${2:-../shared/data}
T=$DATA/train
TRAIN=(--data "$T/bsds400" --data "$T/div2k_resized18" --data "$T/pexels" --data "$T/t91"
       --val "$DATA/val/Set5" --cache "$RUNS/cache")
SHAPE=(--set model.name=tiny-x2-deeper --set model.params.convs=10)
last() { ls -d "$1"/checkpoints/step_* | sort | tail -1; }
sr-stream train tiny_x2_deeper "${TRAIN[@]}" --out "$RUNS/tiny_x2_deeper" --resume --set phases.0.steps=22500
stage() {  # stage RECIPE OUT FROM: a 3,000-step stage of the 16 x 10 net, started from FROM's last checkpoint
  local args=("$1" "${TRAIN[@]}" "${SHAPE[@]}" --set phases.0.steps=3000 --out "$RUNS/$2")
  if [ -f "$RUNS/$2/recipe.yaml" ]; then sr-stream train "${args[@]}" --resume
  else sr-stream train "${args[@]}" --init "$(last "$RUNS/$3")"; fi
}
stage tiny_x2_deep_mse tiny_x2_deeper_mse tiny_x2_deeper
stage tiny_x2_deep_qat tiny_x2_deeper_qat tiny_x2_deeper_mse
FINAL=$(last "$RUNS/tiny_x2_deeper_qat")
python benchmarks/eval_checkpoint.py "$FINAL" --val "$DATA/val/Set5" --val "$DATA/val/Set14" \
  --val "$DATA/val/BSD100" --json "$RUNS/tiny_x2_deeper_qat/eval.json"
mkdir -p "$RUNS/tiny_x2_deeper_export"
sr-stream export "$FINAL" -o "$RUNS/tiny_x2_deeper_export/tiny-x2-deeper.onnx" --name tiny-x2-deeper --int8 \
  --calib "$T/bsds400" --val "$DATA/val/Set5" --safetensors 2>&1 | tee "$RUNS/tiny_x2_deeper_export/export.log"
