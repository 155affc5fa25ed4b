# lib.sh - helpers for the CLI tests (sourced). Each test gets: $1 knlp binary,
# $2 venv python, $3 source dir; it works in a fresh temp dir removed on exit.
set -euo pipefail
KNLP=$1 PY=$2 SRC=$3
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FAILS=0

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }

# expect_exit CODE DESCRIPTION -- command...: runs it, stderr to $WORK/err.
expect_exit() {
	local want=$1 what=$2
	shift 3
	local got=0
	"$@" >"$WORK/out" 2>"$WORK/err" || got=$?
	if [ "$got" -eq "$want" ]; then pass "$what (exit $got)"; else
		fail "$what: exit $got, expected $want"; cat "$WORK/err"; fi
}

# expect_stderr TEXT: the last command's stderr holds TEXT verbatim.
expect_stderr() {
	if grep -qF -- "$1" "$WORK/err"; then pass "stderr: $1"; else
		fail "stderr lacks: $1"; echo "--- stderr was:"; cat "$WORK/err"; fi
}

# json FILE EXPR: evaluates a python expression on the parsed JSON as `m`.
json() { "$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); print($2)" "$1"; }

# make_config OUT [DEFCONFIG]: a .config from DEFCONFIG (default
# tests/cli/tiny-lenet5.defconfig) via kconfiglib.
make_config() {
	local defconfig=${2:-tests/cli/tiny-lenet5.defconfig}
	case $defconfig in /*) ;; *) defconfig=$SRC/$defconfig ;; esac
	(cd "$SRC" && KCONFIG_CONFIG="$1" "$PY" scripts/kconfig.py defconfig "$defconfig" >/dev/null)
}

# train_sentence_gpt2 STEPS: trains a tiny byte-level GPT-2 (2 layers, 64 wide,
# block 32) for STEPS steps on "The kernel schedules tasks. " repeated, into
# $WORK/run.
train_sentence_gpt2() {
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
CONFIG_GPT2_MAX_ITERS=$1
CONFIG_GPT2_WARMUP_STEPS=10
CONFIG_GPT2_EVAL_INTERVAL=$1
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
}

finish() {
	if [ "$FAILS" -eq 0 ]; then echo "all checks passed"; exit 0; fi
	echo "$FAILS checks failed"; exit 1
}
