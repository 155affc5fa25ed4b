#!/usr/bin/env bash
# matrix_cli.sh KNLP PYTHON SRC - the test matrix from the command line: `knlp
# matrix plan` of a defconfig, the refusals (a matrix given to `knlp run`, a
# continue with no matrix), and Kconfig rejecting a combination it cannot run.
set -euo pipefail
knlp=$1 py=$2 src=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cd "$src"
KCONFIG_CONFIG=$tmp/smoke.config "$py" scripts/kconfig.py defconfig defconfigs/lenet5-matrix-smoke >/dev/null
grep -qx 'CONFIG_MATRIX=y' "$tmp/smoke.config" || fail "smoke defconfig is not a matrix"

# plan: count and names in run order, nothing written
out=$("$knlp" matrix plan --config "$tmp/smoke.config" --set OUTPUT_DIR="$tmp/results")
echo "$out"
grep -q 'plan: 4 runs, 1 at a time' <<<"$out" || fail "plan count"
names=$(sed -n 's/.*  [0-9]  \(lenet5_.*\)$/\1/p' <<<"$out" | tr '\n' ' ')
[ "$names" = "lenet5_sgd_none_seed1 lenet5_adamw_none_seed1 lenet5_sgd_none_seed2 lenet5_adamw_none_seed2 " ] ||
	fail "plan names: $names"
[ ! -e "$tmp/results" ] || fail "plan wrote $tmp/results"

# `knlp run` refuses a matrix .config (exit 2, one line naming it)
set +e
err=$("$knlp" run --config "$tmp/smoke.config" 2>&1 >/dev/null); rc=$?
set -e
[ $rc -eq 2 ] || fail "knlp run on a matrix exited $rc"
grep -q "CONFIG_MATRIX: $tmp/smoke.config is a test matrix, not one run" <<<"$err" || fail "run: $err"

# continue with no matrix to continue
echo "CONFIG_OUTPUT_DIR=\"$tmp/results\"" >"$tmp/out.config"
set +e
err=$("$knlp" matrix continue --config "$tmp/out.config" 2>&1 >/dev/null); rc=$?
set -e
[ $rc -eq 2 ] || fail "continue without a matrix exited $rc"
grep -q "$tmp/results: no test matrix here" <<<"$err" || fail "continue: $err"

# Kconfig decides which combinations are runs: sgd cannot state-prune.
echo '[[["OPTIMIZER_MODE_SINGLE","y"],["OPTIMIZER_SELECT_SGD","y"],["PRUNING_MODE_SINGLE","y"],["PRUNING_SELECT_STATE","y"]]]' >"$tmp/req.json"
"$py" scripts/kconfig.py expand "$tmp/smoke.config" "$tmp/req.json" >"$tmp/answer.json"
"$py" - "$tmp/answer.json" <<'PY'
import json, sys
(a,) = json.load(open(sys.argv[1]))
assert [d[0] for d in a["dropped"]] == ["PRUNING_SELECT_STATE"], a["dropped"]
assert "unmet dependency" in a["dropped"][0][2], a["dropped"]
assert "CONFIG_OPTIMIZER_SELECT_SGD=y" in a["config"].splitlines()
PY
echo "matrix_cli: ok"
