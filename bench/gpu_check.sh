#!/usr/bin/env bash
# GPU check, for a machine with a CUDA GPU: the three shipped experiments for 10001 steps on the GPU
# and on the CPU, their printed costs compared (|gpu - cpu| <= TOL at every printed step, the same
# predicted labels), with wall times. Installs nothing: PYTHON (default .venv/bin/python, made by
# `make install`) must already hold torch, lightning, torchmetrics, tensorboard and jsonargparse.
#   bash bench/gpu_check.sh            # STEPS=10001 TOL=1e-3 PYTHON=... to override
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$PWD/.venv/bin/python}
STEPS=${STEPS:-10001}
TOL=${TOL:-1e-3}
out=$(mktemp -d)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check: skipped, no CUDA GPU visible to torch"; exit 0
fi
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
# The study grid on both devices (STUDY_STEPS, 256 seeds, lr 0.3 and 1: at lr 3 and 10 last-bit differences
# grow chaotically), its per-copy final costs compared: |gpu - cpu| <= TOL for every copy.
study_args=(--trainer.max_steps "${STUDY_STEPS:-2001}" --model.init_args.num_copies 256 --model.init_args.lr "[0.3, 1.0]"
  --model.init_args.architectures "[[2], [4], [10, 10, 10]]" --trainer.devices 1)
for accel in cpu gpu; do
  start=$(date +%s%N)
  if ! (mkdir -p "$out/study_$accel" && cd "$out/study_$accel" && "$PYTHON" -m xor_lightning fit \
      -c "$OLDPWD/configs/study_grid.yaml" "${study_args[@]}" --trainer.accelerator "$accel" > out.txt 2> err.txt); then
    echo "study grid on $accel FAILED:"; tail -5 "$out/study_$accel/err.txt"; exit 1
  fi
  echo "study grid on $accel: $(( ($(date +%s%N) - start) / 1000000 )) ms (whole process)"
done
"$PYTHON" bench/compare_costs.py --copies "$out/study_cpu/logs/study_grid/version_0/copies.csv" \
  "$out/study_gpu/logs/study_grid/version_0/copies.csv" --tol "$TOL" || status=1
exit $status
