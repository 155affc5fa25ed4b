#!/usr/bin/env bash
# A run stopped by Ctrl-C (SIGINT) or killed outright (SIGKILL) resumes with
# `knlp run --resume` and ends with the same metrics as an uninterrupted run.
. "$(dirname "$0")/lib.sh"

"$PY" "$SRC/tests/cli/make_tiny_mnist.py" "$WORK/data" 12000 300
make_config "$WORK/.config"
COMMON=(--config "$WORK/.config" --set "DATA_DIR=$WORK/data" --set NUM_EPOCHS=3 --quiet --no-plot)

"$KNLP" run "${COMMON[@]}" --run-dir "$WORK/straight" >/dev/null 2>&1

# evals_equal A B: epoch metrics identical (timings aside).
evals_equal() {
	"$PY" - "$1/metrics.json" "$2/metrics.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
keys = ("epoch", "step", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss",
        "test_accuracy")
sys.exit(0 if [[e.get(k) for k in keys] for e in a["eval"]] == [[e.get(k) for k in keys] for e in b["eval"]] else 1)
PY
}

# interrupt SIGNAL DIR: starts a run, sends SIGNAL once it has taken a few
# checkpointed steps, waits for it to stop.
interrupt() {
	"$KNLP" run "${COMMON[@]}" --run-dir "$2" >/dev/null 2>&1 &
	local pid=$!
	for _ in $(seq 600); do
		[ -e "$2/last/DONE" ] && break
		sleep 0.05
	done
	sleep 0.3
	kill -s "$1" "$pid" 2>/dev/null || true
	wait "$pid" || true
}

for sig in INT KILL; do
	dir="$WORK/cut-$sig"
	interrupt "$sig" "$dir"
	status=$(cat "$dir/status")
	case "$sig:$status" in
		INT:"failed: interrupted at step "*) pass "SIGINT leaves status '$status'" ;;
		KILL:running) pass "SIGKILL leaves status 'running'" ;;
		*) fail "after SIG$sig status is '$status'" ;;
	esac
	expect_exit 0 "resume after SIG$sig" -- "$KNLP" run --resume "$dir" --quiet --no-plot
	[ "$(cat "$dir/status")" = done ] && pass "resumed run done" || fail "status $(cat "$dir/status")"
	evals_equal "$WORK/straight" "$dir" && pass "SIG$sig: resumed metrics equal the uninterrupted run" ||
		fail "SIG$sig: resumed metrics differ"
done
finish
