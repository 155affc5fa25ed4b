#!/usr/bin/env bash
# GPT-2 against an independent reference: knlp trains a tiny GPT-2 for a few
# steps (so biases and norm gains are no longer their init), exports it as
# safetensors and prints its logits for fixed ids (`knlp logits`);
# tests/gpt2_reference.py rebuilds the model from the file in plain PyTorch and
# must agree to 1e-5.  Args: knlp binary, venv python, source dir.
source "$(dirname "$0")/lib.sh"

"$PY" - "$WORK/data/tiny" <<'PY'
import os, sys
import numpy as np
os.makedirs(sys.argv[1])
rng = np.random.default_rng(0)
for split, n in (("train", 5000), ("val", 1000)):
    rng.integers(0, 200, n, dtype=np.uint16).tofile(os.path.join(sys.argv[1], split + ".bin"))
PY
cat >"$WORK/defconfig" <<CFG
CONFIG_MODEL_SELECT_GPT2=y
CONFIG_GPT2_MODEL_CUSTOM=y
CONFIG_GPT2_N_LAYER=2
CONFIG_GPT2_N_HEAD=3
CONFIG_GPT2_N_EMBD=48
CONFIG_GPT2_BLOCK_SIZE=32
CONFIG_GPT2_VOCAB_SIZE=256
CONFIG_GPT2_DATASET_CUSTOM=y
CONFIG_GPT2_CUSTOM_DATASET_PATH="$WORK/data/tiny"
CONFIG_GPT2_MAX_ITERS=5
CONFIG_GPT2_EVAL_INTERVAL=5
CONFIG_GPT2_EVAL_SAMPLES=2
CONFIG_BATCH_SIZE=4
CONFIG_LEARNING_RATE="0.01"
CONFIG_DEVICE="cpu"
CONFIG_TRAIN_THREADS=1
CONFIG_OUTPUT_DIR="$WORK/results"
CONFIG_LOG_LEVEL="warn"
CFG
make_config "$WORK/.config" "$WORK/defconfig"
"$KNLP" run --config "$WORK/.config" --run-dir "$WORK/run" --quiet --no-plot >/dev/null
"$KNLP" export "$WORK/run" --out "$WORK/model.safetensors" >/dev/null
IDS=17,3,199,42,42,0,128,64,5,77,31,2
"$KNLP" logits "$WORK/model.safetensors" --ids "$IDS" --out "$WORK/logits.safetensors"
"$PY" "$SRC/tests/gpt2_reference.py" "$WORK/model.safetensors" "$IDS" "$WORK/logits.safetensors"
