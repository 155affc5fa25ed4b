#!/usr/bin/env bash
# knlp end to end on a tiny generated MNIST: a run, its files, its accuracy,
# the dry run, and the errors of bad input.
. "$(dirname "$0")/lib.sh"

"$PY" "$SRC/tests/cli/make_tiny_mnist.py" "$WORK/data" 600 200
make_config "$WORK/.config"
COMMON=(--config "$WORK/.config" --set "DATA_DIR=$WORK/data" --set "OUTPUT_DIR=$WORK/results")

expect_exit 0 "knlp run trains" -- "$KNLP" run "${COMMON[@]}" --run-dir "$WORK/run" --quiet
for f in config config.hash git-revision metrics.json log.txt status curves.png last/DONE best/DONE; do
	[ -e "$WORK/run/$f" ] && pass "run has $f" || fail "run lacks $f"
done
[ "$(cat "$WORK/run/status")" = done ] && pass "status done" || fail "status: $(cat "$WORK/run/status")"
acc=$(json "$WORK/run/metrics.json" 'm["summary"]["best"]')
"$PY" -c "import sys; sys.exit(0 if float('$acc') > 30 else 1)" && pass "accuracy $acc% above chance (10%)" ||
	fail "accuracy $acc% not above chance"
grep -q "set CONFIG_OUTPUT_DIR=\"$WORK/results\"" "$WORK/out" && pass "--set is echoed" || fail "--set not echoed"
[ "$(json "$WORK/run/metrics.json" 'len(m["eval"])')" = 3 ] && pass "step 0 and 2 epochs evaluated" || fail "eval count"
[ "$(json "$WORK/run/metrics.json" 'm["metric"] + " " + m["test_metric"]')" = "val_accuracy test_accuracy" ] &&
	pass "selected on validation, test reported" || fail "metric names"

expect_exit 0 "knlp check passes" -- "$KNLP" check "${COMMON[@]}"
grep -q "memory estimate" "$WORK/out" && grep -q "61750 parameters" "$WORK/out" && pass "check reports size and memory" ||
	fail "check output: $(cat "$WORK/out")"

printf 'CONFIG_NUM_EPOCHS=3\nCONFIG_NUM_EPOCHS=0\n' >"$WORK/bad.config"
expect_exit 2 "out-of-range value" -- "$KNLP" run --config "$WORK/bad.config"
expect_stderr "knlp: error: $WORK/bad.config:2: CONFIG_NUM_EPOCHS: 0 is out of range; accepted: 1..1000"

expect_exit 2 "unknown --set symbol" -- "$KNLP" run "${COMMON[@]}" --set NUM_EPOCH=2
expect_stderr "knlp: error: --set: CONFIG_NUM_EPOCH: not declared in Kconfig"

expect_exit 2 "missing .config" -- "$KNLP" run --config "$WORK/nope"
expect_stderr "knlp: error: "
expect_stderr "no such file; create one with 'make defconfig-<name>' or 'make menuconfig'"

expect_exit 2 "missing dataset" -- "$KNLP" run "${COMMON[@]}" --set "DATA_DIR=$WORK/empty"
expect_stderr "missing idx file"

expect_exit 2 "bad float" -- "$KNLP" check "${COMMON[@]}" --set LEARNING_RATE=fast
expect_stderr "CONFIG_LEARNING_RATE: 'fast' is not a number"

expect_exit 0 "knlp --help" -- "$KNLP" --help
grep -q "run" "$WORK/out" && grep -q "check" "$WORK/out" && pass "--help lists subcommands" || fail "--help"
expect_exit 0 "knlp run --help" -- "$KNLP" run --help
grep -q -- "--resume" "$WORK/out" && pass "run --help lists --resume" || fail "run --help"
expect_exit 2 "unknown subcommand" -- "$KNLP" frobnicate

finish
