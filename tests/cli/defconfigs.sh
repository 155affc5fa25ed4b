#!/usr/bin/env bash
# Every preset in defconfigs/ loads without dropped lines and passes the dry run
# (`knlp check`: model, optimizer, one step on a tiny CPU batch); the defconfig
# loader reports each line Kconfig drops, with the reason.
. "$(dirname "$0")/lib.sh"

cd "$SRC"
for d in defconfigs/*; do
	name=$(basename "$d")
	head -1 "$d" | grep -q '^# ' || fail "$name: first line is not a '# what it is for' comment"
	KCONFIG_CONFIG="$WORK/$name.config" "$PY" scripts/kconfig.py defconfig "$d" >"$WORK/out" 2>&1
	if grep -q DROPPED "$WORK/out"; then fail "$name drops lines:"; cat "$WORK/out"; else pass "$name loads"; fi
	if grep -q '^CONFIG_[A-Z]*_MODE_MULTIPLE=y\|^CONFIG_MATRIX_SEEDS="[^"]' "$WORK/$name.config"; then
		expect_exit 0 "knlp matrix check $name" -- "$KNLP" matrix check --config "$WORK/$name.config"
	else
		expect_exit 0 "knlp check $name" -- "$KNLP" check --config "$WORK/$name.config" --set DEVICE=cpu
	fi
done

# One line of each kind Kconfig drops, and the reason the loader gives.
cat >"$WORK/odd" <<'DEF'
# a defconfig with one line of each kind Kconfig drops
CONFIG_HYPER_PARAM_AUTO=y
CONFIG_NUM_EPOCHS=5000
CONFIG_SGD_MOMENTUM="0.5"
CONFIG_MODEL="resnet99"
CONFIG_BATCH_SIZE=64
DEF
KCONFIG_CONFIG="$WORK/odd.config" "$PY" scripts/kconfig.py defconfig "$WORK/odd" >"$WORK/out" 2>&1
for want in \
	"odd:2: CONFIG_HYPER_PARAM_AUTO=y: undeclared symbol (not in Kconfig)" \
	"odd:3: CONFIG_NUM_EPOCHS=5000: out of range 1..1000; kept 10" \
	"odd:4: CONFIG_SGD_MOMENTUM=\"0.5\": unmet dependency (OPTIMIZER_ENABLED_SGD)" \
	"odd:5: CONFIG_MODEL=\"resnet99\": hidden symbol, computed by Kconfig; kept lenet5" \
	"(4 lines dropped)"; do
	grep -qF -- "$want" "$WORK/out" && pass "reports: $want" || { fail "missing report: $want"; cat "$WORK/out"; }
done
grep -q "^CONFIG_BATCH_SIZE=64$" "$WORK/odd.config" && pass "kept lines are applied" || fail "BATCH_SIZE=64 lost"

# savedefconfig writes the minimal config that loads back to the same .config.
KCONFIG_CONFIG="$WORK/odd.config" "$PY" scripts/kconfig.py savedefconfig "$WORK/min" >/dev/null
KCONFIG_CONFIG="$WORK/again.config" "$PY" scripts/kconfig.py defconfig "$WORK/min" >/dev/null
diff -q "$WORK/odd.config" "$WORK/again.config" >/dev/null && pass "savedefconfig round trip" || fail "savedefconfig round trip"
finish
