#!/usr/bin/env bash
# GPT-2 against an independent reference, as llm.c's test_gpt2.c: knlp trains
# a GPT-2 of 4 layers with the BPE vocabulary (50257 tokens, 64 wide) for a
# few steps on BPE-tokenized text (so biases and norm gains are no longer
# their init) and exports it as safetensors; `knlp logits` then writes, for a
# batch of 4 rows of 32 tokens, the logits, the loss, every parameter's
# gradient and the losses of 10 AdamW steps (make_optimizer's groups);
# tests/gpt2_reference.py rebuilds the model from the file in plain float64
# PyTorch and must agree with all of it (tolerances there). Then the bad
# inputs of `knlp logits`: one line, exit 2. Args: knlp binary, venv python,
# source dir. Exit 77 (skipped) without the GPT-2 vocabulary beside the tree.
source "$(dirname "$0")/lib.sh"
VOCAB=$SRC/../shared/data/gpt2
if [ ! -f "$VOCAB/encoder.json" ]; then
	echo "SKIP: no GPT-2 vocabulary in $VOCAB"
	exit 77
fi

cat >"$WORK/text.txt" <<'TXT'
The scheduler picks the next task to run on each CPU. A task that sleeps on a
wait queue gives up its CPU until an interrupt or another task wakes it; the
scheduler then puts it back on a run queue, and the load balancer may move it
to an idle CPU. Memory is handed out in pages by the buddy allocator, and the
slab caches carve those pages into objects of one size, so that a driver which
allocates many small structures does not fragment the free lists. When memory
runs short, kswapd writes dirty pages back and reclaims clean ones, oldest first.
TXT
"$KNLP" tokenize --vocab-dir "$VOCAB" "$WORK/text.txt" >"$WORK/ids.txt"
# Train and val from the text repeated; the parity batch is 4 windows of 32 ids
# and their next ids, from different offsets.
"$PY" - "$WORK/ids.txt" "$WORK/data/bpe" "$WORK/batch" <<'PY'
import json, os, sys
import numpy as np
text = np.array([int(i) for i in open(sys.argv[1]).read().split(",")], dtype=np.uint16)
os.makedirs(sys.argv[2])
np.tile(text, 40).tofile(os.path.join(sys.argv[2], "train.bin"))
np.tile(text, 8).tofile(os.path.join(sys.argv[2], "val.bin"))
json.dump({"tokenizer": {"name": "gpt2"}}, open(os.path.join(sys.argv[2], "manifest.json"), "w"))
rows = [np.tile(text, 2)[o:o + 33] for o in (0, 19, 40, 77)]
with open(sys.argv[3], "w") as f:
    f.write(",".join(str(i) for r in rows for i in r[:-1]) + "\n")
    f.write(",".join(str(i) for r in rows for i in r[1:]) + "\n")
PY
{ read -r IDS; read -r TARGETS; } <"$WORK/batch"
cat >"$WORK/defconfig" <<CFG
CONFIG_MODEL_SELECT_GPT2=y
CONFIG_GPT2_MODEL_CUSTOM=y
CONFIG_GPT2_N_LAYER=4
CONFIG_GPT2_N_HEAD=4
CONFIG_GPT2_N_EMBD=64
CONFIG_GPT2_BLOCK_SIZE=32
CONFIG_GPT2_VOCAB_SIZE=50257
CONFIG_GPT2_VOCAB_DIR="$VOCAB"
CONFIG_GPT2_DATASET_CUSTOM=y
CONFIG_GPT2_CUSTOM_DATASET_PATH="$WORK/data/bpe"
CONFIG_GPT2_MAX_ITERS=5
CONFIG_GPT2_WARMUP_STEPS=2
CONFIG_GPT2_EVAL_INTERVAL=5
CONFIG_GPT2_EVAL_SAMPLES=1
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

# lr * wd = 1e-3 per step, so that ten steps show the decay groups (the
# reference checks that wrong groups would miss); one thread each, as the
# trainer here: OpenMP threads that spin on shared cores run several times slower.
STEPS=10 LR=0.001 WD=1.0
"$KNLP" logits "$WORK/model.safetensors" --ids "$IDS" --batch 4 --targets "$TARGETS" --grads \
	--adamw-steps $STEPS --lr $LR --weight-decay $WD --threads 1 --out "$WORK/knlp.safetensors"
if "$PY" "$SRC/tests/gpt2_reference.py" "$WORK/model.safetensors" "$WORK/knlp.safetensors" \
	--ids "$IDS" --batch 4 --targets "$TARGETS" --steps $STEPS --lr $LR --weight-decay $WD \
	--threads 1; then
	pass "logits, loss, gradients and $STEPS AdamW steps match the float64 reference"
else
	fail "knlp and the float64 reference disagree (table above)"
fi

# Bad inputs: one line naming the flag, exit 2 (CLI11's range checks add its
# "Run with --help" line, as for every subcommand).
M=$WORK/model.safetensors
bad() {
	local what=$1 msg=$2
	shift 2
	expect_exit 2 "$what" -- "$KNLP" logits "$M" "$@" --out "$WORK/bad.safetensors"
	expect_stderr "$msg"
	case $msg in *"not in range"*) ;; *) [ "$(wc -l <"$WORK/err")" -eq 1 ] ||
		fail "$what: more than one line on stderr: $(cat "$WORK/err")" ;; esac
}
bad "--grads without --targets" "--targets: --grads and --adamw-steps need the targets of the ids" \
	--ids 1,2 --grads
bad "fewer targets than ids" "--targets: 2 targets for 3 ids" --ids 1,2,3 --targets 2,3
bad "an id past the vocabulary" "--ids: id 50257 is past the vocabulary of 50257 tokens" --ids 1,50257
bad "ids that do not split into rows" "--ids: 3 ids do not split into --batch 2 rows of equal length" \
	--ids 1,2,3 --batch 2
bad "a row longer than the block" "--ids: rows of 33 ids do not fit the block size 32" \
	--ids "$(seq -s, 1 33)"
bad "a negative step count" "--adamw-steps: Value -1 not in range" --ids 1 --adamw-steps -1
finish
