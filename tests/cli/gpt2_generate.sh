#!/usr/bin/env bash
# `knlp generate` on a tiny byte-level GPT-2 that has learned one sentence: the
# greedy continuation of "The kernel" is the sentence; a bad checkpoint name
# is a usage error.  Args: knlp binary, venv python, source dir.
source "$(dirname "$0")/lib.sh"

"$PY" - "$WORK/data/bytes" <<'PY'
import json, os, sys
import numpy as np
os.makedirs(sys.argv[1])
text = ("The kernel schedules tasks. " * 400).encode()
ids = np.frombuffer(text, dtype=np.uint8).astype(np.uint16)
ids[:-2000].tofile(os.path.join(sys.argv[1], "train.bin"))
ids[-2000:].tofile(os.path.join(sys.argv[1], "val.bin"))
json.dump({"tokenizer": {"name": "byte"}}, open(os.path.join(sys.argv[1], "manifest.json"), "w"))
PY
cat >"$WORK/defconfig" <<CFG
CONFIG_MODEL_SELECT_GPT2=y
CONFIG_GPT2_MODEL_CUSTOM=y
CONFIG_GPT2_N_LAYER=2
CONFIG_GPT2_N_HEAD=2
CONFIG_GPT2_N_EMBD=64
CONFIG_GPT2_BLOCK_SIZE=32
CONFIG_GPT2_TOKENIZER_BYTE=y
CONFIG_GPT2_DROPOUT="0.0"
CONFIG_GPT2_DATASET_CUSTOM=y
CONFIG_GPT2_CUSTOM_DATASET_PATH="$WORK/data/bytes"
CONFIG_GPT2_MAX_ITERS=500
CONFIG_GPT2_WARMUP_STEPS=10
CONFIG_GPT2_EVAL_INTERVAL=500
CONFIG_GPT2_EVAL_SAMPLES=2
CONFIG_BATCH_SIZE=8
CONFIG_LEARNING_RATE="0.01"
CONFIG_GPT2_MIN_LR="0.001"
CONFIG_DEVICE="cpu"
CONFIG_TRAIN_THREADS=1
CONFIG_OUTPUT_DIR="$WORK/results"
CONFIG_LOG_LEVEL="warn"
CFG
make_config "$WORK/.config" "$WORK/defconfig"
"$KNLP" run --config "$WORK/.config" --run-dir "$WORK/run" --quiet --no-plot >/dev/null
out=$("$KNLP" generate "$WORK/run" --prompt "The kernel" --max-tokens 40 --temperature 0)
echo "generated: $out"
case "$out" in
"The kernel schedules tasks. The kernel sch"*) ;;
*) echo "FAIL: expected the learned sentence" >&2; exit 1 ;;
esac
# Sampling with the run's defaults (temperature 0.8, top-k 200) prints text too.
[ -n "$("$KNLP" generate "$WORK/run" --prompt "The kernel" --max-tokens 10 --seed 3)" ]
set +e
"$KNLP" generate "$WORK/run" --prompt x --checkpoint newest 2>"$WORK/err"
rc=$?
set -e
[ "$rc" -eq 2 ] || { echo "FAIL: exit $rc for a bad checkpoint name" >&2; exit 1; }
grep -q "accepted: best, last" "$WORK/err"
echo ok
