#!/usr/bin/env bash
# GPU check, for a machine with a CUDA GPU: the three shipped experiments for 10001 steps on the GPU
# and on the CPU, their printed costs compared (|gpu - cpu| <= TOL at every printed step, the same
# predicted labels), with wall times. Installs nothing: PYTHON (default .venv/bin/python, made by
# `make install`) must already hold torch, lightning, torchmetrics, tensorboard and jsonargparse.
#   bash bench/gpu_check.sh            # STEPS=10001 TOL=1e-3 PYTHON=... to override
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
STEPS=${STEPS:-10001}
TOL=${TOL:-1e-3}
out=$(mktemp -d)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible to torch')"
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'on', torch.cuda.get_device_name(0))"
status=0
for config in xor_nn xor_nn_wide_deep xor_backprop; do
  for accel in cpu gpu; do
    start=$(date +%s%N)
    if ! "$PYTHON" -m xor_lightning fit -c "configs/$config.yaml" --trainer.accelerator "$accel" \
        --trainer.devices 1 --trainer.max_steps "$STEPS" --trainer.logger.init_args.save_dir "$out/logs" \
        > "$out/$config.$accel.txt" 2> "$out/$config.$accel.err"; then
      echo "$config on $accel FAILED:"; tail -5 "$out/$config.$accel.err"; status=1; continue 2
    fi
    echo "$config on $accel: $(( ($(date +%s%N) - start) / 1000000 )) ms for $STEPS steps (whole process)"
  done
  "$PYTHON" bench/compare_costs.py "$out/$config.cpu.txt" "$out/$config.gpu.txt" --tol "$TOL" || status=1
done
exit $status
